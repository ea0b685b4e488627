"""This provider against the Airflow HTTP provider, on the same offline sandbox, in one run.

Four scenarios, each run for both sides against one CoinStats sandbox on 127.0.0.1:

1. a rejected key (401) and a forbidden endpoint (403) while one gate is deferred:
   ``CreditBudgetTrigger`` against ``HttpSensorTrigger`` on ``/usage/credits``, poke interval
   1 s, a 3 s window;
2. N = 1, 10, 100 and 1,000 deferred gates on one account, none passing, counted over 10
   intervals of 0.2 s once every poller is running: ``CreditBudgetTrigger`` x N (budget not
   met) against ``HttpSensorTrigger`` x N (kept waiting by a 404, the only answer it waits on);
3. two 503s then a 200, a 503 that never ends and a rejected key, one sync call each:
   ``CoinStatsHook.get_credit_usage()`` against ``HttpHook.run``,
   ``HttpHook.run_with_advanced_retry`` (its docstring's tenacity arguments) and
   ``HttpAsyncHook.run`` (the hook inside ``HttpSensorTrigger``);
4. the median wall time of one ``/usage/credits`` call, 200 sequential calls through each sync
   hook and through a bare ``requests.Session``, as ratios to the bare session;
5. a burst of 6 calls from one task against a sandbox limited to 2 requests a second: the 429s
   each side earns, with each side's default pacing and retries.

    .venv/bin/python bench/vs_http_provider.py          # about a minute; only 127.0.0.1
    .venv/bin/python bench/vs_http_provider.py --quick  # a smoke test: tiny N, seconds

Needs the HTTP provider: ``pip install -e '.[bench]'`` (apache-airflow-providers-http>=6.3).
Every loop is bounded in time and count; the script stops by itself and removes its
AIRFLOW_HOME.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

# Airflow reads its home when first imported; never touch ~/airflow. Removed at exit (below).
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="coinstats-bench-")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# Both sides log every failed request (HttpAsyncHook a warning each, thousands in scenario 1);
# Airflow's structlog output ignores logging.disable, so filter it by level, for both alike.
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "CRITICAL")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import requests
import tenacity
from airflow.providers.http.hooks.http import HttpAsyncHook, HttpHook
from airflow.providers.http.triggers.http import HttpSensorTrigger
from airflow.triggers.base import BaseTrigger

from airflow_provider_coinstats.exceptions import CoinStatsError
from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook
from airflow_provider_coinstats.testing.retries import record_retry_waits
from airflow_provider_coinstats.testing.sandbox import Fault, Sandbox
from airflow_provider_coinstats.triggers.coinstats import CreditBudgetTrigger

atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)

KEY = "bench-key-0123456789"
REJECTED_KEY = "revoked-key-9876543210"
CREDITS = "/usage/credits"
#: Our client's pace: high enough that pacing never decides a result here.
OURS_RPS = 10_000
#: Hard cap on requests any one measurement may cause before it is cut short.
REQUEST_CAP = 50_000


# -- connections -------------------------------------------------------------------------------


def coinstats_connection(url: str, key: str) -> dict[str, Any]:
    return {
        "conn_type": "coinstats",
        "host": url,
        "password": key,
        "extra": {"requests_per_second": OURS_RPS},  # max_retries: the default, 3
    }


def http_connection(url: str, key: str) -> dict[str, Any]:
    # HttpHook and HttpAsyncHook send the extra's non-reserved keys as request headers.
    return {"conn_type": "http", "host": url, "extra": {"X-API-KEY": key}}


@contextmanager
def connections(**conns: dict[str, Any]) -> Iterator[None]:
    """``AIRFLOW_CONN_<ID>`` variables for the block, removed afterwards."""
    names = [f"AIRFLOW_CONN_{conn_id.upper()}" for conn_id in conns]
    for name, conn in zip(names, conns.values(), strict=True):
        os.environ[name] = json.dumps(conn)
    try:
        yield
    finally:
        for name in names:
            os.environ.pop(name, None)


# -- scenarios 1 and 2: triggers in one event loop ---------------------------------------------


@dataclass
class Window:
    triggers: int
    requests: int
    ended: int
    seconds: float  # until every trigger ended, or the window closed
    events: list[Any] = field(default_factory=list)


async def run_triggers(
    box: Sandbox,
    triggers: list[BaseTrigger],
    window: float,
    *,
    stop_when_all_end: bool,
    settle: int = 0,
) -> Window:
    """Run ``triggers`` in this loop, as a triggerer would, for at most ``window`` seconds (or
    :data:`REQUEST_CAP` requests); then cancel the ones still running and count requests.

    :param settle: first wait (up to 120 s, observed) until the sandbox has answered this many
        requests, and count only the requests of the window that follows: the steady state,
        not the start-up (1,000 triggers take seconds just to open their first connections).
    """
    box.clear_requests()
    events: list[Any] = []

    async def first_event(trigger: BaseTrigger) -> None:
        stream: AsyncIterator[Any] = trigger.run()
        async for event in stream:
            events.append(event.payload)
            return

    tasks = [asyncio.create_task(first_event(trigger)) for trigger in triggers]
    settle_by = time.monotonic() + 120
    while box.count(path=CREDITS) < settle and time.monotonic() < settle_by:
        await asyncio.sleep(0.05)
    baseline = box.count(path=CREDITS) if settle else 0
    started = time.monotonic()
    deadline = started + window
    while time.monotonic() < deadline and box.count(path=CREDITS) < REQUEST_CAP:
        if stop_when_all_end and all(task.done() for task in tasks):
            break
        await asyncio.sleep(0.01)
    seconds = time.monotonic() - started
    ended = sum(task.done() and not task.cancelled() for task in tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0.05)  # requests already on the wire reach the sandbox's log
    return Window(len(triggers), box.count(path=CREDITS) - baseline, ended, seconds, events)


def scenario_rejected(box: Sandbox, window: float) -> list[tuple[str, str, Window]]:
    """One deferred gate, poke interval 1 s, against a 401 (rejected key) and a 403."""
    rows = []
    cases = [
        ("401: key rejected", REJECTED_KEY, None),
        ("403: forbidden", KEY, Fault(kind="status", status=403, path=CREDITS, times=None)),
    ]
    for label, key, fault in cases:
        box.clear_faults()
        if fault is not None:
            box.inject(fault)
        with connections(
            bench_s1_ours=coinstats_connection(box.url, key),
            bench_s1_http=http_connection(box.url, key),
        ):
            ours = CreditBudgetTrigger(
                coinstats_conn_id="bench_s1_ours", poke_interval=1.0, required_credits=1
            )
            theirs = HttpSensorTrigger(
                endpoint=CREDITS, http_conn_id="bench_s1_http", method="GET", poke_interval=1.0
            )
            for name, trigger in (("CreditBudgetTrigger", ours), ("HttpSensorTrigger", theirs)):
                result = asyncio.run(run_triggers(box, [trigger], window, stop_when_all_end=True))
                rows.append((label, name, result))
    box.clear_faults()
    return rows


def scenario_fanout(
    box: Sandbox, counts: list[int], intervals: int, interval: float
) -> list[tuple[str, Window]]:
    """Each of ``counts`` deferred gates on one account for ``intervals`` poke intervals."""
    rows = []
    for count in counts:
        rows += fanout_once(box, count, intervals, interval)
    return rows


def fanout_once(
    box: Sandbox, count: int, intervals: int, interval: float
) -> list[tuple[str, Window]]:
    """``count`` deferred gates on one account for ``intervals`` poke intervals, none passing."""
    window = intervals * interval
    rows = []
    with connections(
        bench_s2_ours=coinstats_connection(box.url, KEY),
        bench_s2_http=http_connection(box.url, KEY),
    ):
        # Ours: a budget the account cannot meet (nothing left), judged from the 200 body.
        box.clear_faults()
        box.set_credits(used=box.usage()["totalCredits"])  # type: ignore[arg-type]
        ours: list[BaseTrigger] = [
            CreditBudgetTrigger(
                coinstats_conn_id="bench_s2_ours", poke_interval=interval, required_credits=1
            )
            for _ in range(count)
        ]
        rows.append(
            (
                "CreditBudgetTrigger (budget not met)",
                asyncio.run(run_triggers(box, ours, window, stop_when_all_end=False, settle=1)),
            )
        )
        # Theirs: HttpSensorTrigger fires on any 2xx and cannot read the body, so only a 404
        # keeps it waiting (sleeping poke_interval between requests).
        box.inject(Fault(kind="status", status=404, path=CREDITS, times=None))
        theirs: list[BaseTrigger] = [
            HttpSensorTrigger(
                endpoint=CREDITS, http_conn_id="bench_s2_http", method="GET", poke_interval=interval
            )
            for _ in range(count)
        ]
        rows.append(
            (
                "HttpSensorTrigger (kept waiting by a 404)",
                asyncio.run(
                    run_triggers(box, theirs, window, stop_when_all_end=False, settle=count)
                ),
            )
        )
        box.clear_faults()
        box.set_credits(used=0)
    return rows


# -- scenario 3: one sync call, transient and permanent failures -------------------------------


@dataclass
class Call:
    requests: int
    result: str
    waits: str
    seconds: float


def describe(error: BaseException) -> str:
    if isinstance(error, tenacity.RetryError):
        last = error.last_attempt.exception()
        inner = describe(last) if last is not None else "?"
        return f"RetryError (last: {inner})"
    if isinstance(error, CoinStatsError):
        return f"{type(error).__name__}, status_code={error.status_code}"
    text = str(error).replace("|", "/")
    return f"{type(error).__name__}: '{text[:40]}'"


def measure_call(box: Sandbox, fault: Fault | None, call: Callable[[], object]) -> Call:
    box.clear_faults()
    box.clear_requests()
    if fault is not None:
        box.inject(fault)
    started = time.monotonic()
    try:
        call()
        result = "ok"
    except Exception as error:
        result = describe(error)
    seconds = time.monotonic() - started
    box.clear_faults()
    return Call(box.count(path=CREDITS), result, "", seconds)


def fmt_waits(waits: list[float], slept: bool) -> str:
    if not waits:
        return "-"
    shown = " + ".join(f"{w:.2f}" for w in waits[:4]) + (" + ..." if len(waits) > 4 else "")
    return f"{shown} = {sum(waits):.2f} s {'slept' if slept else 'recorded, not slept'}"


def ours_call(conn_id: str) -> object:
    return CoinStatsHook(conn_id).get_credit_usage()


def http_run(conn_id: str) -> object:
    return HttpHook(method="GET", http_conn_id=conn_id).run(CREDITS).json()


def http_advanced_retry(conn_id: str, waits: list[float]) -> object:
    # The docstring's arguments, plus a sleep that records tenacity's waits instead of sleeping.
    retry_args = {
        "wait": tenacity.wait_exponential(),
        "stop": tenacity.stop_after_attempt(10),
        "retry": tenacity.retry_if_exception_type(Exception),
        "sleep": waits.append,
    }
    hook = HttpHook(method="GET", http_conn_id=conn_id)
    return hook.run_with_advanced_retry(_retry_args=retry_args, endpoint=CREDITS).json()


def http_async_run(conn_id: str) -> object:
    # As HttpSensorTrigger and HttpOperator call it: inside a session, body read before it closes.
    async def call() -> object:
        async with aiohttp.ClientSession() as session:
            hook = HttpAsyncHook(method="GET", http_conn_id=conn_id)
            response = await hook.run(session=session, endpoint=CREDITS)
            return await response.json()

    return asyncio.run(call())


def scenario_retries(box: Sandbox) -> list[tuple[str, str, Call]]:
    cases: list[tuple[str, str, Fault | None]] = [
        ("503, 503, then 200", KEY, Fault(kind="status", status=503, path=CREDITS, times=2)),
        ("503 on every request", KEY, Fault(kind="status", status=503, path=CREDITS, times=None)),
        ("401: key rejected", REJECTED_KEY, None),
    ]
    rows: list[tuple[str, str, Call]] = []
    random.seed(2026)  # our backoff jitter, repeatable
    for number, (label, key, fault) in enumerate(cases):
        # A fresh connection id per case: nothing cached from the previous one.
        ours_id, http_id = f"bench_s3_ours_{number}", f"bench_s3_http_{number}"
        conns = {
            ours_id: coinstats_connection(box.url, key),
            http_id: http_connection(box.url, key),
        }
        with connections(**conns):
            with record_retry_waits() as waits:  # record our backoff, don't sleep it
                outcome = measure_call(box, fault, partial(ours_call, ours_id))
            outcome.waits = fmt_waits(waits, slept=False)
            rows.append((label, "CoinStatsHook.get_credit_usage()", outcome))

            outcome = measure_call(box, fault, partial(http_run, http_id))
            outcome.waits = "-"
            rows.append((label, "HttpHook.run", outcome))

            waits = []
            outcome = measure_call(box, fault, partial(http_advanced_retry, http_id, waits))
            outcome.waits = fmt_waits(waits, slept=False)
            rows.append((label, "HttpHook.run_with_advanced_retry", outcome))

            outcome = measure_call(box, fault, partial(http_async_run, http_id))
            # Its waits (tenacity wait_fixed(1.0) between retry_limit=3 attempts) cannot be
            # replaced from outside, so they are slept: one second per retry.
            retries = max(0, outcome.requests - 1)
            outcome.waits = fmt_waits([1.0] * retries, slept=True)
            rows.append((label, "HttpAsyncHook.run", outcome))
    return rows


# -- scenario 4: per-call overhead -------------------------------------------------------------


def scenario_overhead(box: Sandbox, calls: int) -> tuple[float, float, int, int]:
    """Median seconds per call (ours, theirs) over ``calls`` each, interleaved in rounds."""
    box.clear_faults()
    with connections(
        bench_s4_ours=coinstats_connection(box.url, KEY),
        bench_s4_http=http_connection(box.url, KEY),
    ):
        ours_hook = CoinStatsHook("bench_s4_ours")
        http_hook = HttpHook(method="GET", http_conn_id="bench_s4_http")
        session = requests.Session()  # the floor: one keep-alive session, no hook at all

        def ours() -> object:
            return ours_hook.get_credit_usage()

        def theirs() -> object:
            return http_hook.run(CREDITS).json()

        def bare() -> object:
            answer = session.get(box.url + CREDITS, headers={"X-API-KEY": KEY}, timeout=30)
            answer.raise_for_status()
            return answer.json()

        contestants = [("ours", ours), ("theirs", theirs), ("bare", bare)]
        samples: dict[str, list[float]] = {name: [] for name, _ in contestants}
        counts: dict[str, int] = dict.fromkeys(samples, 0)
        for _, call in contestants:  # warm-up: imports, first connection
            for _ in range(5):
                call()
        rounds = 4
        for index in range(rounds):
            order = contestants[index % 3 :] + contestants[: index % 3]  # rotate who goes first
            for name, call in order:
                box.clear_requests()
                for _ in range(max(1, calls // rounds)):
                    started = time.perf_counter()
                    call()
                    samples[name].append(time.perf_counter() - started)
                counts[name] += box.count(path=CREDITS)
        session.close()
    return {name: (statistics.median(samples[name]), counts[name]) for name in samples}


# -- scenario 5: a burst against CoinStats' rate limit -----------------------------------------


@dataclass
class Burst:
    calls: int
    succeeded: int
    requests: int
    rate_limited: int  # 429s the sandbox answered
    seconds: float


def scenario_burst(box: Sandbox, calls: int, per_second: float) -> list[tuple[str, Burst]]:
    """``calls`` back-to-back credit reads from one task against a rate-limited sandbox, each
    side with its defaults: ours paces (1 request a second) and retries a 429 after its
    Retry-After; ``HttpHook.run`` neither paces nor retries."""
    ours_conn = {"conn_type": "coinstats", "host": box.url, "password": KEY}  # default extras
    rows = []
    with connections(bench_s5_ours=ours_conn, bench_s5_http=http_connection(box.url, KEY)):
        sides: list[tuple[str, Callable[[], object]]] = [
            ("CoinStatsHook.get_credit_usage() (defaults)", partial(ours_call, "bench_s5_ours")),
            ("HttpHook.run(...).json()", partial(http_run, "bench_s5_http")),
        ]
        for name, call in sides:
            box.clear_faults()
            box.set_rate_limit(per_second)
            time.sleep(1.1)  # an empty rolling second: both sides start from the same state
            box.clear_requests()
            started = time.monotonic()
            succeeded = 0
            for _ in range(calls):
                try:
                    call()
                    succeeded += 1
                except Exception:
                    pass
            seconds = time.monotonic() - started
            statuses = [record.status for record in box.requests]
            rows.append(
                (name, Burst(calls, succeeded, len(statuses), statuses.count(429), seconds))
            )
        box.set_rate_limit(None)
    return rows


# -- report ------------------------------------------------------------------------------------


def report(args: argparse.Namespace) -> str:
    out: list[str] = []
    with Sandbox(api_key=KEY, total_credits=100_000, used_credits=0) as box:
        out += [
            f"## 1. One deferred gate, poke_interval 1 s, {args.window:g} s window",
            "",
            "| sandbox answers | trigger | requests | ended by itself | seconds | event |",
            "|---|---|---:|---|---:|---|",
        ]
        for label, name, run in scenario_rejected(box, args.window):
            event = "-"
            if run.events:
                payload = run.events[0]
                event = (
                    f"{payload.get('status')}: {payload.get('error')}"
                    if isinstance(payload, dict)
                    else repr(payload)
                )
            ended = "yes" if run.ended else "no (cancelled)"
            out.append(
                f"| {label} | {name} | {run.requests:,} | {ended} | {run.seconds:.2f} | {event} |"
            )

        out += [
            "",
            f"## 2. N deferred gates on one account, {args.intervals} intervals of "
            f"{args.interval:g} s ({args.intervals * args.interval:g} s window)",
            "",
            "| triggers | requests | per interval | per gate per interval | ended | ours / HTTP |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        fanout = scenario_fanout(box, args.gates, args.intervals, args.interval)
        for index, (name, run) in enumerate(fanout):
            per_interval = run.requests / args.intervals
            ratio = ""
            if index % 2 == 0 and fanout[index + 1][1].requests:
                ratio = f"{run.requests / fanout[index + 1][1].requests:.4f}"
            out.append(
                f"| {run.triggers:,} x {name} | {run.requests:,} | {per_interval:,.1f} "
                f"| {per_interval / run.triggers:.3f} | {run.ended} | {ratio} |"
            )

        out += [
            "",
            "## 3. One sync call (our retry waits and tenacity's recorded, not slept)",
            "",
            "| sandbox answers | call | requests | result | waits | seconds |",
            "|---|---|---:|---|---|---:|",
        ]
        for label, name, call in scenario_retries(box):
            out.append(
                f"| {label} | {name} | {call.requests} | {call.result} | {call.waits} "
                f"| {call.seconds:.2f} |"
            )

        if args.calls:
            figures = scenario_overhead(box, args.calls)
            bare = figures["bare"][0]
            labels = {
                "ours": "CoinStatsHook.get_credit_usage()",
                "theirs": "HttpHook.run(...).json()",
                "bare": "bare requests.Session().get(...).json()",
            }
            out += [
                "",
                f"## 4. Median wall time of one /usage/credits call, {args.calls} sequential "
                "calls each",
                "",
                "| call | requests | median ms | / bare requests |",
                "|---|---:|---:|---:|",
                *(
                    f"| {labels[name]} | {count} | {median * 1000:.3f} | {median / bare:.2f} |"
                    for name, (median, count) in figures.items()
                ),
                "",
                f"Ratio ours / theirs: {figures['ours'][0] / figures['theirs'][0]:.2f}",
            ]

        if args.burst:
            out += [
                "",
                f"## 5. {args.burst} back-to-back calls from one task, sandbox limited to "
                "2 requests/s",
                "",
                "| call | calls ok | requests sent | 429s earned | seconds |",
                "|---|---:|---:|---:|---:|",
            ]
            for name, burst in scenario_burst(box, args.burst, 2.0):
                out.append(
                    f"| {name} | {burst.succeeded} of {burst.calls} | {burst.requests} "
                    f"| {burst.rate_limited} | {burst.seconds:.2f} |"
                )
    return "\n".join(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--window", type=float, default=3.0, help="scenario 1 window, seconds")
    parser.add_argument(
        "--gates", type=int, nargs="+", default=[1, 10, 100, 1_000], help="scenario 2 gates"
    )
    parser.add_argument("--intervals", type=int, default=10, help="scenario 2 intervals")
    parser.add_argument("--interval", type=float, default=0.2, help="scenario 2 poke interval")
    parser.add_argument("--calls", type=int, default=200, help="scenario 4 calls; 0 skips it")
    parser.add_argument("--burst", type=int, default=6, help="scenario 5 calls; 0 skips it")
    parser.add_argument("--quick", action="store_true", help="a smoke test: tiny N, seconds")
    cli = parser.parse_args()
    if cli.quick:
        cli.window, cli.gates, cli.intervals, cli.calls, cli.burst = 1.5, [1, 10], 3, 12, 3
    gates_ok = all(0 < n <= 1_000 for n in cli.gates) and 0 <= cli.burst <= 50
    if not 0 < cli.window <= 30 or not gates_ok or not 0 < cli.intervals <= 100:
        parser.error("keep --window <= 30, --gates <= 1000, --intervals <= 100, --burst <= 50")
    if not 0.1 <= cli.interval <= 5 or not 0 <= cli.calls <= 5_000:
        parser.error("keep --interval in 0.1..5 and --calls <= 5000")
    print(report(cli))
