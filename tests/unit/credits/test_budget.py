"""The credit-budget policy: worked examples first, then properties that must hold for any input."""

from __future__ import annotations

import importlib.util
import json
import math
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_coinstats.api.exceptions import CoinStatsConfigError
from airflow_provider_coinstats.api.models import CreditUsage
from airflow_provider_coinstats.credits.budget import CreditBudget

# pendulum.travel_to needs time-machine (pendulum's "test" extra); the explicit-`now` and
# monkeypatched-clock tests below cover the same code paths without it.
needs_time_machine = pytest.mark.skipif(
    importlib.util.find_spec("time_machine") is None,
    reason="pendulum.travel_to needs the time-machine package",
)

# November 2026 has 30 days, so day 10 at midnight is exactly 30% into a period starting Nov 1.
NOV_1 = pendulum.datetime(2026, 11, 1, tz="UTC")
NOV_10 = pendulum.datetime(2026, 11, 10, tz="UTC")


def usage(
    total: float = 100_000,
    *,
    used: float | None = None,
    remaining: float | None = None,
    plan: str = "PRO",
) -> CreditUsage:
    """A CreditUsage where the missing one of used/remaining is derived from the total."""
    if remaining is None:
        remaining = total - (used or 0)
    if used is None:
        used = total - remaining
    return CreditUsage(
        total_credits=total, used_credits=used, remaining_credits=remaining, subscription=plan
    )


# --- reserve ------------------------------------------------------------------------------------


def test_reserve_met_passes_and_states_the_figures() -> None:
    decision = CreditBudget(required_credits=5_000, min_remaining_credits=1_000).evaluate(
        usage(remaining=55_000)
    )

    assert decision.passed
    assert not decision.impossible
    assert decision.reason == "passed: 55,000 credits left, need 5,000 + reserve 1,000"
    assert (decision.remaining_credits, decision.used_credits, decision.total_credits) == (
        55_000,
        45_000,
        100_000,
    )
    assert (decision.required_credits, decision.reserve_credits) == (5_000, 1_000)
    # Pacing figures exist only when pacing is on.
    assert decision.pace_allowance is None
    assert decision.period_start is None
    assert decision.period_end is None
    assert decision.elapsed_fraction is None


def test_reserve_not_met_waits() -> None:
    decision = CreditBudget(required_credits=5_000, min_remaining_credits=1_000).evaluate(
        usage(remaining=4_000)
    )

    assert not decision.passed
    assert not decision.impossible
    assert decision.reason == "waiting: 4,000 credits left, need 5,000 + reserve 1,000"


@pytest.mark.parametrize(("remaining", "passed"), [(6_000, True), (5_999, False)])
def test_reserve_boundary_is_inclusive(remaining: int, passed: bool) -> None:
    budget = CreditBudget(required_credits=5_000, min_remaining_credits=1_000)

    assert budget.evaluate(usage(remaining=remaining)).passed is passed


@pytest.mark.parametrize(("remaining", "passed"), [(14_999, False), (15_000, True)])
def test_ratio_reserve_is_a_share_of_the_total(remaining: int, passed: bool) -> None:
    budget = CreditBudget(
        required_credits=5_000, min_remaining_credits=1_000, min_remaining_ratio=0.1
    )

    decision = budget.evaluate(usage(remaining=remaining))

    assert decision.reserve_credits == 10_000  # max(1,000, 10% of 100,000)
    assert decision.passed is passed
    assert decision.reason.endswith("need 5,000 + reserve 10,000")


def test_the_larger_reserve_applies() -> None:
    budget = CreditBudget(min_remaining_credits=20_000, min_remaining_ratio=0.1)

    assert budget.evaluate(usage()).reserve_credits == 20_000


def test_fractional_figures_keep_two_decimals() -> None:
    budget = CreditBudget(required_credits=1_000.5, min_remaining_ratio=0.15)

    decision = budget.evaluate(usage(33_333, remaining=20_000))

    assert decision.reason == "passed: 20,000 credits left, need 1,000.5 + reserve 4,999.95"


# --- impossible ---------------------------------------------------------------------------------


def test_impossible_when_the_plan_is_too_small() -> None:
    budget = CreditBudget(required_credits=5_000, min_remaining_credits=1_000)

    decision = budget.evaluate(usage(4_000, remaining=4_000))

    assert decision.impossible
    assert not decision.passed
    assert decision.reason == (
        "impossible: need 5,000 + reserve 1,000 but the PRO plan has only 4,000 credits "
        "per period; top up or shrink the job"
    )


def test_impossible_through_the_ratio_reserve() -> None:
    decision = CreditBudget(required_credits=1, min_remaining_ratio=1.0).evaluate(usage())

    assert decision.impossible
    assert not decision.passed


def test_impossible_never_passes_even_if_the_figures_disagree() -> None:
    # remaining > total should not happen, but must not let an impossible job through.
    decision = CreditBudget(required_credits=5_000).evaluate(usage(4_000, used=0, remaining=9_000))

    assert decision.impossible
    assert not decision.passed


def test_exactly_the_whole_plan_is_possible() -> None:
    decision = CreditBudget(required_credits=4_000, min_remaining_credits=1_000).evaluate(
        usage(5_000, remaining=5_000)
    )

    assert not decision.impossible
    assert decision.passed


# --- pace ---------------------------------------------------------------------------------------

PACED = CreditBudget(required_credits=5_000, pace=True)


@pytest.mark.parametrize(
    ("now", "elapsed", "passed"),
    [
        (NOV_1, 0.0, False),
        (NOV_10, 0.3, False),  # allows 30,000; 28,000 + 5,000 is more
        (pendulum.datetime(2026, 11, 10, 21, 36, tz="UTC"), 0.33, True),  # allows 33,000 exactly
        (pendulum.datetime(2026, 11, 16, tz="UTC"), 0.5, True),
        (pendulum.datetime(2026, 12, 1, tz="UTC").subtract(microseconds=1), 1.0, True),
    ],
)
def test_pace_at_points_of_the_period(now: pendulum.DateTime, elapsed: float, passed: bool) -> None:
    decision = PACED.evaluate(usage(used=28_000), now=now)

    assert decision.period_start == NOV_1
    assert decision.period_end == pendulum.datetime(2026, 12, 1, tz="UTC")
    assert decision.elapsed_fraction == pytest.approx(elapsed)
    assert decision.pace_allowance == pytest.approx(100_000 * elapsed)
    assert decision.passed is passed


def test_pace_waits_with_the_figures() -> None:
    decision = PACED.evaluate(usage(used=28_000), now=NOV_10)

    assert decision.reason == (
        "waiting: pacing allows 30,000 of 100,000 credits by now "
        "(30.0% of the period since 2026-11-01), used 28,000 + need 5,000"
    )


def test_pace_passed_states_reserve_and_pacing_figures() -> None:
    decision = PACED.evaluate(usage(used=20_000), now=NOV_10)

    assert decision.passed
    assert decision.reason == (
        "passed: 80,000 credits left, need 5,000 + reserve 0; pacing allows 30,000 of "
        "100,000 credits by now (30.0% of the period since 2026-11-01), used 20,000 + need 5,000"
    )


def test_pace_slack_lets_spending_run_ahead() -> None:
    budget = CreditBudget(required_credits=5_000, pace=True, pace_slack=0.05)

    decision = budget.evaluate(usage(used=28_000), now=NOV_10)

    assert decision.passed
    assert decision.pace_allowance == pytest.approx(35_000)
    assert "(30.0% of the period since 2026-11-01 + 5.0% slack)" in decision.reason


def test_pace_allowance_never_exceeds_the_total() -> None:
    budget = CreditBudget(pace=True, pace_slack=1.0)

    decision = budget.evaluate(usage(used=0), now=pendulum.datetime(2026, 11, 20, tz="UTC"))

    assert decision.pace_allowance == 100_000


def test_reserve_is_reported_before_pace() -> None:
    budget = CreditBudget(required_credits=5_000, min_remaining_credits=1_000, pace=True)

    decision = budget.evaluate(usage(remaining=4_000), now=NOV_10)  # both conditions fail

    assert decision.reason == "waiting: 4,000 credits left, need 5,000 + reserve 1,000"
    # The pacing figures are still there for whoever reads the XCom.
    assert decision.pace_allowance == pytest.approx(30_000)


def test_now_may_be_any_aware_datetime() -> None:
    # 01:00 at UTC+1 is midnight UTC on Nov 10: the same moment as NOV_10.
    now = datetime(2026, 11, 10, 1, 0, tzinfo=timezone(timedelta(hours=1)))

    assert PACED.evaluate(usage(used=28_000), now=now) == PACED.evaluate(
        usage(used=28_000), now=NOV_10
    )


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        PACED.evaluate(usage(), now=datetime(2026, 11, 10))


# --- the clock ----------------------------------------------------------------------------------


@needs_time_machine
@pytest.mark.parametrize(
    ("travel_to", "passed"),
    [(NOV_10, False), (pendulum.datetime(2026, 11, 16, tz="Asia/Tokyo"), True)],
)
def test_pace_reads_the_clock_that_travel_to_moves(
    travel_to: pendulum.DateTime, passed: bool
) -> None:
    with pendulum.travel_to(travel_to, freeze=True):
        decision = PACED.evaluate(usage(used=28_000))

    assert decision == PACED.evaluate(usage(used=28_000), now=travel_to)
    assert decision.passed is passed


def test_pace_reads_pendulum_now_in_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[object] = []

    def fake_now(tz: object = None) -> pendulum.DateTime:
        asked.append(tz)
        return NOV_10

    monkeypatch.setattr(pendulum, "now", fake_now)

    decision = PACED.evaluate(usage(used=28_000))

    assert asked == ["UTC"]
    assert decision.elapsed_fraction == pytest.approx(0.3)


def test_without_pace_the_clock_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_clock(tz: object = None) -> pendulum.DateTime:
        raise AssertionError("the clock was read")

    monkeypatch.setattr(pendulum, "now", no_clock)

    assert CreditBudget(required_credits=5_000).evaluate(usage()).passed


# --- billing period -----------------------------------------------------------------------------


def _utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> pendulum.DateTime:
    return pendulum.datetime(year, month, day, hour, minute, second, tz="UTC")


@pytest.mark.parametrize(
    ("cycle_day", "now", "start", "end"),
    [
        # Cycle day 31: February has no 31st, so its period starts on its last day.
        (31, _utc(2026, 2, 27, 12), _utc(2026, 1, 31), _utc(2026, 2, 28)),
        (31, _utc(2026, 2, 28), _utc(2026, 2, 28), _utc(2026, 3, 31)),
        (31, _utc(2026, 3, 30, 23, 59, 59), _utc(2026, 2, 28), _utc(2026, 3, 31)),
        (31, _utc(2026, 3, 31), _utc(2026, 3, 31), _utc(2026, 4, 30)),
        (31, _utc(2026, 5, 1), _utc(2026, 4, 30), _utc(2026, 5, 31)),
        # ... and in a leap year on the 29th.
        (31, _utc(2028, 2, 28, 23, 59, 59), _utc(2028, 1, 31), _utc(2028, 2, 29)),
        (31, _utc(2028, 2, 29), _utc(2028, 2, 29), _utc(2028, 3, 31)),
        (30, _utc(2028, 3, 1), _utc(2028, 2, 29), _utc(2028, 3, 30)),
        (29, _utc(2026, 3, 1), _utc(2026, 2, 28), _utc(2026, 3, 29)),
        # Cycle day 15, including across a year end.
        (15, _utc(2026, 6, 14, 23, 59, 59), _utc(2026, 5, 15), _utc(2026, 6, 15)),
        (15, _utc(2026, 6, 15), _utc(2026, 6, 15), _utc(2026, 7, 15)),
        (15, _utc(2026, 1, 10), _utc(2025, 12, 15), _utc(2026, 1, 15)),
        (15, _utc(2025, 12, 20), _utc(2025, 12, 15), _utc(2026, 1, 15)),
        (1, _utc(2026, 12, 31, 23, 59, 59), _utc(2026, 12, 1), _utc(2027, 1, 1)),
    ],
)
def test_billing_period(
    cycle_day: int, now: pendulum.DateTime, start: pendulum.DateTime, end: pendulum.DateTime
) -> None:
    assert CreditBudget(billing_cycle_day=cycle_day).billing_period(now) == (start, end)


def test_cycle_day_31_paces_february_over_its_own_length() -> None:
    budget = CreditBudget(pace=True, billing_cycle_day=31)

    # Halfway through the period 2026-01-31 .. 2026-02-28 (28 days).
    decision = budget.evaluate(usage(used=0), now=_utc(2026, 2, 14))

    assert decision.elapsed_fraction == pytest.approx(0.5)
    assert "since 2026-01-31" in decision.reason


def test_period_starts_at_midnight_in_the_billing_timezone() -> None:
    budget = CreditBudget(billing_timezone="America/New_York")

    # 03:30 UTC on Nov 1 is still Oct 31 in New York.
    start, end = budget.billing_period(_utc(2026, 11, 1, 3, 30))

    assert start.isoformat() == "2026-10-01T00:00:00-04:00"
    assert end.isoformat() == "2026-11-01T00:00:00-04:00"


def test_spring_dst_change_inside_the_period() -> None:
    budget = CreditBudget(pace=True, billing_timezone="Europe/Berlin")
    # Noon of March 29 2026 in Berlin, the day clocks moved from +01:00 to +02:00.
    now = pendulum.datetime(2026, 3, 29, 12, tz="Europe/Berlin")

    decision = budget.evaluate(usage(used=0), now=now)

    assert decision.period_start is not None
    assert decision.period_end is not None
    assert decision.period_start.isoformat() == "2026-03-01T00:00:00+01:00"
    assert decision.period_end.isoformat() == "2026-04-01T00:00:00+02:00"
    # Real hours: the period is 743 h long, and 28 days + 11 h of it have passed.
    assert (decision.period_end - decision.period_start).total_seconds() == 743 * 3600
    assert decision.elapsed_fraction == pytest.approx((28 * 24 + 11) / 743)


def test_autumn_dst_change_on_the_first_day_of_the_period() -> None:
    # In New York clocks fell back at 02:00 on Nov 1 2026, the period's first day.
    budget = CreditBudget(billing_timezone="America/New_York")

    start, end = budget.billing_period(_utc(2026, 11, 15))

    assert start.isoformat() == "2026-11-01T00:00:00-04:00"
    assert end.isoformat() == "2026-12-01T00:00:00-05:00"
    assert (end - start).total_seconds() == (30 * 24 + 1) * 3600


def test_period_starts_at_the_first_hour_when_dst_skips_midnight() -> None:
    # Santiago moved its clocks from 00:00 to 01:00 on 2024-09-08: that day had no midnight.
    budget = CreditBudget(billing_cycle_day=8, billing_timezone="America/Santiago")

    start, end = budget.billing_period(_utc(2024, 9, 20))

    assert start.isoformat() == "2024-09-08T01:00:00-03:00"
    assert end.isoformat() == "2024-10-08T00:00:00-03:00"


def test_period_starts_at_the_first_midnight_when_dst_repeats_it() -> None:
    # The Azores moved their clocks from 01:00 back to 00:00 on 2026-10-25: midnight came twice.
    budget = CreditBudget(billing_cycle_day=25, billing_timezone="Atlantic/Azores")

    start, _ = budget.billing_period(_utc(2026, 10, 25, 12))

    assert start.isoformat() == "2026-10-25T00:00:00+00:00"
    # Compared in UTC: Python says an ambiguous time never equals a time of another zone.
    assert start.in_timezone("UTC") == _utc(2026, 10, 25)


# --- to_dict ------------------------------------------------------------------------------------


def test_to_dict_is_json_ready() -> None:
    decision = PACED.evaluate(usage(used=28_000), now=NOV_10)

    data = decision.to_dict()

    assert json.loads(json.dumps(data)) == data
    assert data == {
        "passed": False,
        "impossible": False,
        "reason": decision.reason,
        "remaining_credits": 72_000,
        "used_credits": 28_000,
        "total_credits": 100_000,
        "required_credits": 5_000,
        "reserve_credits": 0,
        "pace_allowance": 30_000,
        "period_start": "2026-11-01T00:00:00+00:00",
        "period_end": "2026-12-01T00:00:00+00:00",
        "elapsed_fraction": pytest.approx(0.3),
    }
    assert isinstance(data["pace_allowance"], int)
    assert isinstance(data["reserve_credits"], int)


def test_to_dict_without_pace_and_with_fractions() -> None:
    budget = CreditBudget(required_credits=1_000.5, min_remaining_ratio=0.15)

    data = budget.evaluate(usage(33_333, remaining=20_000)).to_dict()

    assert data["required_credits"] == 1_000.5
    assert data["reserve_credits"] == pytest.approx(4_999.95)
    assert data["pace_allowance"] is None
    assert data["period_start"] is None
    assert data["period_end"] is None
    assert data["elapsed_fraction"] is None
    json.dumps(data)


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("required_credits", -1),
        ("required_credits", float("nan")),
        ("required_credits", float("inf")),
        ("required_credits", "5000"),
        ("required_credits", True),
        ("min_remaining_credits", -0.5),
        ("min_remaining_credits", float("-inf")),
        ("min_remaining_credits", None),
        ("min_remaining_ratio", 1.5),
        ("min_remaining_ratio", -0.1),
        ("min_remaining_ratio", 10),
        ("min_remaining_ratio", float("nan")),
        ("pace_slack", 1.01),
        ("pace_slack", -0.01),
        ("pace_slack", float("nan")),
        ("pace_slack", "0.1"),
        ("pace", "false"),
        ("pace", 1),
        ("billing_cycle_day", 0),
        ("billing_cycle_day", 32),
        ("billing_cycle_day", True),
        ("billing_cycle_day", 15.0),
        ("billing_cycle_day", "15"),
        ("billing_timezone", "Mars/Olympus_Mons"),
        ("billing_timezone", ""),
        ("billing_timezone", "America"),  # a folder of the tz database, not a zone
        ("billing_timezone", "Europe/Berlin "),
        ("billing_timezone", None),
    ],
)
def test_invalid_parameters_are_named_with_their_value(parameter: str, value: Any) -> None:
    with pytest.raises(ValueError, match="must be") as raised:
        CreditBudget(**{parameter: value})

    assert parameter in str(raised.value)
    assert repr(value) in str(raised.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"min_remaining_ratio": 1.5},
            "min_remaining_ratio must be a number from 0 to 1, got 1.5 (a fraction: 0.1 means 10%)",
        ),
        (
            {"required_credits": -1},
            "required_credits must be a number of credits from 0 to 1,000,000,000,000,000, got -1",
        ),
        (
            {"required_credits": 10**400},
            "required_credits must be a number of credits from 0 to 1,000,000,000,000,000, "
            "got an integer of about 401 digits",
        ),
        (
            {"min_remaining_credits": True},
            "min_remaining_credits must be a number of credits from 0 to 1,000,000,000,000,000, "
            "got True (True and False are not numbers)",
        ),
        (
            {"required_credits": "5000"},
            "required_credits must be a number of credits from 0 to 1,000,000,000,000,000, "
            "got the string '5000'",
        ),
        (
            {"billing_cycle_day": 32},
            "billing_cycle_day must be a positive integer up to 31, got 32",
        ),
        ({"pace": "false"}, "pace must be True or False, got the string 'false'"),
        (
            {"billing_timezone": "Europe/Berln"},
            "billing_timezone must be an IANA time zone name such as 'UTC' or 'Europe/Berlin', "
            "got 'Europe/Berln'",
        ),
    ],
)
def test_validation_messages_say_what_is_allowed(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(CoinStatsConfigError, match=f"^{re.escape(message)}$"):
        CreditBudget(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"required_credits": 0, "min_remaining_credits": 0.0},
        {"min_remaining_ratio": 0, "pace_slack": 1},
        {"min_remaining_ratio": 1.0, "pace_slack": 0.0},
        {"billing_cycle_day": 1, "billing_timezone": "Pacific/Auckland"},
        {"billing_cycle_day": 31, "pace": True},
    ],
)
def test_boundary_parameters_are_accepted(kwargs: dict[str, Any]) -> None:
    CreditBudget(**kwargs)


def test_parameters_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        CreditBudget(5_000)  # type: ignore[call-arg]


# --- properties ---------------------------------------------------------------------------------

PROPERTY = settings(max_examples=200, deadline=None)

TIMEZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Auckland"]


def credits(max_value: int) -> st.SearchStrategy[float]:
    """Whole credits mostly, fractional ones sometimes (ratios and top-ups make those)."""
    return st.one_of(
        st.integers(0, max_value),
        st.floats(0, max_value, allow_nan=False, allow_infinity=False),
    )


moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
# Requirements and reserves well below the largest totals, so that plenty of examples pass
# and the properties are not satisfied vacuously.
budgets = st.builds(
    CreditBudget,
    required_credits=credits(2_000_000),
    min_remaining_credits=st.one_of(st.just(0), credits(1_000_000)),
    min_remaining_ratio=st.one_of(st.just(0.0), st.floats(0, 0.5)),
    pace=st.booleans(),
    pace_slack=st.one_of(st.just(0.0), st.floats(0, 1)),
    billing_cycle_day=st.integers(1, 31),
    billing_timezone=st.sampled_from(TIMEZONES),
)


def remaining_of(total: float) -> st.SearchStrategy[float]:
    return st.floats(0, total) | st.integers(0, int(total))


@st.composite
def consistent_usages(draw: st.DrawFn) -> CreditUsage:
    total = draw(credits(10_000_000))
    return usage(total, remaining=draw(remaining_of(total)))


@PROPERTY
@given(budget=budgets, data=st.data(), now=moments)
def test_more_remaining_never_turns_a_pass_into_a_wait(
    budget: CreditBudget, data: st.DataObject, now: datetime
) -> None:
    total = data.draw(credits(10_000_000))
    low, high = sorted((data.draw(remaining_of(total)), data.draw(remaining_of(total))))

    if budget.evaluate(usage(total, remaining=low), now=now).passed:
        assert budget.evaluate(usage(total, remaining=high), now=now).passed


@PROPERTY
@given(
    budget=budgets,
    used=credits(10_000_000),
    remaining=credits(10_000_000),
    extra=st.floats(0.001, 1e6),
    now=moments,
)
def test_never_passes_when_required_exceeds_remaining(
    budget: CreditBudget, used: float, remaining: float, extra: float, now: datetime
) -> None:
    # Used and remaining are drawn independently: the rule must hold even if they disagree.
    budget = replace(budget, required_credits=remaining + extra)
    figures = usage(used + remaining, used=used, remaining=remaining)

    assert not budget.evaluate(figures, now=now).passed


@PROPERTY
@given(budget=budgets, figures=consistent_usages(), now=moments)
def test_pace_never_passes_ahead_of_the_elapsed_share(
    budget: CreditBudget, figures: CreditUsage, now: datetime
) -> None:
    budget = replace(budget, pace=True, pace_slack=0.0)

    decision = budget.evaluate(figures, now=now)

    # The reported share is the real one, computed here independently from timestamps.
    start, end = budget.billing_period(now)
    expected = (now.timestamp() - start.timestamp()) / (end.timestamp() - start.timestamp())
    elapsed = decision.elapsed_fraction
    assert elapsed is not None
    assert 0 <= elapsed < 1
    assert math.isclose(elapsed, expected, rel_tol=1e-9, abs_tol=1e-12)
    if figures.used_credits + budget.required_credits > figures.total_credits * elapsed:
        assert not decision.passed


@PROPERTY
@given(
    budget=budgets,
    total=credits(10_000_000),
    used=credits(10_000_000),
    remaining=credits(10_000_000),
    now=moments,
)
def test_impossible_is_never_passed(
    budget: CreditBudget, total: float, used: float, remaining: float, now: datetime
) -> None:
    decision = budget.evaluate(usage(total, used=used, remaining=remaining), now=now)

    if decision.impossible:
        assert not decision.passed
    assert decision.impossible is (budget.required_credits + decision.reserve_credits > total)


@PROPERTY
@given(budget=budgets, now=moments)
def test_billing_period_contains_now_and_starts_on_the_cycle_day(
    budget: CreditBudget, now: datetime
) -> None:
    start, end = budget.billing_period(now)

    assert start <= now < end
    for boundary in (start, end):
        local = boundary.in_timezone(budget.billing_timezone)
        assert local.day == min(budget.billing_cycle_day, local.days_in_month)
        assert (local.hour, local.minute, local.second) == (0, 0, 0)
    # Consecutive periods tile time without gaps.
    assert budget.billing_period(end)[0] == end
