"""The forecast as the credits page draws it: one sentence and a dashed line from the last reading
to where the current burn rate takes the credits (zero, or the period end, whichever is first).

The arithmetic is :func:`airflow_provider_coinstats.credits.forecast.forecast`'s; this module
only turns its answer into the page's JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from airflow_provider_coinstats.credits.budget import CreditBudget
from airflow_provider_coinstats.plugins.credits_report import Reading


def forecast_view(
    history: Sequence[Reading], budget: CreditBudget, now: datetime
) -> dict[str, Any] | None:
    """The forecast's fields plus ``text`` and ``line`` (``[[iso, remaining], ...]``, empty
    when there is no rate to draw); None when this build has no forecast."""
    try:
        from airflow_provider_coinstats.credits.forecast import forecast
    except ImportError:  # the forecast is not part of this build
        return None
    outlook = forecast(
        history,
        now=now,
        billing_cycle_day=budget.billing_cycle_day,
        billing_timezone=budget.billing_timezone,
    )
    view: dict[str, Any] = outlook.to_dict()
    view["text"] = view["description"]
    view["before_period_end"] = view["runs_out_before_period_end"]
    line: list[list[Any]] = []
    if outlook.as_of is not None and outlook.remaining is not None and outlook.burn_per_day:
        end = outlook.period_end
        if outlook.run_out_at is not None and outlook.run_out_at < end:
            end, left = outlook.run_out_at, 0.0
        else:
            left = outlook.remaining_at_end()
        line = [[outlook.as_of.isoformat(), outlook.remaining], [end.isoformat(), left]]
    view["line"] = line
    return view
