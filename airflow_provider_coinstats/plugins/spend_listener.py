"""The task listener that records a task's CoinStats spend when it ends.

Airflow calls these hooks in the task process (``airflow/sdk/execution_time/task_runner.py``):
``on_task_instance_running`` before ``execute`` and ``..._success`` / ``..._failed`` in its
finalizer, after ``execute`` returned or raised, so a task that fails half-way still records
what it spent. Loaded through the provider's plugin
(:mod:`airflow_provider_coinstats.plugins.coinstats`); this module stays light, as every task
process imports it: the recorder loads on the first task end that has spend to record.
"""

from __future__ import annotations

from typing import Any

from airflow.listeners import hookimpl


@hookimpl
def on_task_instance_running(previous_state: Any, task_instance: Any) -> None:
    # ``airflow dags test`` runs every task in one process: start each task's meter at zero.
    from airflow_provider_coinstats.common.spend import METER

    METER.reset()


@hookimpl
def on_task_instance_success(previous_state: Any, task_instance: Any) -> None:
    _record(task_instance, "success")


@hookimpl
def on_task_instance_failed(previous_state: Any, task_instance: Any, error: Any = None) -> None:
    _record(task_instance, "failed")


def _record(task_instance: Any, state: str) -> None:
    from airflow_provider_coinstats.common.spend import METER, record_task_end

    if METER.snapshot():  # most tasks never call CoinStats: import nothing more for them
        record_task_end(task_instance, state)
