"""Run a CoinStats sandbox from the command line until SIGINT or SIGTERM.

::

    python -m airflow_provider_coinstats.testing.sandbox --port 8765 --total 100000 --used 45000

It prints one line with its URL and API key (so a script can read it) and serves until stopped.
Bad options and a port in use are one-line errors (exit status 2), never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import math
import signal
import sys
import threading
from typing import TYPE_CHECKING

from airflow_provider_coinstats.testing.sandbox.accounts import SYNC_SECONDS
from airflow_provider_coinstats.testing.sandbox.server import Sandbox

if TYPE_CHECKING:
    from collections.abc import Sequence

PROG = "python -m airflow_provider_coinstats.testing.sandbox"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)") from None
    if not 0 <= port <= 65_535:
        raise argparse.ArgumentTypeError(
            f"{port} is not a port number (0-65535; 0 picks a free one)"
        )
    return port


def _credits(text: str) -> int:
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of credits") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; credits are 0 or more")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} should be a number above 0")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Serve an offline CoinStats API on 127.0.0.1: every operation of CoinStats' "
        "OpenAPI description, charged in credits like the real one. Clients send the API key "
        "(default 'sandbox-key') as X-API-KEY or 'Authorization: Bearer'. Control it under "
        "/_sandbox/ (credits, faults, request log, clock, reset); see the README's 'The offline "
        "sandbox' section.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--port", type=_port, default=8765, help="TCP port; 0 picks a free one")
    parser.add_argument("--plan", default="PRO", help="subscription /usage/credits reports")
    parser.add_argument("--total", type=_credits, default=100_000, help="credits in the period")
    parser.add_argument("--used", type=_credits, default=45_000, help="credits already used")
    parser.add_argument("--api-key", default="sandbox-key", help="the key clients must send")
    parser.add_argument(
        "--rate-limit",
        type=_positive,
        default=None,
        metavar="N",
        help="answer 429 past N requests a second (None: no limit)",
    )
    parser.add_argument(
        "--seed", default="sandbox", help="what portfolio ids and account data derive from"
    )
    parser.add_argument(
        "--sync-seconds",
        type=_positive,
        default=SYNC_SECONDS,
        metavar="S",
        help="how long a PATCH .../sync reads 'syncing' on the sandbox clock",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.used > args.total:
        parser.error(f"--used {args.used:,} is above --total {args.total:,}")
    if not args.api_key.strip():
        parser.error("--api-key should not be empty")
    sandbox = Sandbox(
        api_key=args.api_key,
        plan=args.plan,
        total_credits=args.total,
        used_credits=args.used,
        port=args.port,
        rate_limit_per_second=args.rate_limit,
        seed=args.seed,
        sync_seconds=args.sync_seconds,
    )
    try:
        sandbox.start()
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            print(
                f"{PROG}: error: port {args.port} on 127.0.0.1 is already in use; "
                "stop what holds it, pick another --port, or use --port 0 for a free one",
                file=sys.stderr,
            )
        else:
            print(
                f"{PROG}: error: cannot listen on 127.0.0.1:{args.port}: {error}", file=sys.stderr
            )
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with sandbox:
        usage = sandbox.usage()
        print(
            f"CoinStats sandbox listening on {sandbox.url} (plan {usage['subscription']}, "
            f"{usage['remainingCredits']:,} of {usage['totalCredits']:,} credits left); "
            f"API key: {sandbox.api_key}",
            flush=True,  # a parent process reads this line to learn the URL
        )
        # Short waits, so the signal handler's stop.set() is seen promptly.
        while not stop.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
