"""The fault matrix as a table: fault -> result -> requests sent -> waits -> wall time.

Runs every row of ``tests/unit/hooks/test_fault_matrix.py`` (the same cases, the same runner)
against an offline sandbox on 127.0.0.1, each through a fresh CoinStatsHook with the default
retry policy: 3 retries, full-jitter backoff from 0.5 s doubling to an 8 s cap, Retry-After
honoured up to 60 s, no wait started that would end past the call's 120 s. As in the tests, the
wall clock is frozen.

A second table meets the hostile servers of ``tests/unit/api/hostile.py``: a trickling body, an
endless one, a gzip bomb, 200 MB bodies, deeply nested JSON (200/401/500), huge integers and a
key echoed back. Size rows run the client in a child process and report its peak RSS growth.

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

import json
import time
from collections.abc import Callable
from typing import Any

import pendulum

from airflow_provider_coinstats.api.retry import RetryPolicy
from airflow_provider_coinstats.exceptions import CoinStatsError
from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook
from airflow_provider_coinstats.testing.retries import record_retry_waits
from airflow_provider_coinstats.testing.sandbox import Sandbox
from tests.conftest import TEST_KEY, connection_json
from tests.unit.api import hostile
from tests.unit.api.hostile import HostileServer
from tests.unit.api.test_hostile_servers import (
    DEEP,
    ECHOES,
    NUMBERS,
    ODD_KEY,
    MiB,
    client_on,
    leaked,
    run_in_child,
    texts_of,
)
from tests.unit.hooks.test_fault_matrix import (
    CASES,
    FROZEN,
    Case,
    Outcome,
    error_texts,
    run_case,
)

HOSTILE_CONN = "coinstats_bench_hostile"


def as_expected(case: Case, outcome: Outcome) -> bool:
    error_ok = (
        outcome.error is None
        if case.error is None
        else type(outcome.error) is case.error and outcome.error.status_code == case.status
    )
    waits_ok = case.waits is None or [round(w, 3) for w in outcome.waits] == list(case.waits)
    return error_ok and waits_ok and outcome.requests == case.requests


def hook_on(url: str, key: str = TEST_KEY, **extra: object) -> CoinStatsHook:
    os.environ[f"AIRFLOW_CONN_{HOSTILE_CONN.upper()}"] = connection_json(url, key, **extra)
    return CoinStatsHook(coinstats_conn_id=HOSTILE_CONN)


#: One hostile row: (what the server does, the behaviour, how the client is called, the key).
#: The call gets the server's URL and returns what it returned (or raises).
HostileRow = tuple[str, hostile.Behaviour, Callable[[str], object], str]


def _hostile_rows() -> list[HostileRow]:
    body_96 = json.dumps(hostile.usage_body()).encode().ljust(96)

    def total_bound(url: str) -> object:
        client = client_on(url, timeout=1.0, max_retries=10, total_timeout=2.5)
        client.retry = RetryPolicy(max_retries=10, random=lambda: 0.0)
        return client.get_credit_usage()

    rows: list[HostileRow] = [
        (
            "trickle 1 B / 0.5 s (96 B), timeout 2 s, no retries",
            hostile.trickle(body_96),
            lambda url: hook_on(url, timeout=2, max_retries=0).get_credit_usage(),
            TEST_KEY,
        ),
        (
            "trickle, timeout 1 s, 10 retries, total_timeout 2.5 s",
            hostile.trickle(body_96),
            total_bound,
            TEST_KEY,
        ),
        (
            "silent server, timeout 1 s, no retries",
            hostile.silent(),
            lambda url: hook_on(url, timeout=1, max_retries=0).get_credit_usage(),
            TEST_KEY,
        ),
        (
            "HTTP 500, endless error body",
            hostile.endless(status=500),
            lambda url: hook_on(url, max_retries=0).get_credit_usage(),
            TEST_KEY,
        ),
    ]
    for status in (200, 401, 500):
        rows.append(
            (
                f"HTTP {status}, JSON 1,000 levels deep (2 KB)",
                hostile.answer(status, DEEP),
                lambda url: hook_on(url, timeout=5).get_credit_usage(),
                TEST_KEY,
            )
        )
    for name, body in NUMBERS.items():
        rows.append(
            (
                f"HTTP 200, {name}",
                hostile.answer(200, body),
                lambda url: hook_on(url, timeout=5).get_credit_usage(),
                TEST_KEY,
            )
        )
    for name, (behaviour, _) in ECHOES.items():
        rows.append(
            (
                f"key echoed: {name}",
                behaviour,
                lambda url: hook_on(url, key=ODD_KEY, timeout=5).get_credit_usage(),
                ODD_KEY,
            )
        )
    return rows


SIZE_ROWS: dict[str, hostile.Behaviour] = {
    "gzip 1 MB on the wire -> 1 GiB decoded": hostile.gzip_bomb(1024),
    "endless chunked body": hostile.endless(),
    "200 MB plain body (Content-Length)": hostile.big_body(200 * MiB),
    "200 MB plain body (no Content-Length)": hostile.big_body(200 * MiB, declared=False),
}


def hostile_table() -> tuple[list[tuple[str, ...]], bool]:
    """The hostile rows: (fault, result, requests, wall s, peak RSS growth, key leaked)."""
    rows: list[tuple[str, ...]] = []
    any_leak = False
    for fault, behaviour, run, key in _hostile_rows():
        with HostileServer(behaviour) as server, record_retry_waits(sleep=True):
            start = time.monotonic()
            value: Any = None
            error: CoinStatsError | None = None
            try:
                value = run(server.url)
            except CoinStatsError as caught:
                error = caught
            seconds = time.monotonic() - start
            server.wait_until_closed()
        shown = texts_of(error) + repr(value)
        leak = bool(leaked(shown, key))
        any_leak |= leak
        shown_value = f"subscription {value.subscription!r}" if value is not None else ""
        result = type(error).__name__ if error else f"ok ({shown_value})"
        if error is not None and error.status_code is not None:
            result += f" ({error.status_code})"
        rows.append((fault, result, str(server.count), f"{seconds:.2f}", "-", str(leak)))
    for fault, behaviour in SIZE_ROWS.items():
        with HostileServer(behaviour) as server:
            outcome = run_in_child(server.url)
            server.wait_until_closed()
        leak = bool(leaked(outcome["message"]))
        any_leak |= leak
        grew = f"+{outcome['rss_grew_kib'] / 1024:.1f} MiB (cap 10 MiB)"
        rows.append(
            (
                fault,
                str(outcome["error"]),
                str(server.count),
                f"{outcome['seconds']:.2f}",
                grew,
                str(leak),
            )
        )
    return rows, any_leak


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sleep", action="store_true", help="sleep the retry waits for real")
    parser.add_argument("--quick", action="store_true", help="the default run (waits not slept)")
    args = parser.parse_args()
    if args.quick:
        args.sleep = False

    rows: list[tuple[str, str, str, str, str, str]] = []
    all_good, hung, key_leaked = True, False, False
    with (
        Sandbox(api_key=TEST_KEY) as sandbox,
        pendulum.travel_to(pendulum.instance(FROZEN), freeze=True),
    ):
        for case in CASES:
            outcome = run_case(case, sandbox, real_sleep=args.sleep)
            good = as_expected(case, outcome)
            all_good &= good
            hung |= outcome.seconds > outcome.bound
            key_leaked |= TEST_KEY in error_texts(outcome.error)
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
    print_table(header, [tuple(row) for row in rows])
    mode = "slept for real" if args.sleep else "recorded, not slept"
    print(
        f"\n{len(rows)} faults; retry waits {mode}; as expected: {all_good}; "
        f"over timeout x attempts: {hung}; key in an error: {key_leaked}\n"
    )
    hostile_rows, hostile_leak = hostile_table()
    print_table(
        ("hostile server", "result", "requests", "wall (s)", "peak RSS", "key leaked"),
        hostile_rows,
    )
    print(f"\n{len(hostile_rows)} hostile servers (retry waits slept); key leaked: {hostile_leak}")
    return 0 if all_good and not hung and not key_leaked and not hostile_leak else 1


if __name__ == "__main__":
    sys.exit(main())
