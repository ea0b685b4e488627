"""The spend meter and the task-end recorder: real HTTP to the sandbox through the hook."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_provider_coinstats.common import spend
from airflow_provider_coinstats.common.spend import (
    METER,
    SpendMeter,
    describe_spend,
    merge_failed_try,
    parse_failed_tries,
    record_task_end,
    spend_record,
)
from airflow_provider_coinstats.exceptions import CoinStatsError
from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook
from airflow_provider_coinstats.testing.sandbox import Fault, Sandbox

ENDED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _empty_meter() -> Any:
    METER.reset()
    yield
    METER.reset()


def charged(sandbox: Sandbox) -> float:
    return sum(record.credits for record in sandbox.requests)


class FakeTI:
    """The attributes of a RuntimeTaskInstance the recorder reads, and its XCom pushes."""

    dag_id = "dag"
    task_id = "task"
    run_id = "manual__1"
    map_index = -1
    try_number = 1

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def test_every_request_through_the_hook_is_priced_as_the_sandbox_charges(
    coinstats_conn: Sandbox,
) -> None:
    hook = CoinStatsHook()
    hook.request("GET", "/coins", params={"limit": 5})
    hook.request("GET", "/coins/bitcoin")
    hook.client.request(
        "GET", "/coins/charts", params={"coinIds": "bitcoin,ethereum", "period": "24h"}
    )
    hook.get_credit_usage()  # free: not spend

    tally = METER.snapshot()
    assert tally == {
        "coinstats_default": {
            "GET /coins": [1, 2],
            "GET /coins/{coinId}": [1, 1],
            "GET /coins/charts": [1, 6],
        }
    }
    assert sum(credits for _, credits in tally["coinstats_default"].values()) == charged(
        coinstats_conn
    )


def test_a_retried_503_is_counted_once_like_the_charge(coinstats_conn: Sandbox) -> None:
    coinstats_conn.inject(Fault("status", status=503, path="/coins", times=1))
    hook = CoinStatsHook()
    hook.request("GET", "/coins")
    assert coinstats_conn.count("/coins") == 2
    assert METER.snapshot() == {"coinstats_default": {"GET /coins": [1, 2]}}
    assert charged(coinstats_conn) == 2


def test_a_failing_call_costs_nothing_and_keeps_earlier_spend(coinstats_conn: Sandbox) -> None:
    hook = CoinStatsHook()
    hook.request("GET", "/coins")
    coinstats_conn.inject(Fault("status", status=400, path="/news"))
    with pytest.raises(CoinStatsError):
        hook.request("GET", "/news")
    assert METER.snapshot() == {"coinstats_default": {"GET /coins": [1, 2]}}
    assert charged(coinstats_conn) == 2


def test_the_record_has_the_agreed_format() -> None:
    tally = {"a": {"GET /coins": [3, 6], "GET /news": [1, 5]}, "b": {"GET /coins": [1, 2]}}
    record = spend_record(
        tally,
        dag_id="d",
        task_id="t",
        run_id="r",
        map_index=2,
        try_number=1,
        state="success",
        ended_at=ENDED,
    )
    assert record == {
        "version": 1,
        "dag_id": "d",
        "task_id": "t",
        "run_id": "r",
        "map_index": 2,
        "try_number": 1,
        "state": "success",
        "ended_at": "2026-12-01T12:00:00+00:00",
        "credits": 13,
        "calls": 5,
        "connections": {
            "a": {
                "credits": 11,
                "calls": 4,
                "endpoints": {
                    "GET /coins": {"calls": 3, "credits": 6},
                    "GET /news": {"calls": 1, "credits": 5},
                },
            },
            "b": {
                "credits": 2,
                "calls": 1,
                "endpoints": {"GET /coins": {"calls": 1, "credits": 2}},
            },
        },
    }
    assert json.loads(json.dumps(record)) == record
    assert describe_spend(record) == (
        "spent 13 credits in 5 calls on a, b: GET /coins x4, GET /news x1"
    )


def test_the_log_line_for_one_connection() -> None:
    record = spend_record(
        {"c": {"GET /coins": [3, 126]}},
        dag_id="d",
        task_id="t",
        run_id="r",
        map_index=-1,
        try_number=1,
        state="success",
        ended_at=ENDED,
    )
    assert describe_spend(record) == "spent 126 credits in 3 calls: GET /coins x3"


def test_task_end_pushes_logs_and_drains(
    coinstats_conn: Sandbox, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted: list[tuple[str, Any, Any]] = []

    class Stats:
        @staticmethod
        def incr(name: str, count: Any = 1, rate: Any = 1, *, tags: Any = None) -> None:
            counted.append((name, count, tags))

    monkeypatch.setattr("airflow_provider_coinstats.common.metrics._stats", lambda: Stats)
    hook = CoinStatsHook()
    for _ in range(3):
        hook.request("GET", "/coins")
    ti = FakeTI()
    caplog.set_level("INFO", logger=spend.__name__)
    record = record_task_end(ti, "success")
    assert record is not None
    assert ti.pushed == {"coinstats_spend": record}
    assert record["credits"] == charged(coinstats_conn) == 6
    assert record["calls"] == 3
    assert "spent 6 credits in 3 calls: GET /coins x3" in caplog.text
    tags = {"conn_id": "coinstats_default", "dag_id": "dag", "task_id": "task"}
    assert ("coinstats.credits.spent", 6, tags) in counted
    assert ("coinstats.credits.calls", 3, tags) in counted
    assert METER.snapshot() == {}
    assert record_task_end(FakeTI(), "success") is None  # nothing new: no record


def test_a_broken_xcom_push_never_fails_the_task(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(FakeTI):
        def xcom_push(self, key: str, value: Any) -> None:
            raise RuntimeError("supervisor gone")

    meter = SpendMeter()
    meter.add("c", "GET /coins", 2)
    record = record_task_end(Broken(), "success", meter=meter)
    assert record is not None and record["credits"] == 2
    assert "could not push the spend record" in caplog.text


def test_failed_try_ledger_merges_idempotently_and_stays_bounded() -> None:
    def rec(try_number: int, ended: datetime, credits: int = 2) -> dict[str, Any]:
        return spend_record(
            {"c": {"GET /coins": [1, credits]}},
            dag_id="d",
            task_id="t",
            run_id="r",
            map_index=-1,
            try_number=try_number,
            state="failed",
            ended_at=ended,
        )

    old = rec(1, ENDED - timedelta(days=500))
    records = merge_failed_try([old], rec(2, ENDED), ENDED)
    assert [r["try_number"] for r in records] == [2]  # the 500-day-old one aged out
    records = merge_failed_try(records, rec(2, ENDED, credits=4), ENDED)
    assert [(r["try_number"], r["credits"]) for r in records] == [(2, 4)]
    many: list[dict[str, Any]] = []
    for n in range(spend.FAILED_TRIES_KEEP + 5):
        many = merge_failed_try(many, rec(n, ENDED + timedelta(seconds=n)), ENDED)
    assert len(many) == spend.FAILED_TRIES_KEEP
    assert many[-1]["try_number"] == spend.FAILED_TRIES_KEEP + 4
    assert parse_failed_tries("not json") == []
    assert parse_failed_tries(json.dumps({"version": 1, "records": many[:2]})) == many[:2]


def test_the_listener_is_registered_through_the_plugin_entry_point() -> None:
    from importlib.metadata import entry_points

    from airflow.sdk.listener import get_listener_manager

    from airflow_provider_coinstats.plugins import spend_listener
    from airflow_provider_coinstats.plugins.coinstats import CoinStatsPlugin

    (point,) = [e for e in entry_points(group="airflow.plugins") if e.name == "coinstats"]
    assert point.load() is CoinStatsPlugin
    assert CoinStatsPlugin.name == "coinstats"
    assert spend_listener in CoinStatsPlugin.listeners
    # The task runner's own listener manager loads it (what task processes call).
    assert spend_listener in get_listener_manager().pm.get_plugins()


def test_the_listener_resets_at_task_start_and_records_at_task_end(
    coinstats_conn: Sandbox,
) -> None:
    from airflow_provider_coinstats.plugins import spend_listener

    METER.add("coinstats_default", "GET /coins", 2)  # left over from an earlier task
    ti = FakeTI()
    spend_listener.on_task_instance_running(previous_state=None, task_instance=ti)
    CoinStatsHook().request("GET", "/fiats")
    spend_listener.on_task_instance_failed(previous_state=None, task_instance=ti, error=None)
    record = ti.pushed["coinstats_spend"]
    assert (record["credits"], record["calls"], record["state"]) == (1, 1, "failed")
