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

from airflow_provider_coinstats.exceptions import (
    CoinStatsConfigError,
    CoinStatsConnectionError,
)
from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor
from airflow_provider_coinstats.testing.sandbox import Fault, Sandbox
from airflow_provider_coinstats.triggers.coinstats import CreditBudgetTrigger
from tests.conftest import TEST_KEY, connection_json

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
    with pytest.raises(AirflowFailException, match=r"PRO plan has only 100,000.*top up"):
        sensor.poke(CTX)


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
    with pytest.raises(CoinStatsConfigError, match="required_credits"):
        sensor.poke(CTX)


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
    with pytest.raises(AirflowFailException, match="rejected"):
        sensor.execute_complete(
            CTX,
            {
                "status": "error",
                "error": "CoinStatsAuthError",
                "message": "rejected",
                "fail_fast": True,
            },
        )
    with pytest.raises(CoinStatsConnectionError, match="gave up"):
        sensor.execute_complete(
            CTX,
            {
                "status": "error",
                "error": "CoinStatsConnectionError",
                "message": "gave up",
                "fail_fast": False,
            },
        )
    with pytest.raises(AirflowFailException, match="unexpected event"):
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


def test_deferrable_first_check_honours_soft_fail(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(sandbox.url, key="revoked-key-123")
    )
    with pytest.raises(AirflowSkipException, match=r"soft_fail.*rejected the API key"):
        gate(required_credits=1, deferrable=True, soft_fail=True).execute(CTX)
    with pytest.raises(AirflowFailException, match="rejected the API key"):
        gate(required_credits=1, deferrable=True).execute(CTX)
