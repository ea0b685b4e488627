"""Screenshot the CoinStats credits page inside the Airflow UI (docs/images/credits-page.png).

Starts ``scripts/demo_credits_page.py`` (examples against the sandbox, then the UI) unless
``--url`` points at one already running, opens Browse > CoinStats credits in Debian's chromium
through Playwright, and writes the screenshot. Needs ``pip install playwright`` and
``/usr/bin/chromium`` (``apt-get install chromium``); Playwright's own browser download is not
used.

    .venv/bin/python scripts/screenshot-credits-page.py [--url http://127.0.0.1:8080] [--out PATH]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="a running demo's UI; default: start the demo")
    parser.add_argument("--port", type=int, default=28080, help="port for the demo it starts")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/images/credits-page.png")
    parser.add_argument("--dag-out", type=Path, default=ROOT / "docs/images/credits-page-dag.png")
    args = parser.parse_args()
    if args.url:
        shoot(args.url, args.out, args.dag_out)
        return 0
    demo = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts/demo_credits_page.py"), "--port", str(args.port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            print(line, end="", flush=True)
            match = re.search(r"open (http://127\.0\.0\.1:\d+)", line)
            if match:
                shoot(match.group(1), args.out, args.dag_out)
                return 0
        raise SystemExit(f"the demo stopped (exit code {demo.wait()}) before serving the UI")
    finally:
        demo.terminate()
        demo.wait(timeout=60)


def shoot(base: str, out: Path, dag_out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1500})
            page.goto(f"{base}/plugin/coinstats-credits", timeout=180_000)
            frame = page.frame_locator("iframe").first
            frame.locator("h1", has_text="CoinStats credits").wait_for(timeout=180_000)
            frame.locator("svg.chart.remaining").first.wait_for(timeout=60_000)
            time.sleep(1)  # let the UI's own fonts and nav settle before the picture
            page.screenshot(path=str(out))
            print(f"wrote {out}")
            page.goto(
                f"{base}/dags/example_coinstats_market_pull/plugin/coinstats-credits-dag",
                timeout=180_000,
            )
            page.frame_locator("iframe").first.locator("h1").wait_for(timeout=180_000)
            time.sleep(1)
            page.screenshot(path=str(dag_out))
            print(f"wrote {dag_out}")
        finally:
            browser.close()


if __name__ == "__main__":
    sys.exit(main())
