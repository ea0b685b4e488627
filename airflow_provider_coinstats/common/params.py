"""Task parameters that may also arrive as Jinja templates.

A templated value (``"{{ params.cost }}"``) cannot be checked while the DAG file is parsed; it
is checked once Airflow has rendered it, by the same rule as a literal. The rules themselves are
:mod:`airflow_provider_coinstats.api.validation`'s.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_coinstats.api.models import whole
from airflow_provider_coinstats.api.validation import MAX_CREDITS, number


def is_template(value: Any) -> bool:
    """A string that Airflow will render later (checked again once rendered)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def credits_param(name: str, value: Any, *, allow_template: bool = False) -> int | float | None:
    """A credit figure from 0 to 10**15, from a number or a plain decimal string such as a
    rendered template gives (``"2500"``; ``"2,500"`` is refused); None stays None.

    :param allow_template: pass an unrendered template through (returns None) instead of failing.
    :raises CoinStatsConfigError: naming the parameter, the value and the allowed range.
    """
    if value is None or (allow_template and is_template(value)):
        return None
    credits = number(name, value, minimum=0, maximum=MAX_CREDITS, strings=True, unit="credits")
    return whole(credits)
