"""What a credit gate does with one reading, shared by the sensor's poke and the trigger.

Both paths must agree on three things, so they live here once: which errors mean "not yet" and
which end the wait, how a decision is turned into the XCom dict, and how the sensor's parameters
become a :class:`~airflow_provider_coinstats.credits.budget.CreditBudget`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from airflow_provider_coinstats.api.exceptions import (
    CoinStatsConfigError,
    CoinStatsCreditsExhaustedError,
    CoinStatsError,
)
from airflow_provider_coinstats.api.models import CreditUsage
from airflow_provider_coinstats.common.params import credits_param
from airflow_provider_coinstats.credits.budget import BudgetDecision, CreditBudget
from airflow_provider_coinstats.credits.estimates import estimate_plan

#: The CreditBudget fields a gate passes on (to the trigger, as JSON primitives).
BUDGET_FIELDS = (
    "required_credits",
    "min_remaining_credits",
    "min_remaining_ratio",
    "pace",
    "pace_slack",
    "billing_cycle_day",
    "billing_timezone",
)


def error_means_wait(error: CoinStatsError) -> bool:
    """Transient trouble (429 rate limit, 5xx, timeouts, connection errors) and exhausted
    credits mean "not yet": waiting is the gate's job. Anything else (rejected key, bad
    configuration, a malformed answer) will not heal by waiting."""
    return error.transient or isinstance(error, CoinStatsCreditsExhaustedError)


def gate_result(
    usage: CreditUsage, decision: BudgetDecision, checked_at: datetime
) -> dict[str, Any]:
    """The XCom value of a gate: usage figures, the decision and its reason. Never the key."""
    return {**usage.to_dict(checked_at), **decision.to_dict()}


def required_credits_value(
    required: Any, price_overrides: Mapping[str, float] | None = None
) -> int | float:
    """``required_credits`` as a number: a number, a numeric string (a rendered template), or a
    list of planned calls priced through :func:`~airflow_provider_coinstats.credits.estimate_plan`.
    """
    if isinstance(required, Sequence) and not isinstance(required, str | bytes):
        return estimate_plan(required, price_overrides=price_overrides)
    value = credits_param("required_credits", required)
    return 0 if value is None else value


def build_budget(
    *,
    required_credits: Any = 0,
    min_remaining_credits: Any = 0,
    min_remaining_ratio: Any = 0.0,
    pace: bool = False,
    pace_slack: float = 0.0,
    billing_cycle_day: int = 1,
    billing_timezone: str = "UTC",
    price_overrides: Mapping[str, float] | None = None,
) -> CreditBudget:
    """A validated budget from (rendered) gate parameters; errors name the parameter."""
    try:
        ratio = float(min_remaining_ratio)
    except (TypeError, ValueError):
        raise CoinStatsConfigError(
            f"min_remaining_ratio must be a fraction between 0 and 1, got {min_remaining_ratio!r}"
        ) from None
    try:
        return CreditBudget(
            required_credits=required_credits_value(required_credits, price_overrides),
            min_remaining_credits=credits_param("min_remaining_credits", min_remaining_credits)
            or 0,
            min_remaining_ratio=ratio,
            pace=pace,
            pace_slack=pace_slack,
            billing_cycle_day=billing_cycle_day,
            billing_timezone=billing_timezone,
        )
    except CoinStatsConfigError:
        raise
    except ValueError as error:
        raise CoinStatsConfigError(str(error)) from None


def budget_kwargs(budget: CreditBudget) -> dict[str, Any]:
    """The budget as JSON primitives (planned calls already priced), for trigger kwargs."""
    return {name: getattr(budget, name) for name in BUDGET_FIELDS}
