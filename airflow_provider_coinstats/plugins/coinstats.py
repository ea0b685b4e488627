"""The provider's Airflow plugin, loaded in every Airflow process through the entry point
``airflow.plugins: coinstats`` (a plugin listed only in provider info is not loaded by 3.3):
the task spend listener, the reservation listener, and the CoinStats credits page in the UI.

Keep this module light: every task process imports it. The page's FastAPI app is imported only
when the api-server (or ``airflow plugins``) asks for ``fastapi_apps``.
"""

from __future__ import annotations

from typing import Any

# The public path on every Airflow 3; 3.2.0 re-exports it without marking it as exported.
from airflow.plugins_manager import AirflowPlugin  # type: ignore[attr-defined,unused-ignore]

from airflow_provider_coinstats.plugins import reservation_listener, spend_listener

#: Must match ``credits_app.URL_PREFIX`` and ``credits_app.DAG_VIEW_ROUTE`` (a unit test checks);
#: repeated here so that building the plugin imports neither FastAPI nor the app.
URL_PREFIX = "/coinstats/credits"
DAG_VIEW_ROUTE = "coinstats-credits-dag"


class _LazyFastAPIApps:
    """``fastapi_apps`` built on first read: Airflow reads it only in the api-server."""

    def __get__(self, instance: object, owner: type | None = None) -> list[dict[str, Any]]:
        from airflow_provider_coinstats.plugins.credits_app import app

        return [{"app": app, "url_prefix": URL_PREFIX, "name": "CoinStats credits"}]


class CoinStatsPlugin(AirflowPlugin):
    name = "coinstats"
    fastapi_apps = _LazyFastAPIApps()  # type: ignore[assignment]
    external_views = [
        {
            "name": "CoinStats credits",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "category": "browse",
            "url_route": "coinstats-credits",
        },
        {
            "name": "CoinStats credits",
            "href": f"{URL_PREFIX}/dag/{{DAG_ID}}",
            "destination": "dag",
            "url_route": DAG_VIEW_ROUTE,
        },
    ]
    listeners = [spend_listener, reservation_listener]
