"""Typed answers of the CoinStats API, parsed once at the client boundary."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from airflow_provider_coinstats.api.exceptions import (
    CoinStatsInconsistentCreditsError,
    CoinStatsResponseError,
)
from airflow_provider_coinstats.api.validation import is_number

Credits = int | float

#: How far ``used + remaining`` may stray from ``total`` before the figures count as
#: inconsistent: the larger of one credit and this share of the total. Real accounts are not
#: exact: a top-up or a charge can land between the reads of two counters, and fractional
#: prices round.
SUM_TOLERANCE_CREDITS = 1
SUM_TOLERANCE_RATIO = 0.001


def whole(value: Credits) -> Credits:
    """A whole number as ``int`` (``44.0`` reads and serialises as ``44``); fractions stay."""
    return int(value) if float(value).is_integer() else value


def _credits(payload: Mapping[str, Any], field: str) -> Credits:
    if field not in payload:
        raise CoinStatsResponseError(
            f"CoinStats /usage/credits answered without the field {field!r}; "
            f"fields present: {sorted(payload)[:10]}"
        )
    value = payload[field]
    if not is_number(value):  # a JSON true is not a credit count
        raise CoinStatsResponseError(
            f"CoinStats /usage/credits field {field!r} should be a number, got "
            f"{type(value).__name__} {str(value)[:40]!r}"
        )
    if not math.isfinite(value):
        raise CoinStatsResponseError(f"CoinStats /usage/credits field {field!r} is {value!r}")
    return whole(value)


@dataclass(frozen=True, slots=True)
class CreditUsage:
    """What ``GET /usage/credits`` says about the current billing period.

    :param total_credits: the period's credit limit, active top-ups included.
    :param used_credits: credits spent so far this period.
    :param remaining_credits: credits left this period.
    :param subscription: the plan name as CoinStats spells it (e.g. ``"PRO"``).
    """

    total_credits: Credits
    used_credits: Credits
    remaining_credits: Credits
    subscription: str

    @classmethod
    def from_api(cls, payload: object) -> CreditUsage:
        """Parse the JSON body; unknown fields are ignored, missing or mistyped ones raise
        :class:`~airflow_provider_coinstats.exceptions.CoinStatsResponseError`.

        The figures must also add up, or no gate could trust them: every one ``>= 0``,
        ``remaining <= total``, and ``used + remaining == total`` within the larger of 1 credit
        and 0.1 % of ``total`` (top-ups and rounding). Otherwise
        :class:`~airflow_provider_coinstats.exceptions.CoinStatsInconsistentCreditsError`.
        """
        if not isinstance(payload, Mapping):
            raise CoinStatsResponseError(
                "CoinStats /usage/credits should answer a JSON object, "
                f"got {type(payload).__name__}"
            )
        subscription = payload.get("subscription")
        if not isinstance(subscription, str):
            raise CoinStatsResponseError(
                "CoinStats /usage/credits answered without a string 'subscription' "
                f"(got {type(subscription).__name__})"
            )
        usage = cls(
            total_credits=_credits(payload, "totalCredits"),
            used_credits=_credits(payload, "usedCredits"),
            remaining_credits=_credits(payload, "remainingCredits"),
            subscription=subscription,
        )
        problem = usage.inconsistency()
        if problem:
            raise CoinStatsInconsistentCreditsError(
                f"CoinStats /usage/credits sent inconsistent credit figures ({problem}: total "
                f"{usage.total_credits:,}, used {usage.used_credits:,}, remaining "
                f"{usage.remaining_credits:,}); no decision is made on them"
            )
        return usage

    def inconsistency(self) -> str | None:
        """What makes these figures impossible together, or None when they add up."""
        total, used, remaining = self.total_credits, self.used_credits, self.remaining_credits
        if min(total, used, remaining) < 0:
            return "a negative figure"
        if remaining > total:
            return "more remaining than the total"
        tolerance = max(SUM_TOLERANCE_CREDITS, SUM_TOLERANCE_RATIO * total)
        if abs(used + remaining - total) > tolerance:
            return f"used + remaining differs from the total by more than {tolerance:,g}"
        return None

    @property
    def used_ratio(self) -> float:
        """Share of the period's credits already spent, 0..1 (1.0 on a plan with no credits)."""
        if self.total_credits <= 0:
            return 1.0
        return min(1.0, max(0.0, self.used_credits / self.total_credits))

    def summary(self) -> str:
        """One readable line, e.g.
        ``CoinStats PRO: 55,000 of 100,000 credits left (45.0% used)``.

        The share is rounded down, so "100.0% used" means nothing is left."""
        used_percent = round_down(self.used_ratio * 100, 1)
        return (
            f"CoinStats {self.subscription}: {self.remaining_credits:,} of "
            f"{self.total_credits:,} credits left ({used_percent:.1f}% used)"
        )

    def to_dict(self, checked_at: datetime) -> dict[str, Any]:
        """Plain JSON-ready dict for XCom; ``checked_at`` is written as ISO-8601 UTC."""
        return {
            "total_credits": self.total_credits,
            "used_credits": self.used_credits,
            "remaining_credits": self.remaining_credits,
            "subscription": self.subscription,
            "used_ratio": round_down(self.used_ratio, 6),
            "checked_at": _iso_utc(checked_at),
        }


def round_down(value: float, digits: int) -> float:
    """``value`` cut (not rounded) to ``digits`` decimals, so 99.95 % used never reads 100.0 %.
    Float noise is rounded away first: ``0.29 * 1000`` is 289.99999999999994, not below 290."""
    scale = 10**digits
    return float(math.floor(round(value * scale, 6)) / scale)


def _iso_utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("checked_at must be timezone-aware")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
