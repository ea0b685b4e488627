"""How many credit requests do N waiting CreditBudgetTriggers cost?

Runs 1, 100 and 1,000 triggers in one event loop (as one triggerer would) against an offline
sandbox on 127.0.0.1, all waiting on a budget the account cannot meet. Once every poller has made
the same number of waiting readings, the sandbox frees the credits, every trigger fires on the
next reading, and the table shows the ``/usage/credits`` requests the sandbox saw. For comparison
the same triggers run with one connection each, so that nothing is shared: what N gates cost when
every trigger polls on its own.

    .venv/bin/python bench/trigger_fanout.py [--intervals 5] [--interval 0.2]

Talks only to 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Airflow reads its home when first imported; never touch ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="coinstats-bench-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# One "waiting: ..." line per trigger per interval would drown the table.
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_provider_coinstats.testing.sandbox import Sandbox
from airflow_provider_coinstats.triggers.coinstats import CreditBudgetTrigger

KEY = "bench-key-0123456789"
CREDITS = "/usage/credits"
COUNTS = (1, 100, 1_000)


@dataclass
class Run:
    triggers: int
    shared: bool
    requests: int
    fired: int
    seconds: float


def connection(url: str) -> str:
    return json.dumps(
        {
            "conn_type": "coinstats",
            "host": url,
            "password": KEY,
            "extra": {"requests_per_second": 10_000, "max_retries": 0},
        }
    )


async def measure(
    box: Sandbox, count: int, *, shared: bool, intervals: int, interval: float
) -> Run:
    box.set_credits(used=box.usage()["totalCredits"])  # nothing left: every gate waits
    box.clear_requests()
    conn_ids = [("bench_shared" if shared else f"bench_{n}") for n in range(count)]
    for conn_id in set(conn_ids):
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = connection(box.url)

    async def wait_for_event(conn_id: str) -> str:
        gate = CreditBudgetTrigger(
            coinstats_conn_id=conn_id, poke_interval=interval, required_credits=1
        )
        async for event in gate.run():
            return str(event.payload["status"])
        return "no event"

    started = time.monotonic()
    gates = [asyncio.create_task(wait_for_event(conn_id)) for conn_id in conn_ids]
    # Let every poller make `intervals` waiting readings, then free the credits: the next
    # reading lets every gate pass. (Counted, not timed: a slow loop only stretches the run.)
    pollers = len(set(conn_ids))
    while box.count(path=CREDITS) < intervals * pollers:
        await asyncio.sleep(0.005)
    box.set_credits(used=0)
    statuses = await asyncio.wait_for(asyncio.gather(*gates), timeout=600)
    seconds = time.monotonic() - started
    for conn_id in set(conn_ids):
        del os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"]
    return Run(count, shared, box.count(path=CREDITS), statuses.count("success"), seconds)


async def main(intervals: int, interval: float) -> list[Run]:
    runs = []
    with Sandbox(api_key=KEY, total_credits=100_000, used_credits=0) as box:
        for count in COUNTS:
            for shared in (True, False):
                runs.append(
                    await measure(box, count, shared=shared, intervals=intervals, interval=interval)
                )
    return runs


def table(runs: list[Run], intervals: int, interval: float) -> str:
    ideal = (intervals + 1) * interval  # the first check one interval after the start
    lines = [
        f"Every poller makes {intervals} waiting readings {interval:g} s apart, then the credits "
        f"are freed and the next reading lets every gate pass: {intervals + 1} readings per "
        f"poller, {ideal:g} s on schedule.",
        "",
        "| waiting triggers | pollers | credit requests | per trigger | all fired | wall s |",
        "|---:|---|---:|---:|---|---:|",
    ]
    for run in runs:
        pollers = "1 (shared: one connection)" if run.shared else f"{run.triggers:,} (one each)"
        fired = "yes" if run.fired == run.triggers else f"{run.fired:,} of {run.triggers:,}"
        lines.append(
            f"| {run.triggers:,} | {pollers} | {run.requests:,} "
            f"| {run.requests / run.triggers:.3f} | {fired} | {run.seconds:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--intervals", type=int, default=5, help="poke intervals to wait")
    parser.add_argument("--interval", type=float, default=0.2, help="poke interval, seconds")
    parser.add_argument("--quick", action="store_true", help="1 and 10 triggers, 2 intervals")
    args = parser.parse_args()
    if args.quick:
        COUNTS, args.intervals = (1, 10), 2
    results = asyncio.run(main(args.intervals, args.interval))
    print(table(results, args.intervals, args.interval))
