"""The credits page's reads from Airflow's metadata DB, through its ORM (SQLite and Postgres alike).

Runs inside the api-server, in the session FastAPI hands the route. Three reads:
:func:`spend_records` (the ``coinstats_spend`` XComs of a period, with the failed tries'
ledger), :func:`waiting_gates`
(CreditBudgetSensor task instances waiting now, with their rendered fields) and
:func:`known_connections` (CoinStats connections in the DB). Readings history is
``common.readings``' (one Variable per connection), read here in the same session.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.models.connection import Connection
from airflow.models.renderedtifields import RenderedTaskInstanceFields
from airflow.models.taskinstance import TaskInstance
from airflow.models.variable import Variable
from airflow.models.xcom import XComModel
from sqlalchemy import and_, select

from airflow_provider_coinstats.common import readings
from airflow_provider_coinstats.common.gate import required_credits_value
from airflow_provider_coinstats.common.params import credits_param
from airflow_provider_coinstats.common.readings import HistoryPoint
from airflow_provider_coinstats.common.spend import FAILED_TRIES_VARIABLE, parse_failed_tries
from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook
from airflow_provider_coinstats.plugins.credits_report import (
    SPEND_KEY,
    WAITING_STATES,
    Gate,
    SpendRecord,
    parse_required,
    parse_spend,
    unique_tries,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

#: The operator name Airflow stores for our gate's task instances.
GATE_OPERATOR = "CreditBudgetSensor"


def spend_records(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    dag_ids: Collection[str] | None = None,
) -> list[SpendRecord]:
    """The spend XComs written in ``[since, until)``; only ``dag_ids`` when given (what the user
    may read). Only the period's rows are read, so a year of history costs one
    billing period's worth."""
    query = select(
        XComModel.dag_id,
        XComModel.task_id,
        XComModel.run_id,
        XComModel.map_index,
        XComModel.timestamp,
        XComModel.value,
    ).where(
        XComModel.key == SPEND_KEY,
        XComModel.timestamp >= since,
        XComModel.timestamp < until,
    )
    if dag_ids is not None:
        query = query.where(XComModel.dag_id.in_(list(dag_ids)))
    records = failed_tries(session, since=since, until=until, dag_ids=dag_ids)
    for dag_id, task_id, run_id, map_index, timestamp, value in session.execute(query):
        record = parse_spend(
            value,
            dag_id=dag_id,
            task_id=task_id,
            run_id=run_id,
            map_index=map_index,
            timestamp=timestamp,
        )
        if record is not None:
            records.append(record)
    return unique_tries(records)


def failed_tries(
    session: Session, *, since: datetime, until: datetime, dag_ids: Collection[str] | None
) -> list[SpendRecord]:
    """Failed tries' spend from ``common.spend``'s ledger Variable: Airflow clears a task's
    XComs when its next try starts, so a retried try is only there."""
    row = session.scalars(select(Variable).where(Variable.key == FAILED_TRIES_VARIABLE)).first()
    records = []
    for value in parse_failed_tries(None if row is None else row.val):
        if dag_ids is not None and value.get("dag_id") not in dag_ids:
            continue
        try:
            record = parse_spend(
                value,
                dag_id=str(value["dag_id"]),
                task_id=str(value["task_id"]),
                run_id=str(value["run_id"]),
                map_index=int(value["map_index"]),
                timestamp=since,
            )
        except (KeyError, TypeError, ValueError):
            continue  # a damaged entry: skip it, keep the page
        if record is not None and since <= record.ended_at < until:
            records.append(record)
    return records


def waiting_gates(session: Session, *, dag_ids: Collection[str] | None = None) -> list[Gate]:
    """CreditBudgetSensor task instances waiting now (deferred, up for reschedule, or poking),
    with what their rendered fields say they need."""
    query = (
        select(
            TaskInstance.dag_id,
            TaskInstance.task_id,
            TaskInstance.run_id,
            TaskInstance.map_index,
            TaskInstance.state,
            TaskInstance.start_date,
            RenderedTaskInstanceFields.rendered_fields,
        )
        .outerjoin(
            RenderedTaskInstanceFields,
            and_(
                RenderedTaskInstanceFields.dag_id == TaskInstance.dag_id,
                RenderedTaskInstanceFields.task_id == TaskInstance.task_id,
                RenderedTaskInstanceFields.run_id == TaskInstance.run_id,
                RenderedTaskInstanceFields.map_index == TaskInstance.map_index,
            ),
        )
        .where(
            TaskInstance.operator == GATE_OPERATOR,
            TaskInstance.state.in_(WAITING_STATES),
        )
        .order_by(TaskInstance.start_date)
    )
    if dag_ids is not None:
        query = query.where(TaskInstance.dag_id.in_(list(dag_ids)))
    gates = []
    for dag_id, task_id, run_id, map_index, state, started, fields in session.execute(query):
        rendered: dict[str, Any] = fields if isinstance(fields, dict) else {}
        gates.append(
            Gate(
                dag_id=dag_id,
                task_id=task_id,
                run_id=run_id,
                map_index=map_index,
                state=str(getattr(state, "value", state)),
                conn_id=str(rendered.get("coinstats_conn_id") or CoinStatsHook.default_conn_name),
                required_credits=parse_required(
                    rendered.get("required_credits"), required_credits_value
                ),
                min_remaining_credits=_reserve(rendered.get("min_remaining_credits")),
                waiting_since=started,
            )
        )
    return gates


def known_connections(session: Session) -> list[str]:
    """The CoinStats connections stored in the DB or with a readings history (connections from
    environment variables or a secrets backend also show up through their spend or gates)."""
    stored = session.scalars(
        select(Connection.conn_id).where(Connection.conn_type == CoinStatsHook.conn_type)
    )
    histories = session.scalars(
        select(Variable.key).where(Variable.key.startswith(readings.VARIABLE_PREFIX))
    )
    prefix = len(readings.VARIABLE_PREFIX)
    return sorted({*stored, *(key[prefix:] for key in histories)})


class OrmVariableStore:
    """The readings history's Variables read in the api-server's own session (the Task SDK's
    ``Variable`` is for task processes)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, key: str) -> str | None:
        row = self.session.scalars(select(Variable).where(Variable.key == key)).first()
        return None if row is None else row.val

    def set(self, key: str, value: str) -> None:
        raise NotImplementedError("the credits page only reads")


def load_history(session: Session, conn_id: str, *, since: datetime) -> list[HistoryPoint]:
    """The connection's credit readings since ``since``; empty when none (or only an unreadable
    Variable) are recorded."""
    try:
        return readings.load_history(conn_id, since=since, store=OrmVariableStore(session))
    except ValueError:  # someone else's value under our key: show no history, not an error
        return []


def _reserve(value: Any) -> float:
    try:
        return float(credits_param("min_remaining_credits", value) or 0)
    except Exception:  # an odd rendered value shows as no reserve, never breaks the page
        return 0.0
