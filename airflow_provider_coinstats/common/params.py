"""Validation of numeric task parameters that may also arrive as Jinja templates."""

from __future__ import annotations

import contextlib
import math
from typing import Any

from airflow_provider_coinstats.api.exceptions import CoinStatsConfigError
from airflow_provider_coinstats.api.models import whole


def is_template(value: Any) -> bool:
    """A string that Airflow will render later (checked again once rendered)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def credits_param(name: str, value: Any, *, allow_template: bool = False) -> int | float | None:
    """A non-negative credit figure from a number or a numeric string; None stays None.

    :param allow_template: pass an unrendered template through (returns None) instead of failing.
    :raises CoinStatsConfigError: naming the parameter, for anything else.
    """
    if value is None or (allow_template and is_template(value)):
        return None
    number: float = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):  # stays NaN, reported below
            number = float(value.strip().replace(",", "").replace("_", ""))
    if not math.isfinite(number) or number < 0:
        raise CoinStatsConfigError(
            f"{name} must be a non-negative number of credits, got {value!r}"
        )
    return whole(number)
