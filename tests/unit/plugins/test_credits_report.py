"""The page's arithmetic: what it adds up from spend records, readings and waiting gates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_provider_coinstats.common.gate import required_credits_value
from airflow_provider_coinstats.plugins.credits_report import (
    Gate,
    connection_report,
    dag_report,
    parse_required,
    parse_spend,
)

START = datetime(2026, 12, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)


def spend_value(
    dag: str,
    task: str,
    credits: float,
    calls: int,
    *,
    conn: str = "coinstats_default",
    at: datetime = START + timedelta(days=2),
    state: str = "success",
) -> dict[str, Any]:
    return {
        "version": 1,
        "dag_id": dag,
        "task_id": task,
        "run_id": "r",
        "map_index": -1,
        "try_number": 1,
        "state": state,
        "ended_at": at.isoformat(),
        "credits": credits,
        "calls": calls,
        "connections": {
            conn: {
                "credits": credits,
                "calls": calls,
                "endpoints": {"GET /coins": {"calls": calls, "credits": credits}},
            }
        },
    }


def record(value: Any, *, run_id: str = "r1", map_index: int = -1) -> Any:
    parsed = parse_spend(
        value,
        dag_id=value["dag_id"],
        task_id=value["task_id"],
        run_id=run_id,
        map_index=map_index,
        timestamp=START,
    )
    assert parsed is not None
    return parsed


@dataclass(frozen=True)
class Point:
    at: datetime
    remaining: float
    used: float
    total: float
    subscription: str | None = "PRO"


def test_spend_is_summed_per_dag_task_and_endpoint_biggest_first() -> None:
    records = [
        record(spend_value("market", "pull", 10, 5), run_id="r1"),
        record(spend_value("market", "pull", 10, 5), run_id="r2"),
        record(spend_value("market", "usage", 0, 1), run_id="r1"),
        record(spend_value("wallets", "balances", 40, 1), run_id="r1"),
        record(spend_value("other", "t", 99, 1, conn="coinstats_other")),
    ]
    report = connection_report(
        "coinstats_default", period=(START, END), records=records, history=[], gates=[]
    )
    spend = report["spend"]
    assert (spend["credits"], spend["calls"]) == (60, 12)
    assert [(d["dag_id"], d["credits"], d["runs"]) for d in spend["by_dag"]] == [
        ("wallets", 40, 1),
        ("market", 20, 2),
    ]
    assert [(t["task_id"], t["credits"]) for t in spend["by_task"]] == [
        ("balances", 40),
        ("pull", 20),
        ("usage", 0),
    ]
    assert spend["by_endpoint"] == [{"endpoint": "GET /coins", "credits": 60, "calls": 12}]


def test_only_the_period_counts_and_a_failed_try_still_counts() -> None:
    records = [
        record(spend_value("d", "t", 7, 1, at=START - timedelta(seconds=1))),
        record(spend_value("d", "t", 5, 1, state="failed")),
        record(spend_value("d", "t", 3, 1, at=END)),
    ]
    spend = connection_report(
        "coinstats_default", period=(START, END), records=records, history=[], gates=[]
    )["spend"]
    assert (spend["credits"], spend["failed_credits"]) == (5, 5)


def test_plan_and_remaining_come_from_the_latest_reading_the_chart_from_the_period() -> None:
    history = [
        Point(START - timedelta(days=1), 500, 99_500, 100_000),
        Point(START + timedelta(days=1), 100_000, 0, 100_000),
        Point(START + timedelta(days=3), 80_000, 20_000, 100_000, "PRO"),
    ]
    report = connection_report("c", period=(START, END), records=[], history=history, gates=[])
    assert (report["plan"], report["remaining"], report["total"]) == ("PRO", 80_000, 100_000)
    assert report["history"] == [
        [(START + timedelta(days=1)).isoformat(), 100_000],
        [(START + timedelta(days=3)).isoformat(), 80_000],
    ]


def test_a_gate_shows_what_it_needs_and_how_far_short_it_is() -> None:
    gate = Gate(
        dag_id="d",
        task_id="wait",
        run_id="r",
        map_index=-1,
        state="up_for_reschedule",
        conn_id="c",
        required_credits=6,
        min_remaining_credits=500,
        waiting_since=START,
    )
    history = [Point(START + timedelta(hours=1), 100, 99_900, 100_000)]
    report = connection_report(
        "c",
        period=(START, END),
        records=[],
        history=history,
        gates=[gate, Gate(**{**gate.__dict__, "conn_id": "elsewhere"})],
    )
    [row] = report["gates"]
    assert (row["needs"], row["short_by"], row["state"]) == (506, 406, "up_for_reschedule")


def test_rendered_required_credits_are_priced_whatever_form_airflow_stored() -> None:
    plan = [{"method": "GET", "path": "/coins", "params": {"limit": 100}, "times": 3}]
    assert parse_required(plan, required_credits_value) == 6
    assert parse_required(str(plan), required_credits_value) == 6  # str() of a non-JSON value
    assert parse_required("2500", required_credits_value) == 2500
    assert parse_required("{{ nonsense", required_credits_value) is None


def test_values_in_another_format_are_skipped() -> None:
    for value in (None, "not json", {"version": 2}, {"version": 1, "connections": []}, [1]):
        assert (
            parse_spend(value, dag_id="d", task_id="t", run_id="r", map_index=-1, timestamp=START)
            is None
        )
    as_text = parse_spend(
        '{"version": 1, "connections": {"c": {"credits": 2, "calls": 1}}}',
        dag_id="d",
        task_id="t",
        run_id="r",
        map_index=-1,
        timestamp=START,
    )
    assert as_text is not None
    assert as_text.connections["c"][:2] == (2, 1)
    assert as_text.ended_at == START  # no ended_at: the XCom's own timestamp


def test_dag_report_lists_that_dags_spend_per_run_newest_first() -> None:
    records = [
        record(spend_value("market", "pull", 10, 5, at=START + timedelta(days=1)), run_id="a"),
        record(spend_value("market", "pull", 12, 6, at=START + timedelta(days=2)), run_id="b"),
        record(spend_value("market", "usage", 1, 1, at=START + timedelta(days=2)), run_id="b"),
        record(spend_value("wallets", "x", 40, 1)),
    ]
    report = dag_report("market", period=(START, END), records=records)
    assert report["connections"]["coinstats_default"]["credits"] == 23
    assert [(r["run_id"], r["credits"], r["calls"]) for r in report["runs"]] == [
        ("b", 13, 7),
        ("a", 10, 5),
    ]
