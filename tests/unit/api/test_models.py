from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from airflow_provider_coinstats.api.models import CreditUsage, round_down
from airflow_provider_coinstats.exceptions import (
    CoinStatsInconsistentCreditsError,
    CoinStatsResponseError,
)

DOC_EXAMPLE = {
    "totalCredits": 100000,
    "usedCredits": 45000,
    "remainingCredits": 55000,
    "subscription": "PRO",
}


def test_parses_the_documented_example_and_ignores_unknown_fields() -> None:
    usage = CreditUsage.from_api({**DOC_EXAMPLE, "topUps": [1, 2], "resetAt": None})
    assert usage == CreditUsage(100_000, 45_000, 55_000, "PRO")
    assert usage.used_ratio == pytest.approx(0.45)


def test_summary_is_one_readable_line() -> None:
    usage = CreditUsage.from_api(DOC_EXAMPLE)
    assert usage.summary() == "CoinStats PRO: 55,000 of 100,000 credits left (45.0% used)"


def test_to_dict_is_plain_and_checked_at_is_utc() -> None:
    usage = CreditUsage.from_api(DOC_EXAMPLE)
    at = datetime(2026, 11, 25, 18, 30, tzinfo=timezone(timedelta(hours=2)))
    assert usage.to_dict(at) == {
        "total_credits": 100_000,
        "used_credits": 45_000,
        "remaining_credits": 55_000,
        "subscription": "PRO",
        "used_ratio": 0.45,
        "checked_at": "2026-11-25T16:30:00Z",
    }
    with pytest.raises(ValueError, match="timezone-aware"):
        usage.to_dict(datetime(2026, 1, 1))


def test_integral_floats_become_ints_and_fractions_stay() -> None:
    usage = CreditUsage.from_api(
        {**DOC_EXAMPLE, "usedCredits": 99999.5, "remainingCredits": 0.5, "totalCredits": 1e5}
    )
    assert usage.total_credits == 100_000 and isinstance(usage.total_credits, int)
    assert usage.remaining_credits == 0.5


def test_zero_total_counts_as_fully_used() -> None:
    usage = CreditUsage.from_api(
        {**DOC_EXAMPLE, "totalCredits": 0, "usedCredits": 0, "remainingCredits": 0}
    )
    assert usage.used_ratio == 1.0


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({k: v for k, v in DOC_EXAMPLE.items() if k != "remainingCredits"}, "remainingCredits"),
        ({**DOC_EXAMPLE, "usedCredits": "45000"}, "usedCredits.*number"),
        ({**DOC_EXAMPLE, "totalCredits": True}, "totalCredits.*number"),
        ({**DOC_EXAMPLE, "totalCredits": None}, "totalCredits.*number"),
        ({**DOC_EXAMPLE, "subscription": 3}, "subscription"),
        ([DOC_EXAMPLE], "JSON object"),
        (None, "JSON object"),
        ({**DOC_EXAMPLE, "usedCredits": float("nan")}, "usedCredits"),
    ],
)
def test_missing_or_mistyped_fields_raise_the_bad_response_error(
    payload: object, message: str
) -> None:
    with pytest.raises(CoinStatsResponseError, match=message):
        CreditUsage.from_api(payload)


def test_checked_at_is_written_in_utc_from_any_zone() -> None:
    usage = CreditUsage.from_api(DOC_EXAMPLE)
    assert usage.to_dict(datetime(2026, 1, 1, tzinfo=UTC))["checked_at"] == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("figures", "problem"),
    [
        ((100, 100, 1_000_000), "more remaining than the total"),
        ((100_000, 100_000, 55_000), "used \\+ remaining differs from the total by more than 100"),
        ((100_000, -45_000, 55_000), "a negative figure"),
        ((100_000, 45_000, -1), "a negative figure"),
        ((-1, 0, 0), "a negative figure"),
        ((100_000, 45_000, 54_000), "differs from the total"),  # 1,000 off: > 0.1 %
        ((500, 0, 498), "by more than 1"),  # small plans: one credit
    ],
)
def test_figures_that_cannot_all_be_true_raise_the_inconsistent_credits_error(
    figures: tuple[float, float, float], problem: str
) -> None:
    total, used, remaining = figures
    payload = {"totalCredits": total, "usedCredits": used, "remainingCredits": remaining}
    with pytest.raises(CoinStatsInconsistentCreditsError, match=problem) as caught:
        CreditUsage.from_api({**payload, "subscription": "PRO"})
    assert isinstance(caught.value, CoinStatsResponseError)  # in the group of bad answers
    assert "inconsistent credit figures" in str(caught.value)


@pytest.mark.parametrize(
    "figures",
    [
        (100_000, 45_000, 55_000),
        (100_000, 45_000, 54_900),  # 100 off: within 0.1 % (a charge between two counters)
        (100_000, 45_100, 55_000),  # a top-up not yet in the total
        (500, 0, 499),  # one credit off on a small plan
        (0, 0, 0),
    ],
)
def test_figures_within_the_tolerance_are_accepted(figures: tuple[float, float, float]) -> None:
    total, used, remaining = figures
    payload = {"totalCredits": total, "usedCredits": used, "remainingCredits": remaining}
    usage = CreditUsage.from_api({**payload, "subscription": "PRO"})
    assert usage.remaining_credits == remaining


def test_a_share_near_100_percent_is_rounded_down_not_up() -> None:
    usage = CreditUsage(100_000, 99_950, 50, "PRO")
    assert usage.summary() == "CoinStats PRO: 50 of 100,000 credits left (99.9% used)"
    assert CreditUsage(100_000, 100_000, 0, "PRO").summary().endswith("(100.0% used)")
    assert usage.to_dict(datetime(2026, 1, 1, tzinfo=UTC))["used_ratio"] == 0.9995
    assert (
        CreditUsage(10_000_000, 9_999_999, 1, "PRO").to_dict(datetime(2026, 1, 1, tzinfo=UTC))[
            "used_ratio"
        ]
        < 1.0
    )
    assert round_down(0.29 * 100, 1) == 29.0  # float noise is not rounded down a step
