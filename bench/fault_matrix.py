"""The fault matrix as a table: fault -> result -> requests sent -> waits -> wall time.

Runs every row of ``tests/unit/test_fault_matrix.py`` (the same cases, the same runner) against
an offline sandbox on 127.0.0.1, each through a fresh CoinStatsHook with the default retry
policy: 3 retries, full-jitter backoff from 0.5 s doubling to an 8 s cap, Retry-After honoured
up to 60 s, no retry started after 120 s. As in the tests, the wall clock is frozen.

    .venv/bin/python bench/fault_matrix.py           # waits recorded but not slept: seconds
    .venv/bin/python bench/fault_matrix.py --sleep   # waits slept for real: about two minutes

Without ``--sleep`` the wall time is the time spent on the wire (timeouts included); the waits
column says what a real run adds. Exits 1 if any row differs from what the tests expect.
Talks only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

# Airflow reads its home when first imported; never touch ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="coinstats-bench-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pendulum

from airflow_provider_coinstats.testing.sandbox import Sandbox
from tests.conftest import TEST_KEY
from tests.unit.hooks.test_fault_matrix import (
    CASES,
    FROZEN,
    Case,
    Outcome,
    error_texts,
    run_case,
)


def as_expected(case: Case, outcome: Outcome) -> bool:
    error_ok = (
        outcome.error is None
        if case.error is None
        else type(outcome.error) is case.error and outcome.error.status_code == case.status
    )
    waits_ok = case.waits is None or [round(w, 3) for w in outcome.waits] == list(case.waits)
    return error_ok and waits_ok and outcome.requests == case.requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sleep", action="store_true", help="sleep the retry waits for real")
    args = parser.parse_args()

    rows: list[tuple[str, str, str, str, str, str]] = []
    all_good, hung, leaked = True, False, False
    with (
        Sandbox(api_key=TEST_KEY) as sandbox,
        pendulum.travel_to(pendulum.instance(FROZEN), freeze=True),
    ):
        for case in CASES:
            outcome = run_case(case, sandbox, real_sleep=args.sleep)
            good = as_expected(case, outcome)
            all_good &= good
            hung |= outcome.seconds > outcome.bound
            leaked |= TEST_KEY in error_texts(outcome.error)
            result = "ok" if outcome.error is None else type(outcome.error).__name__
            if outcome.error is not None and outcome.error.status_code is not None:
                result += f" ({outcome.error.status_code})"
            waits = " + ".join(f"{w:.2f}" for w in outcome.waits) or "-"
            rows.append(
                (
                    case.fault,
                    result,
                    str(outcome.requests),
                    waits,
                    f"{outcome.seconds:.3f}",
                    "yes" if good else "NO",
                )
            )

    header = ("fault", "result", "requests", "waits (s)", "wall (s)", "as expected")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    mode = "slept for real" if args.sleep else "recorded, not slept"
    print(
        f"\n{len(rows)} faults; retry waits {mode}; as expected: {all_good}; "
        f"over timeout x attempts: {hung}; key in an error: {leaked}"
    )
    return 0 if all_good and not hung and not leaked else 1


if __name__ == "__main__":
    sys.exit(main())
