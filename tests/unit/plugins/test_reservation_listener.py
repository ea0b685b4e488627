"""The listener that ends reservations when the gated work finishes: task outcomes in the task
process, DAG run outcomes in the scheduler (in the scheduler's own session). Real sensors and
tasks in a real DAG; the Variable store and the scheduler's session are stood in for."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG, task

from airflow_provider_coinstats.common import reservations
from airflow_provider_coinstats.common.reservations import (
    VARIABLE_PREFIX,
    Claim,
    Ledger,
    holder_id,
)
from airflow_provider_coinstats.plugins import reservation_listener
from airflow_provider_coinstats.plugins.coinstats import CoinStatsPlugin
from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor
from tests.unit.common.test_reservations import DictStore


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> DictStore:
    shared = DictStore()
    monkeypatch.setattr(reservations, "VariableStore", lambda: shared)
    return shared


def build_dag() -> DAG:
    with DAG("d", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:

        @task
        def work() -> None: ...

        @task
        def report() -> None: ...

        gate = CreditBudgetSensor(task_id="gate", required_credits=5_000)
        check_only = CreditBudgetSensor(
            task_id="check_only", coinstats_conn_id="other", reserve_credits=False
        )
        gate >> [work(), report()]
        check_only >> report()
    return dag


def reserve(store: DictStore, gate: str, run_id: str, waiting_for: tuple[str, ...]) -> None:
    ledger = store.load("coinstats_default")
    Claim(holder_id("d", run_id, gate), "d", run_id, waiting_for).reserve_in(ledger, 5_000)
    store.save("coinstats_default", ledger)


def ti(dag: DAG, task_id: str, *, run_id: str = "r1", state: str = "success") -> Any:
    return SimpleNamespace(task=dag.get_task(task_id), dag_id="d", run_id=run_id, state=state)


def test_the_plugin_carries_the_listener() -> None:
    assert CoinStatsPlugin.name == "coinstats"
    assert reservation_listener in CoinStatsPlugin.listeners


def test_the_reservation_ends_when_every_downstream_task_has_finished(store: DictStore) -> None:
    dag = build_dag()
    reserve(store, "gate", "r1", ("report", "work"))
    reserve(store, "gate", "r2", ("report", "work"))  # another run of the same DAG

    reservation_listener.on_task_instance_success(None, ti(dag, "work"))
    assert store.load("coinstats_default").reservations[
        holder_id("d", "r1", "gate")
    ].waiting_for == ["report"]
    reservation_listener.on_task_instance_failed(None, ti(dag, "report", state="failed"), "boom")
    assert finished(store) == {holder_id("d", "r1", "gate")}  # r2's gate still waits for both


def finished(store: DictStore) -> set[str]:
    """The reservations whose work has finished (they end at the next reading)."""
    ledger = store.load("coinstats_default")
    return {h for h, r in ledger.reservations.items() if r.finished_at is not None}


def test_a_task_that_will_be_retried_keeps_the_reservation(store: DictStore) -> None:
    dag = build_dag()
    reserve(store, "gate", "r1", ("work",))
    reservation_listener.on_task_instance_failed(None, ti(dag, "work", state="up_for_retry"), "x")
    assert finished(store) == set()
    reservation_listener.on_task_instance_skipped(None, ti(dag, "work"))
    assert finished(store) == {holder_id("d", "r1", "gate")}


def test_a_listener_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def load(self, conn_id: str) -> Ledger:
            raise RuntimeError("no supervisor")

    monkeypatch.setattr(reservations, "VariableStore", Broken)
    reservation_listener.on_task_instance_success(None, ti(build_dag(), "work"))  # logs only


def test_an_ended_run_releases_every_reservation_of_its_gates_in_the_schedulers_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger = Ledger()
    for run_id in ("r1", "r2"):
        Claim(holder_id("d", run_id, "gate"), "d", run_id, ("work",)).reserve_in(ledger, 5_000)
    variable = SimpleNamespace(key=f"{VARIABLE_PREFIX}coinstats_default", val=ledger.to_json())
    statements: list[Any] = []

    class Session:
        def scalars(self, statement: Any) -> list[Any]:
            statements.append(statement)
            return [variable]

    session = Session()
    monkeypatch.setattr("sqlalchemy.orm.object_session", lambda obj: session)
    reservation_listener.on_dag_run_failed(SimpleNamespace(dag_id="d", run_id="r1"), "failed")

    after = Ledger.from_json(variable.val).reservations
    assert {h for h, r in after.items() if r.finished_at is not None} == {
        holder_id("d", "r1", "gate")
    }
    assert after[holder_id("d", "r2", "gate")].finished_at is None
    assert VARIABLE_PREFIX in str(statements[0].compile(compile_kwargs={"literal_binds": True}))
