from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from airflow_provider_coinstats.api.models import CreditUsage
from airflow_provider_coinstats.exceptions import CoinStatsResponseError

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
    usage = CreditUsage.from_api({**DOC_EXAMPLE, "usedCredits": 45000.0, "remainingCredits": 0.5})
    assert usage.used_credits == 45_000 and isinstance(usage.used_credits, int)
    assert usage.remaining_credits == 0.5


def test_zero_total_counts_as_fully_used() -> None:
    usage = CreditUsage.from_api({**DOC_EXAMPLE, "totalCredits": 0, "usedCredits": 0})
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
