"""The confirmation that makes reservations exact across processes: writes only on a fresh read,
and a gate passes only once its reservation is still in the ledger ``reservation_confirm_delay``
seconds after its write. Poking gates race in threads against the sandbox on 127.0.0.1, with a
store that makes every gate read the ledger before any of them writes it (what two worker
processes deciding at the same moment do); deferred gates run as real triggers."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from airflow_provider_coinstats.common import polling, reservations
from airflow_provider_coinstats.common.reservations import (
    Ledger,
    confirm_delay,
    confirmed,
    update_ledger,
)
from airflow_provider_coinstats.testing.sandbox import Sandbox
from tests.unit.common.gate_helpers import CREDITS, trigger, until
from tests.unit.common.test_reservations import DictStore, claim
from tests.unit.sensors.test_reservations import context, gate

CONN = "coinstats_default"


class Clock:
    """A monotonic clock that the stores below move on by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class SlowReads(DictStore):
    def __init__(self, clock: Clock, takes: list[float]) -> None:
        super().__init__()
        self.clock, self.takes = clock, takes

    def load(self, conn_id: str) -> Ledger:
        self.clock.now += self.takes.pop(0) if self.takes else 0.0
        return super().load(conn_id)


def reserve_for(holder: str) -> Any:
    def change(ledger: Ledger) -> bool:
        ledger.reserve(holder, 5_000, timeout=600)
        return True

    return change


# -- the helpers -------------------------------------------------------------------------------


def test_a_write_on_a_fresh_read_lands() -> None:
    store = DictStore()
    written = update_ledger(store, CONN, reserve_for("g"), delay=5)
    assert written is not None and list(written.reservations) == ["g"]
    assert list(store.load(CONN).reservations) == ["g"] and store.saves == 1


def test_a_ledger_left_alone_is_not_written() -> None:
    store = DictStore()
    assert update_ledger(store, CONN, lambda ledger: False, delay=5) == Ledger()
    assert store.saves == 0


def test_a_slow_read_is_read_again_and_never_written_on(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    store = SlowReads(clock, takes=[2.5, 0.1])  # 5 s delay: a read may take 2 s
    written = update_ledger(store, CONN, reserve_for("g"), delay=5, clock=clock)
    assert written is not None and store.saves == 1
    assert "took 2.5 s, over 2.0 s: reading again" in caplog.text


def test_when_every_read_is_slow_nothing_is_written() -> None:
    clock = Clock()
    store = SlowReads(clock, takes=[3.0, 3.0, 3.0])
    assert update_ledger(store, CONN, reserve_for("g"), delay=5, clock=clock) is None
    assert store.saves == 0


def test_a_write_that_lands_late_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()

    class SlowSave(DictStore):
        def save(self, conn_id: str, ledger: Ledger) -> None:
            clock.now += 4.5
            super().save(conn_id, ledger)

    update_ledger(SlowSave(), CONN, reserve_for("g"), delay=5, clock=clock)
    assert "took 4.5 s from its read, over the 4.0 s" in caplog.text


def test_without_confirmation_the_read_may_be_as_old_as_it_likes() -> None:
    clock = Clock()
    store = SlowReads(clock, takes=[60.0])
    assert update_ledger(store, CONN, reserve_for("g"), delay=0, clock=clock) is not None


def test_confirmed_reads_again_after_the_delay() -> None:
    store = DictStore()
    update_ledger(store, CONN, reserve_for("g"), delay=5)
    slept: list[float] = []
    assert confirmed(store, CONN, "g", delay=5, sleep=slept.append)
    assert slept == [5]
    store.save(CONN, Ledger())  # another process's write, made on a read from before g's
    assert not confirmed(store, CONN, "g", delay=5, sleep=slept.append)
    assert confirmed(store, CONN, "g", delay=0, sleep=slept.append)  # off: no read, no wait
    assert slept == [5, 5]


def test_a_ledger_that_cannot_be_read_back_is_not_confirmed() -> None:
    class Gone(DictStore):
        def load(self, conn_id: str) -> Ledger:
            raise RuntimeError("api-server down")

    assert not confirmed(Gone(), CONN, "g", delay=1, sleep=lambda _: None)


def test_the_delay_comes_from_airflow_config(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("AIRFLOW__COINSTATS__RESERVATION_CONFIRM_DELAY")
    assert confirm_delay() == 5.0
    monkeypatch.setenv("AIRFLOW__COINSTATS__RESERVATION_CONFIRM_DELAY", "12.5")
    assert confirm_delay() == 12.5
    monkeypatch.setenv("AIRFLOW__COINSTATS__RESERVATION_CONFIRM_DELAY", "-3")
    assert confirm_delay() == 0.0
    monkeypatch.setenv("AIRFLOW__COINSTATS__RESERVATION_CONFIRM_DELAY", "soon")
    assert confirm_delay() == 5.0
    assert "should be a number of seconds, got 'soon'" in caplog.text


# -- poking gates in separate threads, all reading before any writes ----------------------------


class SimultaneousReads(DictStore):
    """Holds the first ``n`` reads until all ``n`` have read, so that every one of those gates
    decides on the same ledger and the later writes drop the earlier ones' reservations."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(n, timeout=120)
        self._held = n

    def load(self, conn_id: str) -> Ledger:
        ledger = super().load(conn_id)
        with self._lock:
            hold, self._held = self._held > 0, self._held - 1
        if hold:
            self._barrier.wait()
        return ledger

    def save(self, conn_id: str, ledger: Ledger) -> None:
        with self._lock:
            super().save(conn_id, ledger)


def race(
    coinstats_conn: Sandbox, monkeypatch: pytest.MonkeyPatch, delay: float, n: int = 5
) -> tuple[list[str], SimultaneousReads]:
    """``n`` gates needing 5,000 poke at once on 10,000 free; the names of those that passed."""
    monkeypatch.setenv("AIRFLOW__COINSTATS__RESERVATION_CONFIRM_DELAY", str(delay))
    store = SimultaneousReads(n)
    monkeypatch.setattr(reservations, "VariableStore", lambda: store)
    coinstats_conn.set_credits(used=90_000)
    names = [f"g{i}" for i in range(n)]
    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(lambda name: gate(name).poke(context(name)), names))
    return [name for name, result in zip(names, results, strict=True) if result.is_done], store


def test_without_confirmation_simultaneous_gates_overspend(
    coinstats_conn: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    passed, _ = race(coinstats_conn, monkeypatch, delay=0)
    assert len(passed) == 5  # the race the confirmation closes: 25,000 admitted on 10,000


def test_with_confirmation_simultaneous_gates_admit_no_more_than_the_balance_covers(
    coinstats_conn: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 3 s: a read may take 1.2 s, generous for a loaded machine; the barrier's wait counts.
    passed, store = race(coinstats_conn, monkeypatch, delay=3)
    assert 1 <= len(passed) <= 2, passed  # the last writer's reservation stood
    assert sorted(store.load(CONN).reservations) == sorted(f"d/r1/{name}/-1" for name in passed)

    # The others poke again, one after another: they decide on what the passed ones hold.
    for name in (f"g{i}" for i in range(5)):
        if name not in passed and gate(name).poke(context(name)).is_done:
            passed.append(name)
    assert len(passed) == 2  # 10,000 free cover two gates of 5,000, and no more
    assert store.load(CONN).held_by_others("nobody") == (10_000, 2)


def test_a_poking_gate_whose_reservation_was_dropped_says_so_and_waits(
    coinstats_conn: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__COINSTATS__RESERVATION_CONFIRM_DELAY", "0.5")
    store = DictStore()
    monkeypatch.setattr(reservations, "VariableStore", lambda: store)
    real_confirmed = reservations.confirmed

    def dropped_while_waiting(*args: Any, **kwargs: Any) -> bool:
        # Another process writes a ledger it read before this gate's write, during the wait.
        return real_confirmed(*args, **kwargs, sleep=lambda _: store.save(CONN, Ledger()))

    monkeypatch.setattr(reservations, "confirmed", dropped_while_waiting)
    result = gate("a").poke(context("a"))
    assert not result.is_done
    assert result.xcom_value["reserved_credits"] == 0
    assert result.xcom_value["reason"] == (
        "waiting: the reservation of 5,000 was dropped by a ledger write made at the same "
        "moment in another process; deciding again at the next poke"
    )


# -- deferred gates: the triggerer confirms too --------------------------------------------------


@pytest.fixture(autouse=True)
def _no_leaked_pollers() -> Any:
    yield
    assert polling.active_pollers() == []


class DropsFirstWrite(DictStore):
    """Another triggerer's write, made on a read from before ours, lands right after our first
    write of ``holder`` and drops it."""

    def __init__(self, holder: str) -> None:
        super().__init__()
        self.holder, self.dropped = holder, False

    def save(self, conn_id: str, ledger: Ledger) -> None:
        super().save(conn_id, ledger)
        if not self.dropped and self.holder in ledger.reservations:
            self.dropped = True
            stale = Ledger.from_json(self.texts[conn_id])
            del stale.reservations[self.holder]
            super().save(conn_id, stale)


async def test_a_deferred_gate_whose_reservation_was_dropped_decides_again_and_then_passes(
    coinstats_conn: Sandbox, monkeypatch: pytest.MonkeyPatch, task_logs: Any
) -> None:
    monkeypatch.setenv("AIRFLOW__COINSTATS__RESERVATION_CONFIRM_DELAY", "0.5")
    holder = claim(0).holder
    store = DropsFirstWrite(holder)
    monkeypatch.setattr(polling, "VariableStore", lambda: store)
    coinstats_conn.set_credits(used=90_000)
    gate_trigger = trigger(required_credits=5_000, reservation=claim(0).to_kwargs())

    events = [event.payload async for event in gate_trigger.run()]

    assert store.dropped
    assert [e["status"] for e in events] == ["success"]
    assert "waiting: the reservation of 5,000 did not stand" in task_logs()  # undone
    assert list(store.load(CONN).reservations) == [holder]  # the second one stood
    await until(lambda: polling.active_pollers() == [])


async def test_a_deferred_gate_never_passes_on_a_write_made_on_a_slow_read(
    coinstats_conn: Sandbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AIRFLOW__COINSTATS__RESERVATION_CONFIRM_DELAY", "0.5")
    slow = threading.Event()
    slow.set()

    class Slow(DictStore):
        def load(self, conn_id: str) -> Ledger:
            if slow.is_set():
                threading.Event().wait(0.3)  # over the 0.2 s a read may take
            return super().load(conn_id)

    store = Slow()
    monkeypatch.setattr(polling, "VariableStore", lambda: store)
    coinstats_conn.set_credits(used=90_000)
    passed: list[dict[str, Any]] = []

    async def run() -> None:
        async for event in trigger(required_credits=5_000, reservation=claim(0).to_kwargs()).run():
            passed.append(event.payload)

    task = asyncio.create_task(run())
    try:
        seen = coinstats_conn.count(path=CREDITS)
        await until(lambda: coinstats_conn.count(path=CREDITS) >= seen + 3)
        assert passed == [] and store.saves == 0
        assert "reading again rather than writing on a stale read" in caplog.text
        slow.clear()  # the store is quick again
        await until(lambda: len(passed) == 1)
        assert passed[0]["status"] == "success"
        assert list(store.load(CONN).reservations) == [claim(0).holder]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await until(lambda: polling.active_pollers() == [])
