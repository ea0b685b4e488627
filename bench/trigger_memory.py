"""Triggerer memory per parked gate: 1,000 CreditBudgetTriggers against 1,000 HttpSensorTriggers.

Each measurement is a fresh process that, like a triggerer, runs N triggers as tasks of one
event loop. It warms up (one trigger of its kind runs one check, so every module is loaded),
reads its resident set size (``VmRSS``), creates and starts N triggers, waits until the sandbox
has seen them poll (ours: the shared reading; theirs: one request from each), reads ``VmRSS``
again while all N are parked in their sleep, and cancels them. The sandbox runs in a process
of its own, so its memory is not counted.

Ours wait on a budget the account cannot meet (no credits left); ``HttpSensorTrigger`` is kept
waiting by a 404, the only answer it waits on (see ``bench/vs_http_provider.py``).

    .venv/bin/python bench/trigger_memory.py            # N = 1,000, 3 repeats, ~1 min
    .venv/bin/python bench/trigger_memory.py --quick    # N = 20, 1 repeat

Talks only to 127.0.0.1; stops the sandbox it started, also on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KEY = "bench-key-0123456789"
CREDITS = "/usage/credits"
POKE_INTERVAL = 2.0


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def make_trigger(side: str) -> Any:
    if side == "ours":
        from airflow_provider_coinstats.triggers.coinstats import CreditBudgetTrigger

        return CreditBudgetTrigger(
            coinstats_conn_id="bench_ours", poke_interval=POKE_INTERVAL, required_credits=1
        )
    from airflow.providers.http.triggers.http import HttpSensorTrigger

    return HttpSensorTrigger(
        endpoint=CREDITS, http_conn_id="bench_http", method="GET", poke_interval=POKE_INTERVAL
    )


async def park(side: str, count: int, url: str) -> dict[str, Any]:
    from airflow_provider_coinstats.testing.sandbox import SandboxControl

    control = SandboxControl(url)

    async def first_event(trigger: Any) -> None:
        async for _ in trigger.run():
            return

    async def polled(at_least: int, deadline: float) -> None:
        """Wait until the sandbox has answered ``at_least`` requests (observed, not timed)."""
        while (await asyncio.to_thread(control.state))["requestCount"] < at_least:
            if time.monotonic() > deadline:
                raise SystemExit(f"{side}: the sandbox saw too few requests in time")
            await asyncio.sleep(0.05)

    # Warm-up: one trigger makes one check, so aiohttp, requests and our modules are loaded.
    control.clear_requests()
    warm = asyncio.create_task(first_event(make_trigger(side)))
    await polled(1, time.monotonic() + 120)
    warm.cancel()
    await asyncio.gather(warm, return_exceptions=True)
    gc.collect()
    before = rss_bytes()

    control.clear_requests()
    tasks = [asyncio.create_task(first_event(make_trigger(side))) for _ in range(count)]
    # Ours share one reading per interval; theirs send one request each before they sleep.
    await polled(1 if side == "ours" else count, time.monotonic() + 300)
    await asyncio.sleep(0.2)  # the last answers are read and every trigger is back asleep
    after = rss_bytes()
    parked = sum(not task.done() for task in tasks)
    requests = (await asyncio.to_thread(control.state))["requestCount"]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"before": before, "after": after, "parked": parked, "requests": requests}


def child(side: str, count: int, url: str) -> None:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="coinstats-bench-")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "CRITICAL"  # one line per poll otherwise
    os.environ["AIRFLOW_CONN_BENCH_OURS"] = json.dumps(
        {
            "conn_type": "coinstats",
            "host": url,
            "password": KEY,
            "extra": {"requests_per_second": 10_000},
        }
    )
    os.environ["AIRFLOW_CONN_BENCH_HTTP"] = json.dumps(
        {"conn_type": "http", "host": url, "extra": {"X-API-KEY": KEY}}
    )
    print(json.dumps(asyncio.run(park(side, count, url))))


def start_sandbox() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_coinstats.testing.sandbox",
            "--port",
            "0",
            "--api-key",
            KEY,
            "--total",
            "100000",
            "--used",
            "100000",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # "CoinStats sandbox listening on http://127.0.0.1:PORT ..."
    words = [w for w in line.split() if w.startswith("http://127.0.0.1:")]
    if not words:
        process.terminate()
        raise SystemExit(f"the sandbox did not start: {line!r}")
    return process, words[0]


def main(count: int, repeats: int) -> str:
    from airflow_provider_coinstats.testing.sandbox import Fault, SandboxControl

    sandbox, url = start_sandbox()
    results: dict[str, list[dict[str, Any]]] = {"ours": [], "theirs": []}
    try:
        control = SandboxControl(url)
        for _ in range(repeats):
            for side in ("ours", "theirs"):
                control.clear_faults()
                if side == "theirs":
                    control.inject(Fault(kind="status", status=404, path=CREDITS, times=None))
                run = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        side,
                        "--count",
                        str(count),
                        "--url",
                        url,
                    ],
                    capture_output=True,
                    text=True,
                    timeout=600,
                    cwd=ROOT,
                )
                if run.returncode:
                    raise SystemExit(f"{side} failed:\n{run.stderr[-2000:]}")
                results[side].append(json.loads(run.stdout.strip().splitlines()[-1]))
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)

    def per_gate(side: str) -> list[float]:
        return [(r["after"] - r["before"]) / count / 1024 for r in results[side]]

    lines = [
        f"{count:,} triggers parked in one event loop (poke_interval {POKE_INTERVAL:g} s), "
        f"{repeats} fresh process(es) per side; RSS growth over a warmed-up process.",
        "",
        "| triggers | parked | requests seen | RSS growth MiB (median) | KiB per gate "
        "(median, min-max) |",
        "|---|---:|---:|---:|---:|",
    ]
    names = {"ours": "CreditBudgetTrigger", "theirs": "HttpSensorTrigger (404 keeps it waiting)"}
    for side in ("ours", "theirs"):
        kib = per_gate(side)
        growth = statistics.median((r["after"] - r["before"]) / 2**20 for r in results[side])
        last = results[side][-1]
        lines.append(
            f"| {count:,} x {names[side]} | {last['parked']:,} | {last['requests']:,} "
            f"| {growth:.1f} | {statistics.median(kib):.1f} ({min(kib):.1f}-{max(kib):.1f}) |"
        )
    ours, theirs = statistics.median(per_gate("ours")), statistics.median(per_gate("theirs"))
    ratio = f"{ours / theirs:.2f}" if theirs > 0 else "-"
    lines += ["", f"Ratio ours / HttpSensorTrigger (RSS per parked gate): {ratio}"]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1_000, help="triggers per process")
    parser.add_argument("--repeats", type=int, default=3, help="processes per side")
    parser.add_argument("--quick", action="store_true", help="20 triggers, 1 repeat")
    parser.add_argument("--child", choices=("ours", "theirs"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.count, args.url)
    else:
        try:
            import airflow.providers.http  # noqa: F401
        except ImportError:
            sys.exit("needs apache-airflow-providers-http: pip install -e '.[bench]'")
        count, repeats = (20, 1) if args.quick else (args.count, args.repeats)
        if not 1 <= count <= 5_000 or not 1 <= repeats <= 20:
            parser.error("keep --count in 1..5000 and --repeats in 1..20")
        print(main(count, repeats))
