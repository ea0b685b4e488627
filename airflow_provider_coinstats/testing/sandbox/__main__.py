"""Run a CoinStats sandbox from the command line until SIGINT or SIGTERM.

::

    python -m airflow_provider_coinstats.testing.sandbox --port 8765 --total 100000 --used 45000

It prints one line with its URL (so a script can read it) and serves until stopped.
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import TYPE_CHECKING

from airflow_provider_coinstats.testing.sandbox.server import Sandbox

if TYPE_CHECKING:
    from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_coinstats.testing.sandbox",
        description="Serve an offline CoinStats API on 127.0.0.1 (charges credits like the real "
        "one; control it under /_sandbox/).",
    )
    parser.add_argument("--port", type=int, default=8765, help="TCP port; 0 picks a free one")
    parser.add_argument("--plan", default="PRO", help="subscription name /usage/credits reports")
    parser.add_argument("--total", type=int, default=100_000, help="credits in the period")
    parser.add_argument("--used", type=int, default=45_000, help="credits already used")
    parser.add_argument("--api-key", default="sandbox-key", help="the key clients must send")
    parser.add_argument(
        "--rate-limit", type=float, default=None, metavar="N", help="429 past N requests a second"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    sandbox = Sandbox(
        api_key=args.api_key,
        plan=args.plan,
        total_credits=args.total,
        used_credits=args.used,
        port=args.port,
        rate_limit_per_second=args.rate_limit,
    )
    with sandbox:
        usage = sandbox.usage()
        print(
            f"CoinStats sandbox listening on {sandbox.url} (plan {usage['subscription']}, "
            f"{usage['remainingCredits']:,} of {usage['totalCredits']:,} credits left)",
            flush=True,  # a parent process reads this line to learn the URL
        )
        # Short waits, so the signal handler's stop.set() is seen promptly.
        while not stop.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
