"""CreditBudgetTrigger in an event loop against the sandbox (or a misbehaving server) over real
HTTP, and the deferral paths of the sensor that need a trigger. The shared poller behind it is
tested in tests/unit/common/test_polling.py."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from airflow._shared.module_loading import import_string  # what the triggerer uses
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
from airflow.sdk.exceptions import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from airflow_provider_coinstats.api.retry import MAX_POLL_DELAY, poll_delay
from airflow_provider_coinstats.common import polling
from airflow_provider_coinstats.common.events import GateEvent
from airflow_provider_coinstats.exceptions import (
    CoinStatsInconsistentCreditsError,
    CoinStatsRateLimitError,
    CoinStatsServerError,
)
from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor, CreditGateFailure
from airflow_provider_coinstats.testing.sandbox import Fault, Sandbox
from airflow_provider_coinstats.triggers.coinstats import CreditBudgetTrigger
from tests.conftest import TEST_KEY, connection_json
from tests.unit.common.gate_helpers import (
    CREDITS,
    INCONSISTENT_BODIES,
    BodyServer,
    credits_body,
    fire,
    trigger,
    when,
)

CTX: Any = {}


@pytest.fixture(autouse=True)
def _no_leaked_pollers() -> Any:
    yield
    assert polling.active_pollers() == []  # every trigger released its poller, however it ended


# -- serialization ---------------------------------------------------------------------------


def test_kwargs_are_key_free_json_and_rebuild_the_same_trigger(coinstats_conn: Sandbox) -> None:
    coinstats_conn.set_credits(used=99_000)
    sensor = CreditBudgetSensor(
        task_id="gate",
        deferrable=True,
        poke_interval=30,
        required_credits=[{"path": "/coins", "params": {"limit": 100}, "times": 3}],
        min_remaining_ratio=0.05,
        pace=True,
        pace_slack=0.1,
        billing_cycle_day=15,
        billing_timezone="Europe/Berlin",
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(CTX)
    classpath, kwargs = deferred.value.trigger.serialize()

    text = json.dumps(kwargs)  # JSON primitives only
    assert json.loads(text) == kwargs
    assert TEST_KEY not in text
    assert "password" not in text
    assert kwargs == {
        "coinstats_conn_id": "coinstats_default",
        "poke_interval": 30.0,
        "max_consecutive_failures": 10,
        "reservation": None,  # a bare execute() has no task instance to reserve for
        "required_credits": 6,  # priced on the worker: 3 pages of /coins at 2 credits
        "min_remaining_credits": 0,
        "min_remaining_ratio": 0.05,
        "pace": True,
        "pace_slack": 0.1,
        "billing_cycle_day": 15,
        "billing_timezone": "Europe/Berlin",
    }
    # The triggerer's side: import the class by its path and build it from the kwargs.
    rebuilt = import_string(classpath)(**json.loads(text))
    assert isinstance(rebuilt, CreditBudgetTrigger)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.budget == deferred.value.trigger.budget


async def test_a_rebuilt_trigger_behaves_the_same(coinstats_conn: Sandbox) -> None:
    original = trigger(required_credits=5_000, min_remaining_credits=1_000)
    _, kwargs = original.serialize()
    first = await fire(original)
    second = await fire(CreditBudgetTrigger(**json.loads(json.dumps(kwargs))))
    for event in (first, second):
        event["result"].pop("checked_at")
    assert first == second
    assert first["status"] == "success"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"poke_interval": float("nan")}, "poke_interval"),
        ({"poke_interval": -1}, "poke_interval"),
        ({"max_consecutive_failures": 0}, "max_consecutive_failures"),
        ({"required_credits": -5}, "required_credits"),
        ({"api_key": "x"}, "unknown budget fields"),
    ],
)
def test_invalid_kwargs_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        trigger(**kwargs)


def test_a_zero_interval_is_raised_to_the_floor() -> None:
    assert trigger(poke_interval=0).poke_interval == 0.1  # never a request loop


# -- run() against the sandbox ---------------------------------------------------------------


async def test_passes_at_once_with_the_same_dict_as_poke(
    coinstats_conn: Sandbox, task_logs: Any
) -> None:
    event = await fire(trigger(required_credits=5_000, min_remaining_credits=1_000))
    assert event["status"] == "success"
    assert coinstats_conn.count(path=CREDITS) == 1

    poked = CreditBudgetSensor(
        task_id="gate", required_credits=5_000, min_remaining_credits=1_000
    ).poke(CTX)
    result, expected = dict(event["result"]), dict(poked.xcom_value)
    assert result.pop("checked_at") and expected.pop("checked_at")
    assert result == expected  # the sensor's XCom does not depend on the mode
    assert result["reason"] == "passed: 55,000 credits left, need 5,000 + reserve 1,000"
    assert TEST_KEY not in json.dumps(event) + task_logs()


async def test_the_first_check_comes_one_interval_after_the_start(
    coinstats_conn: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_sleep = asyncio.sleep
    sleeps: list[tuple[float, int]] = []

    async def sleep(delay: float, *args: Any) -> Any:
        sleeps.append((delay, coinstats_conn.count()))
        return await real_sleep(delay, *args)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    event = await fire(trigger(required_credits=1, poke_interval=0.25))
    assert event["status"] == "success"
    # The sensor has just checked on the worker: no request before a full interval.
    assert sleeps == [(0.25, 0)]
    assert coinstats_conn.count() == 1


async def test_waits_then_passes_when_credits_free_up(
    coinstats_conn: Sandbox, task_logs: Any
) -> None:
    coinstats_conn.set_credits(used=99_000)
    freeing = asyncio.create_task(
        when(
            lambda: coinstats_conn.count(path=CREDITS) >= 3,
            lambda: coinstats_conn.set_credits(used=10_000),
        )
    )
    event = await fire(trigger(required_credits=5_000, poke_interval=0.1))
    await freeing
    assert event["status"] == "success"
    assert event["result"]["passed"] is True
    assert event["result"]["remaining_credits"] == 90_000
    assert coinstats_conn.count(path=CREDITS) == 4  # waited three times, passed on the next
    assert "waiting: 1,000 credits left, need 5,000 + reserve 0" in task_logs()


async def test_impossible_budget_fails_fast_after_one_request(coinstats_conn: Sandbox) -> None:
    event = await fire(trigger(required_credits=90_000, min_remaining_ratio=0.2))
    assert event == {
        "status": "error",
        "fail_fast": True,
        "error": {
            "error": "CoinStatsInsufficientCreditsError",
            "message": "CoinStats credit gate: impossible: need 90,000 + reserve 20,000 but the "
            "PRO plan has only 100,000 credits per period; top up or shrink the job",
            "status_code": None,
            "api_message": None,
            "request_id": None,
        },
    }
    assert coinstats_conn.count() == 1


async def test_rejected_key_ends_every_gate_after_exactly_one_request(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(sandbox.url, key="revoked-key-123")
    )
    events = await asyncio.gather(*(fire(trigger(required_credits=1)) for _ in range(20)))
    assert sandbox.count() == 1  # twenty gates, one 401, no retry
    for event in events:
        assert event["status"] == "error"
        assert event["fail_fast"] is True
        error = event["error"]
        assert error["error"] == "CoinStatsAuthError"
        assert error["status_code"] == 401
        assert "rejected the API key of connection 'coinstats_default'" in error["message"]
        assert "revoked-key-123" not in json.dumps(event)


async def test_missing_connection_fails_fast_without_a_request(sandbox: Sandbox) -> None:
    event = await fire(trigger(coinstats_conn_id="no_such_conn", required_credits=1))
    assert event["status"] == "error"
    assert event["fail_fast"] is True
    assert event["error"]["error"] == "CoinStatsConfigError"
    assert "Could not load CoinStats connection 'no_such_conn'" in event["error"]["message"]
    assert sandbox.count() == 0


async def test_persistent_5xx_costs_one_request_per_check_then_gives_up(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, task_logs: Any
) -> None:
    # The connection's own retries are on (3, the default): the trigger still sends exactly one
    # request per check, because its backoff between checks is the only retry loop.
    monkeypatch.setenv("AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(sandbox.url))
    sandbox.inject(Fault(kind="status", status=503, times=None))
    event = await fire(trigger(required_credits=1, poke_interval=0.1, max_consecutive_failures=4))
    assert sandbox.count(path=CREDITS) == 4
    assert event["status"] == "error"
    assert event["error"]["error"] == "CoinStatsServerError"
    assert event["error"]["status_code"] == 503
    assert event["fail_fast"] is False  # execute_complete raises it, so task retries apply
    assert event["error"]["message"].startswith(
        "CoinStats credit gate gave up after 4 failed credit checks in a row; last: "
        "CoinStats failed on GET /usage/credits (HTTP 503"
    )
    lines = [line for line in task_logs().splitlines() if "could not read credits" in line]
    # One line per failed check but the last: what failed, failure n of m, and the wait, which
    # doubles from the interval.
    assert len(lines) == 3, lines
    for n, wait in enumerate(["0.1", "0.2", "0.4"], start=1):
        assert "HTTP 503" in lines[n - 1]
        assert f"failed check {n} of 4, next check in {wait} s" in lines[n - 1]


async def test_a_recovered_reading_resets_the_failure_count(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(sandbox.url, max_retries=0)
    )
    sandbox.set_credits(used=99_000)
    # fail, fail, read (waiting), fail, fail, read (waiting), then credits free up
    sandbox.inject(Fault(kind="status", status=502, times=2))
    freeing = asyncio.create_task(
        when(
            lambda: sandbox.count(path=CREDITS) >= 3,
            lambda: sandbox.inject(Fault(kind="reset", times=2)),
        )
    )
    freed = asyncio.create_task(
        when(
            lambda: sandbox.count(path=CREDITS) >= 6,
            lambda: sandbox.set_credits(used=0),
        )
    )
    event = await fire(
        trigger(required_credits=5_000, poke_interval=0.1, max_consecutive_failures=3)
    )
    await asyncio.gather(freeing, freed)
    assert event["status"] == "success"  # four failures in all, never three in a row
    assert sandbox.count(path=CREDITS) == 7


async def test_exhausted_credits_mean_wait_not_failure(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(sandbox.url, max_retries=0)
    )
    sandbox.inject(Fault(kind="status", status=402, times=3))
    event = await fire(trigger(required_credits=1, poke_interval=0.1, max_consecutive_failures=2))
    assert event["status"] == "success"
    assert sandbox.count(path=CREDITS) == 4


def test_the_backoff_between_checks_doubles_is_capped_and_honours_retry_after() -> None:
    error = CoinStatsServerError("boom")
    assert [poll_delay(error, n, 1.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert poll_delay(error, 50, 1.0) == MAX_POLL_DELAY == 300.0
    assert poll_delay(error, 10_000, 1.0) == MAX_POLL_DELAY  # no overflow
    assert poll_delay(error, 3, 600.0) == 600.0  # never shorter than the interval
    limited = CoinStatsRateLimitError("slow down", retry_after=30)
    assert poll_delay(limited, 1, 1.0) == 30.0
    assert poll_delay(CoinStatsRateLimitError("x", retry_after=9e9), 1, 1.0) == 300.0


# -- figures that do not add up ---------------------------------------------------------------


@pytest.mark.parametrize("body", INCONSISTENT_BODIES.values(), ids=INCONSISTENT_BODIES.keys())
async def test_inconsistent_figures_never_pass_the_gate_it_waits_for_a_sound_reading(
    body: bytes, monkeypatch: pytest.MonkeyPatch, task_logs: Any
) -> None:
    sound = credits_body(100_000, 45_000, 55_000)
    with BodyServer(body, body, sound) as server:
        monkeypatch.setenv("AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(server.url))
        event = await fire(trigger(required_credits=50, max_consecutive_failures=3))
    assert event["status"] == "success"
    assert event["result"]["remaining_credits"] == 55_000  # decided on the sound reading only
    assert server.requests == 3
    logs = task_logs()
    assert "inconsistent credit figures" in logs or "twice in one object" in logs
    assert "failed check 2 of 3" in logs


async def test_figures_that_never_add_up_end_in_an_error_not_a_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with BodyServer(INCONSISTENT_BODIES["remaining above total"]) as server:
        monkeypatch.setenv("AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(server.url))
        event = await fire(trigger(required_credits=50, max_consecutive_failures=2))
    assert server.requests == 2
    assert event["status"] == "error"
    assert event["fail_fast"] is False
    error = GateEvent.from_event(event).error
    assert isinstance(error, CoinStatsInconsistentCreditsError)
    assert "more remaining than the total" in str(error)


# -- what a waiting trigger logs -------------------------------------------------------------


async def test_a_long_wait_logs_its_decision_once_not_once_per_check(
    coinstats_conn: Sandbox, task_logs: Any
) -> None:
    coinstats_conn.set_credits(used=99_000)
    freeing = asyncio.create_task(
        when(
            lambda: coinstats_conn.count(path=CREDITS) >= 20,
            lambda: coinstats_conn.set_credits(used=0),
        )
    )
    event = await fire(trigger(required_credits=5_000, poke_interval=0.1))
    await freeing
    assert event["status"] == "success"
    assert coinstats_conn.count(path=CREDITS) >= 21
    logs = task_logs()
    assert logs.count("waiting: 1,000 credits left, need 5,000 + reserve 0") == 1
    assert logs.count("passed: 100,000 credits left") == 1


async def test_an_unreachable_host_gets_one_hint_to_check_the_base_url(
    monkeypatch: pytest.MonkeyPatch, task_logs: Any
) -> None:
    with BodyServer(b"{}") as server:
        url = server.url  # a port that refuses connections once the server is gone
    monkeypatch.setenv("AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(url))
    event = await fire(trigger(required_credits=1, poke_interval=0.05, max_consecutive_failures=6))
    assert event["error"]["error"] == "CoinStatsConnectionError"
    logs = task_logs()
    assert logs.count("check the connection's Base URL (host)") == 1
    assert logs.count("could not read credits") == 5


# -- the worker half: resuming after the trigger ---------------------------------------------


def sensor(**kwargs: Any) -> CreditBudgetSensor:
    return CreditBudgetSensor(task_id="gate", deferrable=True, timeout=60, **kwargs)


def test_a_deferral_timeout_is_a_sensor_timeout() -> None:
    with pytest.raises(AirflowSensorTimeout):
        sensor().resume_execution(
            TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, CTX
        )


def test_a_deferral_timeout_with_soft_fail_skips() -> None:
    with pytest.raises(AirflowSkipException):
        sensor(soft_fail=True).resume_execution(
            TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, CTX
        )


async def test_resuming_with_real_events_matches_the_poke_path(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(sandbox.url))
    passed = await fire(trigger(required_credits=10))
    xcom = sensor().resume_execution("execute_complete", {"event": passed}, CTX)
    assert xcom == passed["result"]

    impossible = await fire(trigger(required_credits=200_000))
    with pytest.raises(CreditGateFailure, match="credit gate: impossible: need 200,000"):
        sensor().resume_execution("execute_complete", {"event": impossible}, CTX)

    monkeypatch.setenv(
        "AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(sandbox.url, key="revoked-key-123")
    )
    rejected = await fire(trigger(required_credits=10))
    with pytest.raises(AirflowFailException, match="rejected the API key"):
        sensor().resume_execution("execute_complete", {"event": rejected}, CTX)

    sandbox.inject(Fault(kind="status", status=500, times=None))
    monkeypatch.setenv("AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(sandbox.url))
    gave_up = await fire(trigger(required_credits=10, max_consecutive_failures=1))
    with pytest.raises(CoinStatsServerError, match="gave up after 1 failed credit check") as err:
        sensor().resume_execution("execute_complete", {"event": gave_up}, CTX)
    assert err.value.status_code == 500  # every field came across


async def test_soft_fail_never_skips_a_gate_that_cannot_pass_after_deferral(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, task_logs: Any
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(sandbox.url, key="revoked-key-123")
    )
    rejected = await fire(trigger(required_credits=10))
    impossible_conn = connection_json(sandbox.url)
    monkeypatch.setenv("AIRFLOW_CONN_COINSTATS_DEFAULT", impossible_conn)
    impossible = await fire(trigger(required_credits=200_000))
    missing = await fire(trigger(coinstats_conn_id="no_such_conn", required_credits=1))
    for event, message in [
        (rejected, "rejected the API key"),
        (impossible, "impossible: need 200,000"),
        (missing, "Could not load CoinStats connection 'no_such_conn'"),
    ]:
        with pytest.raises(CreditGateFailure, match=message):
            sensor(soft_fail=True).resume_execution("execute_complete", {"event": event}, CTX)
        assert message in task_logs()  # logged at error level before failing
    # never_fail asks for no failure at all: it still skips.
    with pytest.raises(AirflowSkipException):
        sensor(never_fail=True).resume_execution("execute_complete", {"event": rejected}, CTX)


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (
            {"status": "error", "error": {"error": "CoinStatsAuthError", "message": "x"}},
            "fail_fast",
        ),
        ({"status": "maybe"}, "'status' must be"),
        (None, "expected a JSON object"),
        ({"status": "success"}, "without a 'result'"),
    ],
)
def test_a_malformed_event_fails_the_task_with_what_is_wrong(event: Any, problem: str) -> None:
    with pytest.raises(CreditGateFailure, match=f"malformed trigger event.*{problem}"):
        sensor(soft_fail=True).execute_complete(CTX, event)
