"""Ends credit reservations when the gated work has finished, with no code from the user.

- In a task process, when a task succeeds, fails for good or skips itself, every credit gate
  directly upstream of it that reserved credits stops waiting for it; a gate whose downstream
  tasks have all finished releases its reservation.
- In the scheduler (or the API server, for a run marked by hand), when a DAG run succeeds or
  fails, every reservation its gates made ends: this also covers downstream tasks that were
  skipped or never ran, which no task process reports.

A listener never raises: a ledger that cannot be updated only ends later (spent credits or
``reservation_timeout``), and the task's own outcome must not depend on it.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.listeners import hookimpl

log = logging.getLogger(__name__)


@hookimpl
def on_task_instance_success(previous_state: Any, task_instance: Any) -> None:
    _task_finished(task_instance)


@hookimpl
def on_task_instance_failed(previous_state: Any, task_instance: Any, error: Any) -> None:
    if str(getattr(task_instance, "state", "")) == "up_for_retry":
        return  # it will run again: the credits are still needed
    _task_finished(task_instance)


@hookimpl
def on_task_instance_skipped(previous_state: Any, task_instance: Any) -> None:
    _task_finished(task_instance)


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    _run_ended(dag_run)


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    _run_ended(dag_run)


def _task_finished(task_instance: Any) -> None:
    """In the task process: release what the gates upstream of this task held for it."""
    try:
        task = getattr(task_instance, "task", None)
        dag = getattr(task, "dag", None)
        if task is None or dag is None or not task.upstream_task_ids:
            return
        from airflow_provider_coinstats.common.reservations import (
            Ledger,
            VariableStore,
            confirm_delay,
            update_ledger,
        )
        from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor

        conn_ids = set()
        for upstream_id in task.upstream_task_ids:
            gate = dag.get_task(upstream_id)
            conn_id = getattr(gate, "coinstats_conn_id", None)
            if (
                isinstance(gate, CreditBudgetSensor)
                and gate.reserve_credits
                and isinstance(conn_id, str)
                and "{{" not in conn_id  # a templated id is only known to the gate's run
            ):
                conn_ids.add(conn_id)
        store, delay = VariableStore(), confirm_delay()
        changed = False

        def finished(ledger: Ledger) -> bool:
            nonlocal changed
            changed = ledger.task_finished(task_instance.dag_id, task_instance.run_id, task.task_id)
            return changed

        for conn_id in sorted(conn_ids):
            # A fresh read only: a stale one written back could drop a gate's reservation.
            written = update_ledger(store, conn_id, finished, delay=delay)
            if written is None:
                log.warning(
                    "CoinStats credit reservations of connection %r: %s finished, but the "
                    "ledger could not be written on a fresh read; they end when spent or expired",
                    conn_id,
                    task,
                )
            elif changed:
                log.info(
                    "CoinStats credit reservations of connection %r: %s finished", conn_id, task
                )
    except Exception:
        log.warning("Could not release CoinStats credit reservations", exc_info=True)


def _run_ended(dag_run: Any) -> None:
    """In the scheduler: end every reservation the run's gates made, in the scheduler's own
    transaction (a second session would wait on SQLite's write lock that it holds)."""
    try:
        from airflow.models.variable import Variable
        from sqlalchemy import select
        from sqlalchemy.orm import object_session

        from airflow_provider_coinstats.common.reservations import VARIABLE_PREFIX, Ledger

        session = object_session(dag_run)
        if session is None:
            return
        stored = session.scalars(select(Variable).where(Variable.key.startswith(VARIABLE_PREFIX)))
        for variable in stored:
            ledger = Ledger.from_json(variable.val)
            if ledger.run_ended(dag_run.dag_id, dag_run.run_id):
                variable.val = ledger.to_json()
                log.info(
                    "CoinStats credit reservations: run %s of %s ended, released (%s)",
                    dag_run.run_id,
                    dag_run.dag_id,
                    variable.key,
                )
    except Exception:
        log.warning("Could not release CoinStats credit reservations", exc_info=True)
