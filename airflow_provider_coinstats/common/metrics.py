"""Credit gauges through Airflow's Stats, so StatsD and OpenTelemetry users chart the budget.

Each figure is sent the way Airflow sends its pool metrics: tagged by connection id
(``coinstats.credits.remaining`` with ``conn_id``) and, for untagged StatsD, with the id in the
name (``coinstats.credits.remaining.<conn_id>``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_coinstats.api.models import CreditUsage

log = logging.getLogger(__name__)


def emit_credit_gauges(conn_id: str, usage: CreditUsage) -> None:
    """Send remaining, used and total credits for ``conn_id``; a metrics failure never fails
    the task, but it is logged."""
    try:
        from airflow.sdk.observability.stats import Stats
    except ImportError:  # Airflow 3.2 keeps Stats in core
        from airflow.stats import Stats  # type: ignore[no-redef]
    figures = {
        "remaining": usage.remaining_credits,
        "used": usage.used_credits,
        "total": usage.total_credits,
    }
    try:
        for figure, value in figures.items():
            Stats.gauge(f"coinstats.credits.{figure}", value, tags={"conn_id": conn_id})
            Stats.gauge(f"coinstats.credits.{figure}.{conn_id}", value)
    except Exception:
        log.warning("Could not emit CoinStats credit metrics", exc_info=True)
