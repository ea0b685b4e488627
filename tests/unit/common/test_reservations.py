"""Credit reservations: the ledger's rules (spent, finished, expired), the decision after what
others hold, and exactness among the deferred gates of one event loop, driven through real
triggers against the sandbox on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from airflow_provider_coinstats.api.models import CreditUsage
from airflow_provider_coinstats.common import polling
from airflow_provider_coinstats.common.gate import decide_and_reserve, gate_result
from airflow_provider_coinstats.common.reservations import (
    Claim,
    Ledger,
    holder_id,
    variable_key,
)
from airflow_provider_coinstats.credits.budget import CreditBudget
from airflow_provider_coinstats.testing.sandbox import Sandbox
from tests.unit.common.gate_helpers import CREDITS, trigger, until

NOW = time.time()  # reservations made by claim() use the real clock


def usage(used: float, total: float = 100_000) -> CreditUsage:
    return CreditUsage(
        total_credits=total, used_credits=used, remaining_credits=total - used, subscription="PRO"
    )


def claim(n: int, *, run: str = "r1", waiting_for: tuple[str, ...] = ("work",)) -> Claim:
    return Claim(holder_id("d", run, f"gate_{n}"), "d", run, waiting_for, timeout=600)


class DictStore:
    """The Variable store's stand-in: one JSON text per connection, as Airflow keeps it."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}
        self.saves = 0

    def load(self, conn_id: str) -> Ledger:
        return Ledger.from_json(self.texts.get(conn_id))

    def save(self, conn_id: str, ledger: Ledger) -> None:
        self.saves += 1
        self.texts[conn_id] = ledger.to_json()


# -- the ledger ------------------------------------------------------------------------------


def test_a_rise_in_used_credits_ends_the_oldest_reservations_first_and_shrinks_a_partial_one() -> (
    None
):
    ledger = Ledger()
    ledger.settle(10_000, now=NOW)
    for n in range(3):
        claim(n).reserve_in(ledger, 5_000)
        ledger.reservations[claim(n).holder].made_at = NOW + n  # oldest first
    assert ledger.held_by_others("nobody") == (15_000, 3)

    assert ledger.settle(17_000, now=NOW + 10)  # 7,000 spent: the first ends, the second shrinks
    held = {h: r.credits for h, r in ledger.reservations.items()}
    assert held == {claim(1).holder: 3_000, claim(2).holder: 5_000}
    assert not ledger.settle(17_000, now=NOW + 11)  # the same reading again: nothing new
    assert ledger.held_by_others(claim(2).holder) == (3_000, 1)  # a gate never counts itself


def test_a_reservation_expires_after_its_timeout() -> None:
    ledger = Ledger()
    ledger.settle(0, now=NOW)
    ledger.reserve("g", 5_000, timeout=600, now=NOW)
    assert not ledger.settle(0, now=NOW + 599)
    assert ledger.settle(0, now=NOW + 600)
    assert ledger.reservations == {}


def test_a_new_billing_period_keeps_reservations_and_restarts_the_count() -> None:
    ledger = Ledger()
    ledger.settle(90_000, now=NOW)
    ledger.reserve("g", 5_000, timeout=600, now=NOW)
    ledger.settle(0, now=NOW + 1)  # usage reset: nothing was spent on our account
    assert ledger.reservations["g"].credits == 5_000
    ledger.settle(4_000, now=NOW + 2)
    assert ledger.reservations["g"].credits == 1_000


def test_finished_work_releases_its_reservation_at_the_first_reading_sent_after_it() -> None:
    ledger = Ledger()
    claim(0, waiting_for=("a", "b")).reserve_in(ledger, 5_000)
    claim(1, run="r2").reserve_in(ledger, 5_000)
    ledger.settle(20_000, read_at=NOW)
    assert ledger.task_finished("d", "r1", "a", now=NOW + 10)
    assert ledger.reservations[claim(0).holder].finished_at is None  # still waiting for b
    assert not ledger.task_finished("d", "r1", "unrelated", now=NOW + 10)
    assert ledger.task_finished("d", "r1", "b", now=NOW + 10)
    assert ledger.run_ended("d", "r2", now=NOW + 10)
    # A reading sent before the work finished may not show its spend: both still hold.
    ledger.settle(20_000, now=NOW + 12, read_at=NOW + 9)
    assert ledger.held_by_others("nobody") == (10_000, 2)
    # The first reading sent after it does: both end.
    assert ledger.settle(20_000, now=NOW + 12, read_at=NOW + 11)
    assert ledger.reservations == {}


def test_a_rise_is_taken_off_finished_reservations_first() -> None:
    """The spend of finished work must not eat the reservation of work still running (which
    would then look paid for, and let another gate pass on its credits)."""
    ledger = Ledger()
    claim(0, run="running").reserve_in(ledger, 5_000)  # the oldest, its work still running
    claim(1, run="done").reserve_in(ledger, 5_000)
    ledger.settle(20_000, read_at=NOW)
    ledger.run_ended("d", "done", now=NOW + 10)
    ledger.settle(25_000, now=NOW + 12, read_at=NOW + 11)  # the finished work spent 5,000
    assert ledger.held_by_others("nobody") == (5_000, 1)
    assert ledger.reservations[claim(0, run="running").holder].credits == 5_000


def test_the_ledger_round_trips_through_json_and_ignores_a_broken_variable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ledger = Ledger()
    ledger.settle(1_234, now=NOW)
    claim(0).reserve_in(ledger, 5_000)
    assert Ledger.from_json(ledger.to_json()) == ledger
    for broken in ("{not json", '{"reservations": [{"holder": "x"}]}', '{"seen_used": "lots"}'):
        assert Ledger.from_json(broken) == Ledger()
    assert "unreadable credit reservation ledger" in caplog.text
    assert variable_key("coinstats_default") == "coinstats_reservations__coinstats_default"


# -- deciding after what others hold ---------------------------------------------------------


def test_k_gates_on_one_reading_admit_floor_of_free_over_required() -> None:
    ledger = Ledger()
    reading = usage(used=100_000 - 17_000)  # 17,000 free
    budget = CreditBudget(required_credits=5_000)
    outcomes = [decide_and_reserve(budget, reading, ledger, claim(n)) for n in range(7)]
    assert [decision.passed for decision, _ in outcomes] == [True] * 3 + [False] * 4
    assert [reserved for _, reserved in outcomes] == [5_000] * 3 + [0] * 4
    assert outcomes[3][0].reason == (
        "waiting: 17,000 credits left, 15,000 reserved by 3 other gates, need 5,000 + reserve 0"
    )


def test_the_xcom_and_the_reason_say_what_was_reserved_and_what_others_hold() -> None:
    ledger = Ledger()
    ledger.reserve("other", 5_000, timeout=600)
    decision, reserved = decide_and_reserve(
        CreditBudget(required_credits=5_000), usage(88_000), ledger, claim(0)
    )
    result = gate_result(usage(88_000), decision, pendulum_now(), reserved)
    assert result["reason"] == (
        "passed: 12,000 credits left, 5,000 reserved by 1 other gate, need 5,000 + reserve 0; "
        "reserved 5,000"
    )
    assert (result["reserved_by_others"], result["reserving_gates"]) == (5_000, 1)
    assert result["reserved_credits"] == 5_000
    json.dumps(result)


def test_reserve_and_pace_rules_apply_after_reservations() -> None:
    ledger = Ledger()
    ledger.reserve("other", 5_000, timeout=600)
    budget = CreditBudget(required_credits=1_000, min_remaining_credits=5_000)
    decision, _ = decide_and_reserve(budget, usage(90_000), ledger, claim(0))
    assert not decision.passed  # 10,000 left - 5,000 held - 1,000 < 5,000 reserve
    assert decision.reason.startswith("waiting: 10,000 credits left, 5,000 reserved by 1")


def test_without_a_ledger_a_gate_only_checks() -> None:
    decisions = [
        decide_and_reserve(CreditBudget(required_credits=5_000), usage(83_000), None, None)
        for _ in range(7)
    ]
    assert all(decision.passed for decision, _ in decisions)  # today's behaviour, opted into


def pendulum_now() -> Any:
    import pendulum

    return pendulum.now("UTC")


# -- exact among the deferred gates of one event loop ---------------------------------------


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> DictStore:
    shared = DictStore()
    monkeypatch.setattr(polling, "VariableStore", lambda: shared)
    return shared


@pytest.fixture(autouse=True)
def _no_leaked_pollers() -> Any:
    yield
    assert polling.active_pollers() == []


async def test_seven_deferred_gates_needing_5000_on_17000_free_admit_three_at_a_time(
    coinstats_conn: Sandbox, store: DictStore
) -> None:
    coinstats_conn.set_credits(used=100_000 - 17_000)
    gates = [
        trigger(required_credits=5_000, poke_interval=0.1, reservation=claim(n).to_kwargs())
        for n in range(7)
    ]
    passed: list[int] = []

    async def run(n: int) -> None:
        async for event in gates[n].run():
            assert event.payload["status"] == "success", event.payload
            passed.append(n)

    tasks = [asyncio.create_task(run(n)) for n in range(7)]
    try:
        await until(lambda: len(passed) == 3)
        # Several more shared readings: nobody else passes while the three hold their credits.
        seen = coinstats_conn.count(path=CREDITS)
        await until(lambda: coinstats_conn.count(path=CREDITS) >= seen + 3)
        assert len(passed) == 3
        stored = store.load("coinstats_default")
        assert sorted(stored.reservations) == sorted(claim(n).holder for n in passed)
        assert stored.held_by_others("nobody") == (15_000, 3)

        # The gated work of the three finished (what the listener writes): three more pass.
        finished = store.load("coinstats_default")
        assert finished.task_finished("d", "r1", "work")  # the three gates' downstream task
        store.save("coinstats_default", finished)
        await until(lambda: len(passed) == 6)
        seen = coinstats_conn.count(path=CREDITS)
        await until(lambda: coinstats_conn.count(path=CREDITS) >= seen + 3)
        assert len(passed) == 6  # the seventh still waits: 17,000 cover three
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await until(lambda: polling.active_pollers() == [])


async def test_spent_credits_end_the_reservations_and_the_rest_decide_on_the_new_balance(
    coinstats_conn: Sandbox, store: DictStore
) -> None:
    coinstats_conn.set_credits(used=90_000)  # 10,000 free: two of four
    gates = [
        trigger(required_credits=5_000, poke_interval=0.1, reservation=claim(n).to_kwargs())
        for n in range(4)
    ]
    passed: list[dict[str, Any]] = []

    async def run(n: int) -> None:
        async for event in gates[n].run():
            passed.append(event.payload["result"])

    tasks = [asyncio.create_task(run(n)) for n in range(4)]
    try:
        await until(lambda: len(passed) == 2)
        assert [r["reserved_credits"] for r in passed] == [5_000, 5_000]
        # The second to decide saw the first's reservation (events may arrive in either order).
        assert sorted(r["reserved_by_others"] for r in passed) == [0, 5_000]
        # The two spend what they reserved, and the account is topped up by 10,000 more.
        coinstats_conn.set_credits(used=100_000, total=110_000)
        await until(lambda: len(passed) == 4)
        # The first two reservations ended as spent: the third saw nothing held.
        later = sorted(r["reason"] for r in passed[2:])
        assert later[0].startswith("passed: 10,000 credits left, 5,000 reserved by 1 other gate")
        assert later[1] == "passed: 10,000 credits left, need 5,000 + reserve 0; reserved 5,000"
        # The last two hold theirs: written back right after they reserved.
        await until(lambda: len(store.load("coinstats_default").reservations) == 2)
        assert store.load("coinstats_default").seen_used == 100_000
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def test_a_stale_reading_from_another_process_settles_nothing() -> None:
    ledger = Ledger()
    ledger.settle(10_000, now=NOW, read_at=NOW)
    ledger.reserve("g", 5_000, timeout=600, now=NOW)
    ledger.settle(15_000, now=NOW + 2, read_at=NOW + 2)  # spent: ended
    ledger.reserve("h", 5_000, timeout=600, now=NOW + 2)
    # A worker read 12,000 just before, and settles after: neither a new period nor a rise.
    assert not ledger.settle(12_000, now=NOW + 3, read_at=NOW + 1)
    assert ledger.seen_used == 15_000
    ledger.settle(16_000, now=NOW + 4, read_at=NOW + 4)
    assert ledger.reservations["h"].credits == 4_000  # the 1,000 rise counted once
    assert Ledger.from_json(ledger.to_json()) == ledger
