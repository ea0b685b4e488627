"""CreditBudgetTrigger in an event loop against the sandbox over real HTTP, the shared
per-connection polling behind it, and the deferral paths of the sensor that need a trigger."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
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
from airflow.sdk.log import redact

from airflow_provider_coinstats.common import polling
from airflow_provider_coinstats.exceptions import (
    CoinStatsAuthError,
    CoinStatsRateLimitError,
    CoinStatsServerError,
)
from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook
from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor
from airflow_provider_coinstats.testing.sandbox import Fault, Sandbox
from airflow_provider_coinstats.triggers.coinstats import (
    MAX_BACKOFF_SECONDS,
    CreditBudgetTrigger,
    backoff_delay,
)
from tests.conftest import TEST_KEY, connection_json

CTX: Any = {}
CREDITS = "/usage/credits"


def trigger(**kwargs: Any) -> CreditBudgetTrigger:
    kwargs.setdefault("coinstats_conn_id", "coinstats_default")
    kwargs.setdefault("poke_interval", 0.1)
    return CreditBudgetTrigger(**kwargs)


async def fire(gate: CreditBudgetTrigger) -> dict[str, Any]:
    """Run the trigger like the triggerer does: to the end, and it must fire exactly once."""
    events = [event.payload async for event in gate.run()]
    assert len(events) == 1, events
    payload: dict[str, Any] = events[0]
    return payload


async def when(condition: Callable[[], bool], then: Callable[[], object]) -> None:
    """Do ``then`` once ``condition`` holds (polled every 10 ms; fails the test after 10 s)."""
    for _ in range(1000):
        if condition():
            then()
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


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
        "error": "CoinStatsInsufficientCreditsError",
        "message": "CoinStats credit gate cannot pass: impossible: need 90,000 + reserve "
        "20,000 but the PRO plan has only 100,000 credits per period; top up or shrink the job",
        "fail_fast": True,
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
        assert event["error"] == "CoinStatsAuthError"
        assert event["fail_fast"] is True
        assert "rejected the API key of connection 'coinstats_default'" in event["message"]
        assert "revoked-key-123" not in event["message"]


async def test_missing_connection_fails_fast_without_a_request(sandbox: Sandbox) -> None:
    event = await fire(trigger(coinstats_conn_id="no_such_conn", required_credits=1))
    assert event["status"] == "error"
    assert event["fail_fast"] is True
    assert event["error"] == "CoinStatsConfigError"
    assert "Could not load CoinStats connection 'no_such_conn'" in event["message"]
    assert sandbox.count() == 0


async def test_5xx_backs_off_exponentially_then_gives_up(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, task_logs: Any
) -> None:
    # No retries inside the client: every failed check is exactly one request.
    monkeypatch.setenv(
        "AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(sandbox.url, max_retries=0)
    )
    sandbox.inject(Fault(kind="status", status=503, times=None))
    event = await fire(trigger(required_credits=1, poke_interval=0.1, max_consecutive_failures=4))
    assert sandbox.count(path=CREDITS) == 4
    assert event["status"] == "error"
    assert event["error"] == "CoinStatsServerError"
    assert event["fail_fast"] is False  # execute_complete raises it, so task retries apply
    assert event["message"].startswith(
        "CoinStats credit gate gave up after 4 failed credit checks in a row; last: "
        "CoinStats failed on GET /usage/credits (HTTP 503"
    )
    logs = task_logs()
    waits = [
        line.split("retrying in ")[1].split(" s")[0]
        for line in logs.splitlines()
        if "retrying in" in line
    ]
    assert waits == ["0.1", "0.2", "0.4"]  # doubling, one wait fewer than the failures


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


def test_backoff_doubles_is_capped_and_honours_retry_after() -> None:
    error = CoinStatsServerError("boom")
    assert [backoff_delay(1.0, n, error) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff_delay(1.0, 50, error) == MAX_BACKOFF_SECONDS
    assert backoff_delay(1.0, 10_000, error) == MAX_BACKOFF_SECONDS  # no overflow
    assert backoff_delay(600.0, 3, error) == 600.0  # never shorter than the interval
    limited = CoinStatsRateLimitError("slow down", retry_after=30)
    assert backoff_delay(1.0, 1, limited) == 30.0
    assert backoff_delay(1.0, 1, CoinStatsRateLimitError("x", retry_after=9e9)) == 300.0


async def test_the_event_loop_keeps_running_while_credits_are_read(
    coinstats_conn: Sandbox,
) -> None:
    coinstats_conn.inject(Fault(kind="delay", seconds=0.6))
    gate = asyncio.create_task(fire(trigger(required_credits=1)))
    # Were the request made on the loop, this timeout could only fire after the 0.6 s answer,
    # by which time the gate would have passed.
    done, _ = await asyncio.wait({gate}, timeout=0.2)
    assert not done
    assert (await gate)["status"] == "success"


async def test_cancelled_gates_release_the_shared_poller(coinstats_conn: Sandbox) -> None:
    coinstats_conn.set_credits(used=99_999)
    gates = [asyncio.create_task(fire(trigger(required_credits=10))) for _ in range(3)]
    await when(lambda: coinstats_conn.count(path=CREDITS) >= 1, lambda: None)
    assert len(polling.active_pollers()) == 1
    for gate in gates:
        gate.cancel()
    await asyncio.gather(*gates, return_exceptions=True)
    assert polling.active_pollers() == []


# -- shared polling --------------------------------------------------------------------------


async def test_500_waiting_gates_cost_one_request_per_interval(
    coinstats_conn: Sandbox,
) -> None:
    interval = 0.2
    coinstats_conn.set_credits(used=99_000)
    freeing = asyncio.create_task(
        when(
            lambda: coinstats_conn.count(path=CREDITS) >= 3,
            lambda: coinstats_conn.set_credits(used=0),
        )
    )
    started = time.monotonic()
    events = await asyncio.gather(
        *(fire(trigger(required_credits=5_000 + n, poke_interval=interval)) for n in range(500))
    )
    elapsed = time.monotonic() - started
    await freeing

    assert [event["status"] for event in events] == ["success"] * 500
    # Each gate judged the shared reading against its own budget.
    assert {event["result"]["required_credits"] for event in events} == set(range(5_000, 5_500))
    requests = coinstats_conn.count(path=CREDITS)
    intervals = elapsed / interval
    assert requests <= intervals + 1, (requests, elapsed)
    assert requests == 4  # three waiting readings and a passing one, shared by all 500 gates


async def test_each_connection_has_its_own_poller(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_COINSTATS_A", connection_json(sandbox.url))
    monkeypatch.setenv("AIRFLOW_CONN_COINSTATS_B", connection_json(sandbox.url))
    gates = [
        trigger(coinstats_conn_id=conn, required_credits=1)
        for conn in ("coinstats_a", "coinstats_b") * 10
    ]
    events = await asyncio.gather(*(fire(gate) for gate in gates))
    assert all(event["status"] == "success" for event in events)
    assert sandbox.count(path=CREDITS) == 2


async def test_a_key_fixed_after_a_401_is_read_afresh_without_a_restart(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = "AIRFLOW_CONN_COINSTATS_DEFAULT"
    monkeypatch.setenv(conn, connection_json(sandbox.url, key="revoked-key-123"))
    poller = polling.acquire_poller("coinstats_default", CoinStatsHook.aclient)
    try:
        with pytest.raises(CoinStatsAuthError):
            await poller.read(max_age=0)
        monkeypatch.setenv(conn, connection_json(sandbox.url))  # the key fixed in Airflow
        usage, _ = await poller.read(max_age=0)
        assert usage.remaining_credits == 55_000
    finally:
        polling.release_poller(poller)


async def test_the_hook_builds_an_async_client_from_an_env_var_outside_a_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = f"cs-aclient-{uuid.uuid4().hex}"  # fresh, so no earlier test has masked it
    with Sandbox(api_key=key) as box:
        monkeypatch.setenv("AIRFLOW_CONN_COINSTATS_ASYNC", connection_json(box.url, key=key))
        client = await CoinStatsHook.aclient("coinstats_async")
        try:
            usage = await asyncio.to_thread(client.get_credit_usage)
        finally:
            client.close()
        assert client.config.base_url == box.url
        assert client.config.requests_per_second == 1000  # the extras were read
        assert usage.remaining_credits == box.usage()["remainingCredits"]
        assert redact(f"key={key}") == "key=***"  # masked for every log that follows


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
    with pytest.raises(AirflowFailException, match="cannot pass: impossible"):
        sensor().resume_execution("execute_complete", {"event": impossible}, CTX)

    monkeypatch.setenv(
        "AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(sandbox.url, key="revoked-key-123")
    )
    rejected = await fire(trigger(required_credits=10))
    with pytest.raises(AirflowFailException, match="rejected the API key"):
        sensor().resume_execution("execute_complete", {"event": rejected}, CTX)

    monkeypatch.setenv(
        "AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(sandbox.url, max_retries=0)
    )
    sandbox.inject(Fault(kind="status", status=500, times=None))
    gave_up = await fire(trigger(required_credits=10, max_consecutive_failures=1))
    with pytest.raises(CoinStatsServerError, match="gave up after 1 failed credit check"):
        sensor().resume_execution("execute_complete", {"event": gave_up}, CTX)
