"""What the credits page shows, as plain JSON-ready data: no Airflow, no HTTP, no HTML.

The page's queries (:mod:`.credits_queries`) turn Airflow's metadata into the records below;
:func:`connection_report` and :func:`dag_report` add them up for one billing period. Everything
here is pure, so the arithmetic the page shows is tested without a database.
"""

from __future__ import annotations

import ast
import contextlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

K = TypeVar("K")

#: The XCom key a task's spend is recorded under (see common/spend.py).
SPEND_KEY = "coinstats_spend"
#: Task instance states in which a credit gate is waiting for credits.
WAITING_STATES = ("deferred", "up_for_reschedule", "running")
#: How many rows the per-task table and chart show; the rest are summed into one "other" row.
TOP_ROWS = 15


class Reading(Protocol):
    """One credit reading (``common.readings.HistoryPoint`` has these fields)."""

    @property
    def at(self) -> datetime: ...
    @property
    def remaining(self) -> float: ...
    @property
    def total(self) -> float: ...
    @property
    def subscription(self) -> str | None: ...


@dataclass(frozen=True)
class EndpointSpend:
    calls: float
    credits: float


@dataclass(frozen=True)
class SpendRecord:
    """One task try's ``coinstats_spend`` XCom, parsed."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    try_number: int
    ended_at: datetime
    state: str
    #: conn_id -> (credits, calls, endpoints)
    connections: Mapping[str, tuple[float, float, Mapping[str, EndpointSpend]]]


@dataclass(frozen=True)
class Gate:
    """A CreditBudgetSensor task instance waiting now, with its rendered parameters."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    state: str
    conn_id: str
    #: Rendered ``required_credits`` priced to a number; None when it could not be read.
    required_credits: float | None
    min_remaining_credits: float
    waiting_since: datetime | None


@dataclass
class _Sum:
    credits: float = 0.0
    calls: float = 0.0
    runs: set[tuple[str, int]] = field(default_factory=set)

    def add(self, credits: float, calls: float, run: tuple[str, int]) -> None:
        self.credits += credits
        self.calls += calls
        self.runs.add(run)


def parse_spend(
    value: Any, *, dag_id: str, task_id: str, run_id: str, map_index: int, timestamp: datetime
) -> SpendRecord | None:
    """A ``coinstats_spend`` XCom value as a record; None for a value in another format (the
    page skips what it cannot read rather than fail on one odd row)."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, Mapping) or value.get("version") != 1:
        return None
    raw = value.get("connections")
    if not isinstance(raw, Mapping):
        return None
    connections: dict[str, tuple[float, float, Mapping[str, EndpointSpend]]] = {}
    for conn_id, spent in raw.items():
        if not isinstance(spent, Mapping):
            return None
        endpoints = {
            str(name): EndpointSpend(_number(e.get("calls")), _number(e.get("credits")))
            for name, e in (spent.get("endpoints") or {}).items()
            if isinstance(e, Mapping)
        }
        connections[str(conn_id)] = (
            _number(spent.get("credits")),
            _number(spent.get("calls")),
            endpoints,
        )
    return SpendRecord(
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        map_index=map_index,
        try_number=int(_number(value.get("try_number"))),
        ended_at=_parse_time(value.get("ended_at")) or timestamp,
        state=str(value.get("state", "success")),
        connections=connections,
    )


def unique_tries(records: Iterable[SpendRecord]) -> list[SpendRecord]:
    """Each try once: a failed try is both in the failed-tries ledger and, until the next try
    starts, in XCom."""
    seen: dict[tuple[str, str, str, int, int], SpendRecord] = {}
    for r in records:
        seen.setdefault((r.dag_id, r.task_id, r.run_id, r.map_index, r.try_number), r)
    return list(seen.values())


def parse_required(rendered: Any, price: Callable[[Any], float]) -> float | None:
    """A gate's rendered ``required_credits`` as a number. Airflow stores rendered fields as
    JSON, or as their ``str()`` when they were not JSON-able; ``price`` turns a number, numeric
    string or planned-call list into credits (``common.gate.required_credits_value``)."""
    if isinstance(rendered, str):
        with contextlib.suppress(ValueError, SyntaxError):
            rendered = ast.literal_eval(rendered)
    try:
        return float(price(rendered))
    except Exception:  # an unreadable field shows as "unknown", never breaks the page
        return None


def connection_report(
    conn_id: str,
    *,
    period: tuple[datetime, datetime],
    records: Iterable[SpendRecord],
    history: Sequence[Reading],
    gates: Iterable[Gate],
    forecast: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the page shows for one connection in one billing period."""
    start, end = period
    in_period = [r for r in records if conn_id in r.connections and start <= r.ended_at < end]
    points = [p for p in history if start <= p.at < end]
    latest = history[-1] if history else None
    waiting = [g for g in gates if g.conn_id == conn_id]
    remaining = latest.remaining if latest else None
    return {
        "conn_id": conn_id,
        "plan": latest.subscription if latest else None,
        "remaining": remaining,
        "total": latest.total if latest else None,
        "read_at": _iso(latest.at) if latest else None,
        "period": {"start": _iso(start), "end": _iso(end)},
        "history": [[_iso(p.at), p.remaining] for p in points],
        "forecast": dict(forecast) if forecast else None,
        "spend": spend_summary(in_period, conn_id),
        "gates": [_gate_row(g, remaining) for g in waiting],
    }


def dag_report(
    dag_id: str, *, period: tuple[datetime, datetime], records: Iterable[SpendRecord]
) -> dict[str, Any]:
    """One DAG's spend in the period, per connection, task, run and endpoint."""
    start, end = period
    mine = [r for r in records if r.dag_id == dag_id and start <= r.ended_at < end]
    conn_ids = sorted({c for r in mine for c in r.connections})
    runs: dict[str, list[Any]] = {}  # run_id -> [credits, calls, last ended_at]
    for record in mine:
        row = runs.setdefault(record.run_id, [0.0, 0.0, record.ended_at])
        for credits, calls, _ in record.connections.values():
            row[0] += credits
            row[1] += calls
        row[2] = max(row[2], record.ended_at)
    return {
        "dag_id": dag_id,
        "period": {"start": _iso(start), "end": _iso(end)},
        "connections": {conn_id: spend_summary(mine, conn_id) for conn_id in conn_ids},
        "runs": [
            {"run_id": run_id, "credits": credits, "calls": calls, "ended_at": _iso(at)}
            for run_id, (credits, calls, at) in sorted(
                runs.items(), key=lambda kv: kv[1][2], reverse=True
            )
        ],
    }


def spend_summary(records: Iterable[SpendRecord], conn_id: str) -> dict[str, Any]:
    """Totals, and per DAG / task / endpoint, of what ``records`` spent on ``conn_id``."""
    total = _Sum()
    by_dag: dict[str, _Sum] = {}
    by_task: dict[tuple[str, str], _Sum] = {}
    by_endpoint: dict[str, _Sum] = {}
    failed = 0.0
    for record in records:
        if conn_id not in record.connections:
            continue
        credits, calls, endpoints = record.connections[conn_id]
        run = (record.run_id, record.map_index)
        total.add(credits, calls, run)
        by_dag.setdefault(record.dag_id, _Sum()).add(credits, calls, run)
        by_task.setdefault((record.dag_id, record.task_id), _Sum()).add(credits, calls, run)
        for name, spent in endpoints.items():
            by_endpoint.setdefault(name, _Sum()).add(spent.credits, spent.calls, run)
        if record.state == "failed":
            failed += credits
    return {
        "credits": total.credits,
        "calls": total.calls,
        "failed_credits": failed,
        "by_dag": [
            {
                "dag_id": dag,
                "credits": s.credits,
                "calls": s.calls,
                "runs": len({r for r, _ in s.runs}),
            }
            for dag, s in _ranked(by_dag)
        ],
        "by_task": [
            {
                "dag_id": dag,
                "task_id": task,
                "credits": s.credits,
                "calls": s.calls,
                "runs": len({r for r, _ in s.runs}),
            }
            for (dag, task), s in _ranked(by_task)
        ],
        "by_endpoint": [
            {"endpoint": name, "credits": s.credits, "calls": s.calls}
            for name, s in _ranked(by_endpoint)
        ],
    }


def _gate_row(gate: Gate, remaining: float | None) -> dict[str, Any]:
    need = None
    if gate.required_credits is not None:
        need = gate.required_credits + gate.min_remaining_credits
    short = None if need is None or remaining is None else max(0.0, need - remaining)
    return {
        "dag_id": gate.dag_id,
        "task_id": gate.task_id,
        "run_id": gate.run_id,
        "map_index": gate.map_index,
        "state": gate.state,
        "required_credits": gate.required_credits,
        "min_remaining_credits": gate.min_remaining_credits,
        "needs": need,
        "short_by": short,
        "waiting_since": _iso(gate.waiting_since) if gate.waiting_since else None,
    }


def _ranked(sums: Mapping[K, _Sum]) -> list[tuple[K, _Sum]]:
    """Biggest spender first; ties in name order so the page does not shuffle."""
    return sorted(sums.items(), key=lambda kv: (-kv[1].credits, str(kv[0])))


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _iso(moment: datetime) -> str:
    return moment.isoformat()
