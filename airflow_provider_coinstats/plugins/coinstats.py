"""CoinStatsPlugin: the provider's one Airflow plugin, loaded through the ``airflow.plugins``
entry point (a plugin listed only in provider info is not loaded on Airflow 3.3 by default)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_coinstats.plugins import reservation_listener


class CoinStatsPlugin(AirflowPlugin):
    name = "coinstats"
    listeners = [reservation_listener]
