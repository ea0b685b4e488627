"""Credit gauges through Airflow's Stats, so StatsD and OpenTelemetry users chart the budget.

Each figure is sent the way Airflow sends its pool metrics: tagged by connection id
(``coinstats.credits.remaining`` with ``conn_id``) and, for untagged StatsD, with the id in the
name (``coinstats.credits.remaining.<conn_id>``).

A task's spend goes out as counters when it ends: ``coinstats.credits.spent`` and
``coinstats.credits.calls``, tagged ``conn_id``, ``dag_id`` and ``task_id`` (and, untagged,
``coinstats.credits.spent.<conn_id>``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_coinstats.api.models import CreditUsage

log = logging.getLogger(__name__)


def emit_credit_gauges(conn_id: str, usage: CreditUsage) -> None:
    """Send remaining, used and total credits for ``conn_id``; a metrics failure never fails
    the task, but it is logged."""
    Stats = _stats()
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


def emit_spend(record: Mapping[str, Any]) -> None:
    """Count a task's spend record (see :mod:`~airflow_provider_coinstats.common.spend`) per
    connection; a metrics failure never fails the task, but it is logged."""
    Stats = _stats()
    try:
        for conn_id, figures in record["connections"].items():
            tags = {"conn_id": conn_id, "dag_id": record["dag_id"], "task_id": record["task_id"]}
            for name, key in (("spent", "credits"), ("calls", "calls")):
                Stats.incr(f"coinstats.credits.{name}", figures[key], tags=tags)
                Stats.incr(f"coinstats.credits.{name}.{conn_id}", figures[key])
    except Exception:
        log.warning("Could not emit CoinStats spend metrics", exc_info=True)


def _stats() -> Any:
    try:
        from airflow.sdk.observability.stats import Stats
    except ImportError:  # Airflow 3.2 keeps Stats in core
        from airflow.stats import Stats  # type: ignore[no-redef]
    return Stats
