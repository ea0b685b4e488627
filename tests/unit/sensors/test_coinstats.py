"""CreditBudgetSensor through the real hook against the sandbox, in poke and reschedule modes,
plus the worker half of deferral (execute / execute_complete)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import (
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSkipException,
    TaskDeferred,
)

from airflow_provider_coinstats.common.events import GateEvent
from airflow_provider_coinstats.exceptions import (
    CoinStatsAuthError,
    CoinStatsConfigError,
    CoinStatsConnectionError,
)
from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor, CreditGateFailure
from airflow_provider_coinstats.testing.sandbox import Fault, Sandbox
from airflow_provider_coinstats.triggers.coinstats import CreditBudgetTrigger
from tests.conftest import TEST_KEY, connection_json
from tests.unit.common.gate_helpers import INCONSISTENT_BODIES, BodyServer

CTX: Any = {}


def gate(**kwargs: Any) -> CreditBudgetSensor:
    kwargs.setdefault("task_id", "gate")
    kwargs.setdefault("poke_interval", 0.05)
    kwargs.setdefault("timeout", 30)
    return CreditBudgetSensor(**kwargs)


@pytest.fixture
def no_retry_conn(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """A connection that does not retry, so transient faults reach the sensor at once."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(sandbox.url, max_retries=0)
    )
    return sandbox


def test_poke_passes_and_returns_usage_and_decision(
    coinstats_conn: Sandbox, task_logs: Any
) -> None:
    result = gate(required_credits=5_000, min_remaining_credits=1_000).poke(CTX)
    assert isinstance(result, PokeReturnValue)
    assert result.is_done is True
    xcom = result.xcom_value
    assert xcom["passed"] is True
    assert xcom["remaining_credits"] == 55_000
    assert xcom["required_credits"] == 5_000
    assert xcom["subscription"] == "PRO"
    assert xcom["reason"] == "passed: 55,000 credits left, need 5,000 + reserve 1,000"
    assert "passed: 55,000 credits left, need 5,000 + reserve 1,000" in task_logs()
    json.dumps(xcom)  # plain JSON
    assert TEST_KEY not in json.dumps(xcom) + task_logs()


def test_poke_waits_with_one_log_line(coinstats_conn: Sandbox, task_logs: Any) -> None:
    coinstats_conn.set_credits(used=96_000)
    result = gate(required_credits=5_000, min_remaining_credits=1_000).poke(CTX)
    assert result.is_done is False
    assert "waiting: 4,000 credits left, need 5,000 + reserve 1,000" in task_logs()


def test_impossible_requirement_fails_fast_and_says_what_to_do(coinstats_conn: Sandbox) -> None:
    sensor = gate(required_credits=90_000, min_remaining_ratio=0.2)
    with pytest.raises(AirflowFailException, match=r"PRO plan has only 100,000.*top up") as caught:
        sensor.poke(CTX)
    assert str(caught.value).startswith("CoinStats credit gate: impossible: need 90,000")


def test_rejected_key_fails_fast_after_one_request(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(sandbox.url, key="revoked-key-123")
    )
    with pytest.raises(AirflowFailException, match="rejected the API key"):
        gate(required_credits=1).execute(CTX)
    assert sandbox.count() == 1


@pytest.mark.parametrize(
    "fault",
    [
        Fault(kind="status", status=503, times=None),
        Fault(kind="status", status=429, times=None),
        Fault(kind="reset", times=None),
    ],
    ids=["5xx", "429", "reset"],
)
def test_transient_trouble_is_not_yet(no_retry_conn: Sandbox, fault: Fault, task_logs: Any) -> None:
    no_retry_conn.inject(fault)
    result = gate(required_credits=1).poke(CTX)
    assert result.is_done is False
    assert "not yet: could not read credits" in task_logs()


def test_poke_mode_waits_then_passes_when_credits_free_up(coinstats_conn: Sandbox) -> None:
    coinstats_conn.set_credits(used=99_000)
    timer = threading.Timer(0.3, coinstats_conn.set_credits, kwargs={"used": 10_000})
    timer.start()
    try:
        xcom = gate(required_credits=5_000, poke_interval=0.1).execute(CTX)
    finally:
        timer.cancel()
    assert xcom["passed"] is True
    assert xcom["remaining_credits"] == 90_000
    assert coinstats_conn.count(path="/usage/credits") >= 3


def test_poke_mode_timeout_with_soft_fail_skips(coinstats_conn: Sandbox) -> None:
    coinstats_conn.set_credits(used=99_000)
    sensor = gate(required_credits=5_000, poke_interval=0.05, timeout=0.2, soft_fail=True)
    with pytest.raises(AirflowSkipException):
        sensor.execute(CTX)


def test_reschedule_mode_gives_the_worker_back(coinstats_conn: Sandbox) -> None:
    coinstats_conn.set_credits(used=99_000)
    sensor = gate(required_credits=5_000, mode="reschedule", poke_interval=60)
    ti = mock.Mock()
    ti.get_first_reschedule_date.return_value = None
    with pytest.raises(AirflowRescheduleException):
        sensor.execute({"ti": ti})  # type: ignore[arg-type]


def test_planned_calls_are_priced(coinstats_conn: Sandbox) -> None:
    plan = [
        {"path": "/coins", "params": {"limit": 100}, "times": 5},  # 2 x 5
        {"path": "/wallet/balances", "params": {"networks": "ethereum,polygon"}},  # 40 x 2
    ]
    result = gate(required_credits=plan).poke(CTX)
    assert result.xcom_value["required_credits"] == 90


def test_templated_fields_are_checked_once_rendered(coinstats_conn: Sandbox) -> None:
    sensor = gate(required_credits="{{ params.cost }}")  # accepted while parsing
    assert "required_credits" in sensor.template_fields
    sensor.required_credits = "2500"  # what rendering produced ("2,500" is refused)
    assert sensor.poke(CTX).xcom_value["required_credits"] == 2_500
    sensor.required_credits = "a lot"
    with pytest.raises(CreditGateFailure, match="required_credits") as caught:
        sensor.poke(CTX)
    assert isinstance(caught.value.__cause__, CoinStatsConfigError)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"required_credits": -5}, "required_credits"),
        ({"min_remaining_credits": "lots"}, "min_remaining_credits"),
        ({"min_remaining_ratio": 1.5}, "min_remaining_ratio"),
        ({"billing_cycle_day": 32}, "billing_cycle_day"),
        ({"billing_timezone": "Mars/Olympus"}, "billing_timezone"),
        ({"pace_slack": -0.1}, "pace_slack"),
        ({"required_credits": [{"path": "/no/such/endpoint"}]}, "price_overrides"),
    ],
)
def test_invalid_settings_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        gate(**kwargs)


def test_deferrable_passes_on_the_worker_without_deferring(coinstats_conn: Sandbox) -> None:
    xcom = gate(required_credits=10, deferrable=True).execute(CTX)
    assert xcom["passed"] is True


def test_deferrable_defers_with_key_free_kwargs_and_the_sensor_timeout(
    coinstats_conn: Sandbox,
) -> None:
    coinstats_conn.set_credits(used=99_000)
    sensor = gate(required_credits=5_000, deferrable=True, timeout=600, poke_interval=30)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(CTX)
    trigger = deferred.value.trigger
    assert isinstance(trigger, CreditBudgetTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=600)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_coinstats.triggers.coinstats.CreditBudgetTrigger"
    assert kwargs["required_credits"] == 5_000
    assert kwargs["poke_interval"] == 30
    assert TEST_KEY not in json.dumps(kwargs)


def test_execute_complete_returns_the_poke_dict_or_raises_like_poke() -> None:
    sensor = gate(deferrable=True)
    result = {"passed": True, "reason": "passed: ...", "remaining_credits": 9}
    assert sensor.execute_complete(CTX, {"status": "success", "result": result}) == result
    rejected = CoinStatsAuthError("rejected", status_code=401, request_id="r-1")
    with pytest.raises(CreditGateFailure, match=r"rejected \(requestId r-1\)"):
        sensor.execute_complete(CTX, GateEvent(error=rejected, fail_fast=True).to_event())
    gave_up = CoinStatsConnectionError("gave up")
    with pytest.raises(CoinStatsConnectionError, match="gave up"):
        sensor.execute_complete(CTX, GateEvent(error=gave_up, fail_fast=False).to_event())
    with pytest.raises(CreditGateFailure, match="malformed trigger event"):
        sensor.execute_complete(CTX, {"status": "maybe"})


def test_poke_emits_credit_gauges(coinstats_conn: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.observability.stats import Stats

    sent: list[tuple[str, float]] = []
    monkeypatch.setattr(Stats, "gauge", lambda stat, value, *a, **k: sent.append((stat, value)))
    gate(required_credits=1).poke(CTX)
    assert ("coinstats.credits.remaining", 55_000) in sent
    assert ("coinstats.credits.total.coinstats_default", 100_000) in sent


def test_exponential_backoff_and_max_wait_still_reach_the_budget(coinstats_conn: Sandbox) -> None:
    coinstats_conn.set_credits(used=99_000)
    timer = threading.Timer(0.4, coinstats_conn.set_credits, kwargs={"used": 0})
    timer.start()
    try:
        sensor = gate(
            required_credits=5_000, poke_interval=0.05, exponential_backoff=True, max_wait=0.2
        )
        assert sensor.execute(CTX)["remaining_credits"] == 100_000
    finally:
        timer.cancel()
    # Backoff spaced the pokes out: far fewer than 0.4 s / 0.05 s would have made.
    assert 2 <= coinstats_conn.count(path="/usage/credits") <= 6


BROKEN = {
    "rejected key": ({"key": "revoked-key-123"}, {}, "rejected the API key"),
    "invalid connection": ({"auth_type": "magic"}, {}, "'auth_type' must be one of"),
    "impossible budget": ({}, {"required_credits": 200_000}, "impossible: need 200,000"),
}


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
@pytest.mark.parametrize("case", BROKEN.values(), ids=BROKEN.keys())
def test_soft_fail_never_turns_broken_configuration_into_a_skip(
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    task_logs: Any,
    mode: str,
    case: tuple[dict[str, Any], dict[str, Any], str],
) -> None:
    conn, budget, message = case
    monkeypatch.setenv("AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(sandbox.url, **conn))
    sensor = gate(
        soft_fail=True,
        mode="reschedule" if mode == "reschedule" else "poke",
        deferrable=mode == "deferrable",
        **{"required_credits": 1, **budget},
    )
    ti = mock.Mock()
    ti.get_first_reschedule_date.return_value = None
    with pytest.raises(CreditGateFailure, match=message):
        sensor.execute({"ti": ti})  # type: ignore[arg-type]
    assert message in task_logs()  # logged at error level, so the task log says why
    assert sandbox.count() <= 1
    assert "revoked-key-123" not in task_logs()


def test_soft_fail_never_skips_a_missing_connection(task_logs: Any) -> None:
    sensor = gate(coinstats_conn_id="no_such_conn", soft_fail=True, required_credits=1)
    with pytest.raises(
        CreditGateFailure, match="Could not load CoinStats connection 'no_such_conn'"
    ):
        sensor.execute(CTX)
    assert "no_such_conn" in task_logs()


def test_never_fail_still_skips_broken_configuration(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(sandbox.url, key="revoked-key-123")
    )
    for deferrable in (False, True):
        with pytest.raises(AirflowSkipException):
            gate(required_credits=1, never_fail=True, deferrable=deferrable).execute(CTX)


@pytest.mark.parametrize("body", INCONSISTENT_BODIES.values(), ids=INCONSISTENT_BODIES.keys())
def test_inconsistent_figures_never_pass_a_poke_it_waits_and_says_why(
    body: bytes, monkeypatch: pytest.MonkeyPatch, task_logs: Any
) -> None:
    with BodyServer(body) as server:
        monkeypatch.setenv("AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(server.url))
        result = gate(required_credits=50, pace=True).poke(CTX)
    assert result.is_done is False
    assert result.xcom_value is None
    assert server.requests == 1  # a bad body is not retried: the next poke looks again
    logs = task_logs()
    assert "not yet: could not read credits" in logs
    assert "inconsistent credit figures" in logs or "twice in one object" in logs


def test_an_unreachable_host_gets_one_hint_across_pokes(
    monkeypatch: pytest.MonkeyPatch, task_logs: Any
) -> None:
    with BodyServer(b"{}") as server:
        url = server.url  # refuses connections once the server is gone
    monkeypatch.setenv("AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(url, max_retries=0))
    sensor = gate(required_credits=1)
    for _ in range(5):
        assert sensor.poke(CTX).is_done is False
    logs = task_logs()
    assert logs.count("could not read credits") == 5
    assert logs.count("check the connection's Base URL (host)") == 1


def test_poke_mode_logs_a_repeated_decision_once(coinstats_conn: Sandbox, task_logs: Any) -> None:
    coinstats_conn.set_credits(used=99_000)
    sensor = gate(required_credits=5_000)
    for _ in range(5):
        assert sensor.poke(CTX).is_done is False
    assert task_logs().count("waiting: 1,000 credits left") == 1
