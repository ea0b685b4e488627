"""A waiting gate's summary line carries the credit forecast from the readings it took."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_coinstats.api.models import CreditUsage
from airflow_provider_coinstats.common import readings
from airflow_provider_coinstats.common.gate import SUMMARY_EVERY_SECONDS, WaitLog, forecast_note
from airflow_provider_coinstats.credits.budget import CreditBudget
from tests.unit.common.test_gate import Clock, Lines

DEC_1 = datetime(2026, 12, 1, tzinfo=UTC)


class NoStore:
    def get(self, key: str) -> str | None:
        return None

    def set(self, key: str, value: str) -> None:
        pass


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    readings.reset_recording()
    yield
    readings.reset_recording()


def read(conn_id: str, at: datetime, remaining: int) -> None:
    usage = CreditUsage(100_000, 100_000 - remaining, remaining, "PRO")
    readings.record_reading(conn_id, usage, at, store=NoStore())


def test_the_summary_line_says_when_credits_run_out() -> None:
    # 30,000 left on 4 Dec, 2,000 a day gone: zero on 19 Dec, 13 days before 1 Jan.
    for day in range(4):
        read("c", DEC_1 + timedelta(days=day), 36_000 - 2_000 * day)
    log, clock = Lines(), Clock()
    waits = WaitLog("c", log, clock=clock, budget=CreditBudget(required_credits=50_000))
    waits.decision("waiting: 30,000 credits left, need 50,000")
    clock.now += SUMMARY_EVERY_SECONDS
    waits.decision("waiting: 30,000 credits left, need 50,000")
    assert log.lines[-1] == (
        "still waiting after 2 checks over 10 min: waiting: 30,000 credits left, need 50,000; "
        "at the current rate (2,000 credits/day) credits run out on 19 Dec, "
        "13 days before the period ends"
    )


def test_no_forecast_before_two_readings_and_the_billing_period_is_the_budgets() -> None:
    assert forecast_note("c", CreditBudget()) is None
    read("c", DEC_1 + timedelta(days=16), 30_000)
    assert forecast_note("c", CreditBudget()) is None
    read("c", DEC_1 + timedelta(days=17), 29_000)
    # Cycle day 20: the period ends 20 Dec, 29,000 left at 1,000 a day lasts past it.
    note = forecast_note("c", CreditBudget(billing_cycle_day=20))
    assert note is not None and "last past the period end (20 Dec)" in note
    assert forecast_note("other", CreditBudget()) is None


async def test_the_triggerers_poller_readings_feed_it_without_io() -> None:
    usage = CreditUsage(100_000, 10_000, 90_000, "PRO")
    await readings.arecord_reading("t", usage, DEC_1)  # no supervisor here: not written
    assert [p.remaining for p in readings.recent_readings("t")] == [90_000]
