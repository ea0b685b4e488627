"""The provider's Airflow plugin, loaded in every Airflow process through the entry point
``airflow.plugins: coinstats`` (a plugin listed only in provider info is not loaded by 3.3).

Keep this module light: every task process imports it.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_coinstats.common import spend_listener


class CoinStatsPlugin(AirflowPlugin):
    """Listeners (task spend) now; the credits page joins them here."""

    name = "coinstats"
    listeners = [spend_listener]
