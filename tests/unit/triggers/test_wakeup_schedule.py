"""Latency and cost of waiting deferred gates, on a fake clock: N triggers of one connection cost
one credit call per interval, no decision uses a reading older than the interval, and a gate
fires within one interval of the credits becoming sufficient.

The clock is a discrete-event one: it moves only when every trigger sleeps and no reading is in
flight, to the earliest wake-up, so the figures below are exact and no assert is about real time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import types
from typing import Any

import pytest

from airflow_provider_coinstats.api.models import CreditUsage
from airflow_provider_coinstats.common import polling
from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook
from airflow_provider_coinstats.triggers import coinstats as trigger_module
from tests.unit.common.gate_helpers import trigger

INTERVAL = 30.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, delay), next(self._order), future))
        await future

    def advance(self) -> None:
        """Wake the earliest sleepers (all with that same wake-up time)."""
        wake_at = self._sleepers[0][0]
        self.now = max(self.now, wake_at)
        while self._sleepers and self._sleepers[0][0] <= self.now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    @property
    def sleeping(self) -> int:
        return len(self._sleepers)


class FakeClient:
    """Answers ``/usage/credits`` at once: too few credits until ``free_at`` (fake time)."""

    def __init__(self, clock: FakeClock, free_at: float) -> None:
        self.clock, self.free_at = clock, free_at
        self.calls: list[float] = []
        self.config = types.SimpleNamespace(timeout=10.0, total_timeout=120.0)

    def get_credit_usage(self, retry: bool = True) -> CreditUsage:
        self.calls.append(self.clock.now)
        used = 50_000 if self.clock.now >= self.free_at else 99_000
        return CreditUsage(
            total_credits=100_000,
            used_credits=used,
            remaining_credits=100_000 - used,
            subscription="PRO",
        )

    def close(self) -> None:
        pass


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    fake_time = types.SimpleNamespace(monotonic=fake.monotonic)
    monkeypatch.setattr(polling, "time", fake_time)
    monkeypatch.setattr(trigger_module, "time", fake_time)
    monkeypatch.setattr(trigger_module, "asyncio", types.SimpleNamespace(sleep=fake.sleep))
    return fake


async def run_gates(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch, *, gates: int, free_at: float
) -> tuple[FakeClient, list[float], list[float]]:
    """Run ``gates`` triggers, deferred evenly over one interval, to the end; returns the
    client, each decision's reading age and each gate's firing time (fake seconds)."""
    client = FakeClient(clock, free_at)

    async def factory(conn_id: str) -> Any:
        return client

    monkeypatch.setattr(CoinStatsHook, "aclient", factory)
    ages: list[float] = []
    real_read = polling.SharedCreditPoller.read_reading

    async def read_reading(self: Any, max_age: float, newer_than: float | None = None) -> Any:
        reading = await real_read(self, max_age, newer_than)
        ages.append(clock.now - reading.monotonic_at)  # the trigger decides on it right away
        return reading

    monkeypatch.setattr(polling.SharedCreditPoller, "read_reading", read_reading)
    fired: list[float] = []

    async def run(gate: Any, offset: float) -> None:
        await clock.sleep(offset)  # deferred at different moments, as gates are
        async for event in gate.run():
            assert event.payload["status"] == "success", event.payload
            fired.append(clock.now)

    tasks = [
        asyncio.ensure_future(
            run(trigger(required_credits=5_000, poke_interval=INTERVAL), n * INTERVAL / gates)
        )
        for n in range(gates)
    ]
    loop = asyncio.get_running_loop()
    give_up = loop.time() + 120  # real seconds, generous: only against a hang
    while not all(task.done() for task in tasks):
        assert loop.time() < give_up, "the gates never finished"
        busy = any(p.busy for p in polling.active_pollers())
        live = sum(not task.done() for task in tasks)
        if clock.sleeping == live and live and not busy:
            clock.advance()
        await asyncio.sleep(0.001)  # real: lets the readings' threads and the loop run
    for task in tasks:
        task.result()
    return client, ages, fired


@pytest.mark.parametrize("gates", [1, 10, 100])
async def test_n_waiting_gates_cost_one_call_per_interval_and_never_decide_on_an_old_reading(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch, gates: int
) -> None:
    start = clock.now
    free_at = start + 10 * INTERVAL + 7  # between two readings
    client, ages, fired = await run_gates(clock, monkeypatch, gates=gates, free_at=free_at)

    assert len(fired) == gates
    # One call per interval for all the gates: readings are exactly one interval apart.
    gaps = [b - a for a, b in itertools.pairwise(client.calls)]
    assert gaps and all(gap == INTERVAL for gap in gaps), client.calls
    assert len(client.calls) == 11  # at start + 1, 2, ... 11 intervals (the first check waits one)
    # No decision on a reading older than the interval (the brief allows interval + 1 s).
    assert max(ages) <= INTERVAL
    # Every gate fires within one interval of the credits being there.
    assert all(0 <= moment - free_at <= INTERVAL for moment in fired), (free_at, fired)
