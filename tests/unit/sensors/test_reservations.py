"""Reservations on the worker side: a poking gate reads the connection's ledger, decides after
what others hold, reserves when it passes and writes the ledger back; a deferring gate hands
the trigger who it is; ``reserve_credits=False`` only checks. Real HTTP to the sandbox; the
Airflow Variable is stood in for by a dict (its own round trip is tested end to end)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_coinstats.common import reservations
from airflow_provider_coinstats.common.reservations import Claim, Ledger
from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor, CreditGateFailure
from airflow_provider_coinstats.testing.sandbox import Sandbox
from tests.unit.common.test_reservations import DictStore


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> DictStore:
    shared = DictStore()
    monkeypatch.setattr(reservations, "VariableStore", lambda: shared)
    return shared


def context(task_id: str, run_id: str = "r1") -> Any:
    ti = SimpleNamespace(dag_id="d", run_id=run_id, task_id=task_id, map_index=-1)
    return {"ti": ti}


def gate(task_id: str, **kwargs: Any) -> CreditBudgetSensor:
    kwargs.setdefault("required_credits", 5_000)
    return CreditBudgetSensor(task_id=task_id, **kwargs)


def test_the_second_poking_gate_waits_for_what_the_first_reserved(
    coinstats_conn: Sandbox, store: DictStore
) -> None:
    coinstats_conn.set_credits(used=92_000)  # 8,000 free: one gate of 5,000
    first = gate("a").poke(context("a"))
    second = gate("b").poke(context("b"))

    assert first.is_done and not second.is_done
    assert first.xcom_value["reserved_credits"] == 5_000
    assert first.xcom_value["reason"].endswith("; reserved 5,000")
    assert second.xcom_value["reason"] == (
        "waiting: 8,000 credits left, 5,000 reserved by 1 other gate, need 5,000 + reserve 0"
    )
    assert second.xcom_value["reserved_credits"] == 0
    ledger = store.load("coinstats_default")
    assert list(ledger.reservations) == ["d/r1/a/-1"]
    assert ledger.reservations["d/r1/a/-1"].credits == 5_000

    # The first gate's work spent its 5,000, and a top-up brought 5,000 more.
    coinstats_conn.set_credits(used=97_000, total=105_000)
    assert gate("b").poke(context("b")).is_done
    assert list(store.load("coinstats_default").reservations) == ["d/r1/b/-1"]


def test_a_gate_that_pokes_again_does_not_wait_for_itself(
    coinstats_conn: Sandbox, store: DictStore
) -> None:
    coinstats_conn.set_credits(used=92_000)
    assert gate("a").poke(context("a")).is_done
    again = gate("a").poke(context("a"))  # e.g. the task is retried
    assert again.is_done
    assert again.xcom_value["reserved_by_others"] == 0


def test_reserve_credits_false_only_checks(coinstats_conn: Sandbox, store: DictStore) -> None:
    coinstats_conn.set_credits(used=92_000)
    results = [gate(n, reserve_credits=False).poke(context(n)).is_done for n in ("a", "b", "c")]
    assert results == [True, True, True]
    assert store.texts == {}  # no Variable traffic at all


def test_a_deferring_gate_hands_the_trigger_its_claim(
    coinstats_conn: Sandbox, store: DictStore
) -> None:
    coinstats_conn.set_credits(used=99_000)
    sensor = gate("a", deferrable=True, poke_interval=30, reservation_timeout=120)
    sensor.downstream_task_ids.update({"work", "report"})
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context("a"))
    _, kwargs = deferred.value.trigger.serialize()
    assert Claim.from_kwargs(kwargs["reservation"]) == Claim(
        "d/r1/a/-1", "d", "r1", ("report", "work"), 120.0
    )


def test_a_bad_reservation_timeout_fails_the_gate_naming_it(
    coinstats_conn: Sandbox, store: DictStore
) -> None:
    with pytest.raises(CreditGateFailure, match="reservation_timeout must be"):
        gate("a", reservation_timeout="soon").poke(context("a"))


def test_a_ledger_that_cannot_be_read_leaves_the_gate_checking(
    coinstats_conn: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken:
        def load(self, conn_id: str) -> Ledger:
            raise RuntimeError("no supervisor")

        def save(self, conn_id: str, ledger: Ledger) -> None:
            raise RuntimeError("no supervisor")

    monkeypatch.setattr(reservations, "VariableStore", Broken)
    assert gate("a").poke(context("a")).is_done  # 55,000 free: passes on the balance alone
