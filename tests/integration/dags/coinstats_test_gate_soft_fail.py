"""Test DAG: a gate whose budget never arrives, with soft_fail: the gate and its downstream skip."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor

with DAG(
    dag_id="coinstats_test_gate_soft_fail",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
):
    gate = CreditBudgetSensor(
        task_id="wait_for_credits",
        required_credits=5_000,
        soft_fail=True,
        mode="reschedule",
        poke_interval=1,
        timeout=3,
    )

    @task
    def spend() -> str:
        return "must not run"

    gate >> spend()
