"""The fault matrix: every failure the provider must survive, injected into the sandbox and met
over real HTTP on 127.0.0.1 through CoinStatsHook, the way operators, sensors and triggers call.

Each row states the exception (or success), the exact number of requests sent, and the waits the
retry policy asked for. Every row also proves a wall time bounded by timeout x attempts (no hang)
and an error free of the key. The whole matrix runs with the wall clock frozen by
``pendulum.travel_to(..., freeze=True)``: deadlines and pacing must run on ``time.monotonic()``.
``bench/fault_matrix.py`` prints the same rows as a table.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, Literal

import pendulum
import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_coinstats.api import config
from airflow_provider_coinstats.api.client import CoinStatsClient
from airflow_provider_coinstats.api.config import ClientConfig
from airflow_provider_coinstats.api.retry import RetryPolicy
from airflow_provider_coinstats.exceptions import (
    CoinStatsAuthError,
    CoinStatsConnectionError,
    CoinStatsCreditsExhaustedError,
    CoinStatsError,
    CoinStatsRateLimitError,
    CoinStatsRequestError,
    CoinStatsResponseError,
    CoinStatsServerError,
    CoinStatsTimeoutError,
)
from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook
from airflow_provider_coinstats.operators.coinstats import CreditUsageOperator
from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor
from airflow_provider_coinstats.testing.retries import record_retry_waits
from airflow_provider_coinstats.testing.sandbox import Fault, Sandbox
from airflow_provider_coinstats.triggers.coinstats import CreditBudgetTrigger
from tests.conftest import TEST_KEY

CONN_ID = "coinstats_matrix"
#: The wall clock every row runs under; Retry-After HTTP-dates are written relative to it.
FROZEN = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
#: Per-request timeout of rows that expect an answer: generous, a loaded CI must not trip it.
TIMEOUT = 2.0
#: Rows with a slow answer: the sandbox answers DELAY s late, the connection gives up at
#: SHORT_TIMEOUT s. The sandbox logs a delayed request only once it answers, so those rows wait
#: for that (Case.settle) before counting.
SHORT_TIMEOUT = 0.3
DELAY = 0.6
#: Allowed above timeout x attempts (+ real waits): thread start-up, a loaded CI machine.
SLACK = 1.5
#: A failure that persists is tried once and retried max_retries = 3 times (the default, which
#: the rows' connections keep).
ATTEMPTS = 4

Target = Literal["sandbox", "wrong_key", "refused", "dns"]


@dataclass(frozen=True)
class Case:
    """One row of the matrix.

    :param fault: what goes wrong, as the table prints it.
    :param faults: injected into the sandbox, in order, before the call.
    :param error: the exception expected; None when the call must succeed.
    :param requests: exactly how many requests are sent (the sandbox's count; for ``refused``
        and ``dns``, the connection attempts, counted at name resolution).
    :param status: the ``status_code`` the error must carry.
    :param waits: the exact waits between attempts, where Retry-After fixes them; None means
        full-jitter backoff, checked against its bounds.
    :param target: where the connection points: the sandbox (with the right or a wrong key), a
        closed port, or a host name that does not resolve.
    """

    fault: str
    faults: tuple[Fault, ...]
    error: type[CoinStatsError] | None
    requests: int
    status: int | None = None
    waits: tuple[float, ...] | None = None
    method: str = "GET"
    path: str = "/usage/credits"
    target: Target = "sandbox"
    timeout: float = TIMEOUT

    @property
    def delayed(self) -> bool:
        return any(fault.kind == "delay" for fault in self.faults)

    @property
    def settle(self) -> float:
        """Seconds after the call until the sandbox has logged a request it answered late."""
        late = max((fault.seconds for fault in self.faults if fault.kind == "delay"), default=0)
        return max(0.0, late - self.timeout) + 0.15 if late else 0.0


def _retry_after_date(seconds: int) -> str:
    return format_datetime(FROZEN + timedelta(seconds=seconds), usegmt=True)


ALWAYS: dict[str, Any] = {"times": None}
CREDITS_MESSAGE = "Insufficient credits for this request"

CASES: tuple[Case, ...] = (
    # Transient: retried 3 times, then the last error is raised.
    Case("HTTP 500", (Fault("status", status=500, **ALWAYS),), CoinStatsServerError, ATTEMPTS, 500),
    Case(
        "HTTP 502 HTML page (proxy)",
        (Fault("html", **ALWAYS),),
        CoinStatsServerError,
        ATTEMPTS,
        502,
    ),
    Case(
        "HTTP 503 without requestId",
        (Fault("status", status=503, with_request_id=False, **ALWAYS),),
        CoinStatsServerError,
        ATTEMPTS,
        503,
    ),
    Case(
        "HTTP 429 rate limit",
        (Fault("status", status=429, **ALWAYS),),
        CoinStatsRateLimitError,
        ATTEMPTS,
        429,
    ),
    Case(
        "HTTP 429 old {error, message} shape",
        (
            Fault(
                "status",
                status=429,
                body={"error": "Too Many Requests", "message": "Rate limit exceeded"},
                **ALWAYS,
            ),
        ),
        CoinStatsRateLimitError,
        ATTEMPTS,
        429,
    ),
    Case(
        "HTTP 429 Retry-After: 2",
        (Fault("status", status=429, retry_after=2, **ALWAYS),),
        CoinStatsRateLimitError,
        ATTEMPTS,
        429,
        waits=(2.0, 2.0, 2.0),
    ),
    Case(
        f"read timeout ({DELAY:g} s late, timeout {SHORT_TIMEOUT:g} s)",
        (Fault("delay", seconds=DELAY, **ALWAYS),),
        CoinStatsTimeoutError,
        ATTEMPTS,
        timeout=SHORT_TIMEOUT,
    ),
    Case("connection reset", (Fault("reset", **ALWAYS),), CoinStatsConnectionError, ATTEMPTS),
    Case(
        "body cut off mid-transfer",
        (Fault("partial_body", **ALWAYS),),
        CoinStatsConnectionError,
        ATTEMPTS,
    ),
    Case("connection refused", (), CoinStatsConnectionError, ATTEMPTS, target="refused"),
    Case("DNS failure", (), CoinStatsConnectionError, ATTEMPTS, target="dns"),
    # Transient, then CoinStats recovers: the call succeeds.
    Case("HTTP 503 twice, then 200", (Fault("status", status=503, times=2),), None, 3),
    Case(
        "HTTP 429 Retry-After: HTTP-date +2 s, then 200",
        (Fault("status", status=429, retry_after=_retry_after_date(2)),),
        None,
        2,
        waits=(2.0,),
    ),
    Case(
        "HTTP 429 Retry-After: 3600 (cut to 60), then 200",
        (Fault("status", status=429, retry_after=3600),),
        None,
        2,
        waits=(60.0,),
    ),
    Case(
        # A longer timeout than the row above: the second attempt must answer within it.
        "read timeout once, then 200",
        (Fault("delay", seconds=2 * DELAY),),
        None,
        2,
        timeout=DELAY,
    ),
    Case("connection reset once, then 200", (Fault("reset"),), None, 2),
    Case(
        "POST: HTTP 429, then 200 (a 429 did no work)",
        (Fault("status", status=429),),
        None,
        2,
        method="POST",
        path="/portfolio/wallet",
    ),
    # Permanent: the same request would fail the same way, so exactly one is sent.
    Case("HTTP 401 key rejected", (), CoinStatsAuthError, 1, 401, target="wrong_key"),
    Case(
        "HTTP 403 plan lacks the endpoint",
        (Fault("status", status=403),),
        CoinStatsAuthError,
        1,
        403,
    ),
    Case("HTTP 402", (Fault("status", status=402),), CoinStatsCreditsExhaustedError, 1, 402),
    Case(
        "HTTP 406 credits exhausted",
        (Fault("status", status=406),),
        CoinStatsCreditsExhaustedError,
        1,
        406,
    ),
    Case(
        "HTTP 429 'Insufficient credits'",
        (Fault("status", status=429, message=CREDITS_MESSAGE),),
        CoinStatsCreditsExhaustedError,
        1,
        429,
    ),
    Case(
        "HTTP 429 old shape, credits",
        (
            Fault(
                "status",
                status=429,
                body={"error": "Rate limit exceeded", "message": CREDITS_MESSAGE},
            ),
        ),
        CoinStatsCreditsExhaustedError,
        1,
        429,
    ),
    Case("HTTP 400 bad parameters", (Fault("status", status=400),), CoinStatsRequestError, 1, 400),
    Case("HTTP 404 unknown coin", (), CoinStatsRequestError, 1, 404, path="/coins/no-such-coin"),
    Case(
        "POST: HTTP 503 (may have been carried out)",
        (Fault("status", status=503),),
        CoinStatsServerError,
        1,
        503,
        method="POST",
        path="/portfolio/wallet",
    ),
    Case("HTTP 200 HTML page", (Fault("html", status=200),), CoinStatsResponseError, 1, 200),
    Case("HTTP 200 invalid JSON", (Fault("invalid_json"),), CoinStatsResponseError, 1, 200),
    Case("HTTP 200 mistyped field", (Fault("mistyped"),), CoinStatsResponseError, 1, 200),
    Case(
        "HTTP 200 missing field",
        (Fault("status", status=200, body={"totalCredits": 10, "subscription": "PRO"}),),
        CoinStatsResponseError,
        1,
        200,
    ),
)


@dataclass(frozen=True)
class Outcome:
    """What one row did.

    :param seconds: wall time of the call (real waits included when they were slept).
    :param waits: the waits the retry policy asked for, in order.
    :param bound: the most the call may take without hanging: every attempt's timeout, the
        waits actually slept, and :data:`SLACK`.
    :param value: what the call returned (None when it raised).
    """

    error: CoinStatsError | None
    requests: int
    seconds: float
    waits: list[float]
    bound: float
    value: object = None


def connection_json(case: Case, sandbox_url: str, dead_port: int) -> str:
    """The row's connection: default retries, pacing lifted, the row's timeout and target."""
    host = {
        "sandbox": sandbox_url,
        "wrong_key": sandbox_url,
        "refused": f"http://127.0.0.1:{dead_port}",
        "dns": "https://no-such-host.invalid",
    }[case.target]
    key = "rejected-key-0123456789" if case.target == "wrong_key" else TEST_KEY
    extra = {"timeout": case.timeout, "requests_per_second": 1000}
    return json.dumps({"conn_type": "coinstats", "host": host, "password": key, "extra": extra})


def unused_port() -> int:
    """A port on 127.0.0.1 nobody listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def hook_call(case: Case, conn_id: str) -> object:
    """The row's request through a fresh CoinStatsHook, the way operators and sensors call."""
    hook = CoinStatsHook(coinstats_conn_id=conn_id)
    try:
        if (case.method, case.path) == ("GET", "/usage/credits"):
            return hook.get_credit_usage()
        # A body the sandbox accepts, so the retried POST succeeds (it checks required fields).
        body = {"address": "0xabc", "connectionId": "ethereum"} if case.method == "POST" else None
        return hook.request(case.method, case.path, json=body)
    finally:
        hook.client.close()


def run_case(
    case: Case,
    sandbox: Sandbox,
    *,
    real_sleep: bool = False,
    call: Callable[[Case, str], object] = hook_call,
) -> Outcome:
    """Run one row and measure it: ``call(case, conn_id)`` makes the request, by default through
    a fresh CoinStatsHook.

    The retry policy's waits are recorded through
    :func:`~airflow_provider_coinstats.testing.retries.record_retry_waits`; they are slept for
    real only with ``real_sleep``. Attempts at a closed port or an unresolvable
    host are counted at name resolution (each attempt opens a new connection); an unresolvable
    host is simulated there too, so no packet leaves the machine.
    """
    sandbox.clear_faults()
    sandbox.clear_requests()
    sandbox.inject(*case.faults)
    dead_port = unused_port()
    target_host = {"refused": "127.0.0.1", "dns": "no-such-host.invalid"}.get(case.target)
    resolutions = 0
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal resolutions
        if host == target_host and (case.target == "dns" or port == dead_port):
            resolutions += 1
            if case.target == "dns":
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, port, *args, **kwargs)

    env_name = f"AIRFLOW_CONN_{CONN_ID.upper()}"
    saved = (os.environ.get(env_name), socket.getaddrinfo)
    os.environ[env_name] = connection_json(case, sandbox.url, dead_port)
    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    error: CoinStatsError | None = None
    value: object = None
    try:
        with record_retry_waits(sleep=real_sleep) as waits:
            start = time.monotonic()
            try:
                value = call(case, CONN_ID)
            except CoinStatsError as caught:
                error = caught
            seconds = time.monotonic() - start
    finally:
        socket.getaddrinfo = saved[1]
        if saved[0] is None:
            del os.environ[env_name]
        else:
            os.environ[env_name] = saved[0]
    time.sleep(case.settle)  # let the last request answered late be logged
    sent = resolutions if target_host else sandbox.count()
    bound = case.timeout * sent + (sum(waits) if real_sleep else 0.0) + SLACK
    return Outcome(error, sent, seconds, waits, bound, value)


def error_texts(error: BaseException | None) -> str:
    """str, repr and args of an error and of every error chained to it (cause and context)."""
    texts: list[str] = []
    pending, seen = [error], set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        pending += [current.__cause__, current.__context__]
    return "\n".join(texts)


@pytest.fixture
def frozen_clock() -> Iterator[None]:
    """Wall clock stopped (time.time() and pendulum.now() stand still); monotonic time runs."""
    with pendulum.travel_to(pendulum.instance(FROZEN), freeze=True):
        yield


@pytest.mark.parametrize("case", CASES, ids=[case.fault for case in CASES])
def test_fault_matrix(case: Case, sandbox: Sandbox, frozen_clock: None) -> None:
    outcome = run_case(case, sandbox)

    if case.error is None:
        assert outcome.error is None, error_texts(outcome.error)
    else:
        assert type(outcome.error) is case.error, error_texts(outcome.error)
        assert outcome.error.status_code == case.status
    assert outcome.requests == case.requests
    assert len(outcome.waits) == case.requests - 1  # one wait before each retry, none after
    if case.waits is not None:
        assert outcome.waits == pytest.approx(case.waits)
    else:  # full jitter: attempt n waits up to 0.5 s * 2**n
        assert all(0 <= w <= 0.5 * 2**n for n, w in enumerate(outcome.waits))
    assert outcome.seconds <= outcome.bound
    assert TEST_KEY not in error_texts(outcome.error)
    assert time.time() == FROZEN.timestamp()  # the rows really ran with the wall clock frozen


def test_the_documented_defaults() -> None:
    """What docs/readme-sections/failure-handling.md promises, and the rows rely on."""
    policy = RetryPolicy()
    assert (config.DEFAULT_MAX_RETRIES, policy.max_retries) == (ATTEMPTS - 1, ATTEMPTS - 1)
    assert (policy.backoff_base, policy.backoff_cap) == (0.5, 8.0)
    assert (policy.max_retry_after, config.DEFAULT_TOTAL_TIMEOUT) == (60.0, 120.0)
    assert (config.DEFAULT_TIMEOUT, config.DEFAULT_REQUESTS_PER_SECOND) == (30.0, 1.0)
    assert config.DEFAULT_MAX_RESPONSE_BYTES == 10 * 1024 * 1024


def test_matrix_covers_every_sandbox_fault_kind() -> None:
    from airflow_provider_coinstats.testing.sandbox import FAULT_KINDS

    used = {fault.kind for case in CASES for fault in case.faults}
    assert used == set(FAULT_KINDS)


def test_errors_carry_coinstats_message_and_request_id(sandbox: Sandbox) -> None:
    """Every row's error keeps CoinStats' own words; requestId when the body had one."""
    by_name = {case.fault: case for case in CASES}
    expectations = {
        "HTTP 403 plan lacks the endpoint": ("Forbidden resource", True),
        "HTTP 429 'Insufficient credits'": (CREDITS_MESSAGE, True),
        "HTTP 429 old shape, credits": (CREDITS_MESSAGE, False),
        "HTTP 429 old {error, message} shape": ("Rate limit exceeded", False),
        "HTTP 503 without requestId": ("Service Unavailable. Please Contact Support", False),
        "HTTP 401 key rejected": ("Your API Key is invalid", False),
    }
    for name, (message, has_request_id) in expectations.items():
        error = run_case(by_name[name], sandbox).error
        assert error is not None and message in (error.api_message or ""), name
        assert bool(error.request_id) is has_request_id, name
        assert (error.request_id or "") in str(error), name


def test_rejected_key_names_the_connection(sandbox: Sandbox) -> None:
    case = next(case for case in CASES if case.target == "wrong_key")
    error = run_case(case, sandbox).error
    assert f"connection {CONN_ID!r}" in str(error)
    assert "rejected-key-0123456789" not in error_texts(error)


def test_a_proxy_html_page_is_quoted_short_and_without_tags(sandbox: Sandbox) -> None:
    case = next(case for case in CASES if case.fault.startswith("HTTP 502"))
    error = run_case(case, sandbox).error
    assert error is not None and "502 Bad Gateway" in str(error)
    assert "<" not in str(error) and len(str(error)) < 300


def test_a_wait_that_would_end_past_the_total_cap_is_not_started(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("status", status=429, retry_after=30, times=None))
    waits: list[float] = []
    config = ClientConfig(
        api_key=TEST_KEY, base_url=sandbox.url, requests_per_second=1000, total_timeout=20.0
    )
    policy = RetryPolicy(sleep=waits.append)
    with (
        CoinStatsClient(config, retry=policy) as client,
        pytest.raises(CoinStatsRateLimitError) as caught,
    ):
        client.get_credit_usage()
    assert caught.value.retry_after == 30.0  # the caller can still see how long to wait
    assert waits == []
    assert sandbox.count() == 1


def test_total_time_cap_runs_on_monotonic_time_under_a_frozen_clock(
    sandbox: Sandbox, frozen_clock: None
) -> None:
    """Real waits of 0.2 s against a 0.5 s cap: the third attempt is the last one. A deadline on
    the frozen wall clock would never pass, and all 1 + 20 attempts would run (4 s)."""
    sandbox.inject(Fault("status", status=503, times=None))
    config = ClientConfig(
        api_key=TEST_KEY, base_url=sandbox.url, requests_per_second=1000, total_timeout=0.5
    )
    policy = RetryPolicy(max_retries=20, backoff_base=0.2, backoff_cap=0.2, random=lambda: 1.0)
    start = time.monotonic()
    with CoinStatsClient(config, retry=policy) as client, pytest.raises(CoinStatsServerError):
        client.get_credit_usage()
    assert time.time() == FROZEN.timestamp()
    assert sandbox.count() in (2, 3)  # 3 unless one request took > 0.1 s on a loaded machine
    assert time.monotonic() - start < 0.5 + SLACK


def test_pacing_runs_on_monotonic_time_under_a_frozen_clock(
    sandbox: Sandbox, frozen_clock: None
) -> None:
    """Ten requests at 20/s through one bucket: nine spacings of 1.25 / 20 s. A bucket on the
    frozen wall clock would make each wait longer than the last (2.8 s in all)."""
    config = ClientConfig(
        api_key=TEST_KEY, base_url=sandbox.url, requests_per_second=20, conn_id="paced"
    )
    spacing = 1.25 / 20
    start = time.monotonic()
    with CoinStatsClient(config) as client:
        for _ in range(10):
            client.get_credit_usage()
    elapsed = time.monotonic() - start
    assert 9 * spacing <= elapsed < 9 * spacing + 1.0
    assert sandbox.count() == 10


# -- one policy for every caller ---------------------------------------------------------------


def _operator(conn_id: str) -> bool:
    CreditUsageOperator(task_id="usage", coinstats_conn_id=conn_id).execute({})  # type: ignore[arg-type]
    return True


def _sensor(conn_id: str) -> bool:
    sensor = CreditBudgetSensor(task_id="gate", coinstats_conn_id=conn_id, required_credits=1)
    try:
        return bool(sensor.poke({}).is_done)  # type: ignore[arg-type]
    except AirflowFailException:
        return False


def _test_connection(conn_id: str) -> bool:
    return CoinStatsHook(coinstats_conn_id=conn_id).test_connection()[0]


def _trigger(conn_id: str) -> bool:
    async def first_event() -> dict[str, Any]:
        gate = CreditBudgetTrigger(coinstats_conn_id=conn_id, poke_interval=0.1)
        async for event in gate.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first_event())["status"] == "success"


CALLERS: dict[str, Callable[[str], bool]] = {
    "operator": _operator,
    "sensor": _sensor,
    "test_connection": _test_connection,
    "trigger": _trigger,
}


@pytest.mark.parametrize("caller", CALLERS)
def test_every_caller_retries_transient_errors_the_same_way(
    caller: str, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = Case("", (), None, 0)
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(case, sandbox.url, 0))
    sandbox.inject(Fault("status", status=503, times=2))
    with record_retry_waits() as waits:
        assert CALLERS[caller](CONN_ID) is True
    assert sandbox.count() == 3
    assert len(waits) == 2 and all(0 <= w <= 0.5 * 2**n for n, w in enumerate(waits))


@pytest.mark.parametrize("caller", CALLERS)
def test_every_caller_fails_fast_on_a_rejected_key(
    caller: str, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = Case("", (), None, 0, target="wrong_key")
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(case, sandbox.url, 0))
    with record_retry_waits() as waits:
        if caller == "operator":
            with pytest.raises(CoinStatsAuthError):
                _operator(CONN_ID)
        else:
            assert CALLERS[caller](CONN_ID) is False
    assert sandbox.count() == 1
    assert waits == []
