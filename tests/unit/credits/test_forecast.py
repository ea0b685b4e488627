"""The credit forecast: pure, from readings and the billing period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_coinstats.credits.forecast import forecast
from airflow_provider_coinstats.exceptions import CoinStatsConfigError

# 1 Dec 2026 00:00 UTC starts a December period that ends 1 Jan 2027 00:00 (cycle day 1).
DEC_1 = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass(frozen=True)
class R:
    at: datetime
    remaining: float


def daily(start: datetime, first: float, per_day: float, days: int) -> list[R]:
    return [R(start + timedelta(days=d), first - per_day * d) for d in range(days + 1)]


def test_no_readings() -> None:
    result = forecast([], now=DEC_1)
    assert result.status == "no_readings"
    assert result.runs_out_before_period_end is None
    assert result.period_end == datetime(2027, 1, 1, tzinfo=UTC)
    assert result.describe() == "no credit readings yet, so no forecast"


def test_one_reading_has_no_rate() -> None:
    result = forecast([R(DEC_1 + timedelta(days=2), 500)])
    assert result.status == "one_reading"
    assert result.burn_per_day is None and result.run_out_at is None
    assert result.describe() == "one credit reading so far: no burn rate yet"


def test_minutes_of_readings_are_not_projected_over_a_month() -> None:
    """A demo spends 12 credits in 5 minutes: at that rate 55,000 would last under 16 days, a
    forecast nobody should act on."""
    start = DEC_1 + timedelta(days=2)
    readings = [R(start, 55_000), R(start + timedelta(minutes=5), 54_988)]
    result = forecast(readings)
    assert result.status == "too_short"
    assert result.burn_per_day is None and result.runs_out_before_period_end is None
    assert result.describe() == (
        "2 credit readings over 5 min so far: too short to project a burn rate "
        "(a forecast needs 1 hour of readings)"
    )
    longer = [*readings, R(start + timedelta(hours=1), 54_900)]
    assert forecast(longer).status == "runs_out"  # an hour of readings is projected


def test_runs_out_before_the_period_ends() -> None:
    # 10,000 left on 4 Dec, falling 1,000 a day: zero on 14 Dec... measured over 3 days.
    readings = daily(DEC_1, 13_000, 1_000, 3)
    result = forecast(readings)
    assert result.status == "runs_out"
    assert result.burn_per_day == pytest.approx(1_000)
    assert result.run_out_at == datetime(2026, 12, 14, tzinfo=UTC)
    assert result.runs_out_before_period_end is True
    assert result.describe() == (
        "at the current rate (1,000 credits/day) credits run out on 14 Dec, "
        "18 days before the period ends"
    )
    assert result.to_dict()["run_out_at"] == "2026-12-14T00:00:00+00:00"


def test_lasts_past_the_period_end() -> None:
    result = forecast(daily(DEC_1, 100_000, 1_000, 3))  # 97,000 left on 4 Dec, 28 days to go
    assert result.status == "lasts"
    assert result.runs_out_before_period_end is False
    assert result.remaining_at_end() == pytest.approx(69_000)
    assert result.describe() == (
        "at the current rate (1,000 credits/day) credits last past the period end (1 Jan); "
        "69,000 would be left"
    )


def test_zero_burn() -> None:
    result = forecast([R(DEC_1, 800), R(DEC_1 + timedelta(days=1), 800)])
    assert result.status == "no_burn"
    assert result.burn_per_day == 0
    assert result.runs_out_before_period_end is False
    assert result.describe() == (
        "no credits spent lately: at this rate credits last past the period end (1 Jan)"
    )


def test_a_top_up_starts_a_new_segment() -> None:
    before = daily(DEC_1, 10_000, 3_000, 2)  # steep spend, then a top-up
    top_up = DEC_1 + timedelta(days=2, hours=1)
    after = [R(top_up, 50_000), R(top_up + timedelta(days=1), 49_500)]
    result = forecast(before + after)
    assert result.burn_per_day == pytest.approx(500)  # only the spend after the top-up
    assert result.rose_at == top_up
    only_top_up = forecast([*before, after[0]])
    assert only_top_up.status == "one_reading"
    assert only_top_up.describe() == (
        "credits rose on 3 Dec (a top-up or a new period): no burn rate since yet"
    )


def test_the_window_bounds_the_rate() -> None:
    slow = daily(DEC_1, 100_000, 100, 10)  # 10 slow days
    fast = [R(slow[-1].at + timedelta(days=d), slow[-1].remaining - 2_000 * d) for d in (1, 2)]
    result = forecast(slow + fast, window=timedelta(days=2))
    assert result.burn_per_day == pytest.approx(2_000)
    assert result.readings_used == 3


def test_readings_of_the_previous_period_do_not_count() -> None:
    november = daily(DEC_1 - timedelta(days=3), 9_000, 3_000, 2)
    result = forecast([*november, R(DEC_1 + timedelta(hours=1), 100_000)])
    assert result.status == "one_reading"
    assert result.period_start == DEC_1


def test_used_up() -> None:
    result = forecast([R(DEC_1, 100), R(DEC_1 + timedelta(days=1), 0)])
    assert result.status == "used_up"
    assert result.runs_out_before_period_end is True
    assert result.describe() == "credits are used up; the period ends on 1 Jan"


def test_billing_cycle_day_and_time_zone_are_the_budgets() -> None:
    # Cycle day 15 in Berlin: the period containing 20 Dec ends 15 Jan 00:00 CET (23:00 UTC).
    readings = daily(datetime(2026, 12, 16, tzinfo=UTC), 5_000, 1_000, 2)
    result = forecast(readings, billing_cycle_day=15, billing_timezone="Europe/Berlin")
    assert result.period_end == datetime(2027, 1, 14, 23, tzinfo=UTC)
    assert result.run_out_at == datetime(2026, 12, 21, tzinfo=UTC)
    # told in the billing time zone: 21 Dec 01:00 in Berlin
    assert "run out on 21 Dec, 24 days before" in result.describe()
    with pytest.raises(CoinStatsConfigError, match="billing_timezone"):
        forecast(readings, billing_timezone="Mars/Olympus")


def test_order_does_not_matter() -> None:
    readings = daily(DEC_1, 13_000, 1_000, 3)
    assert forecast(reversed(readings)) == forecast(readings)
