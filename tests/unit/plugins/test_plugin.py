"""The plugin Airflow loads through the entry point, and what loading it costs."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

from airflow_provider_coinstats.plugins import coinstats


def test_entry_point_names_the_plugin() -> None:
    [point] = [p for p in entry_points(group="airflow.plugins") if p.name == "coinstats"]
    assert point.load() is coinstats.CoinStatsPlugin
    assert coinstats.CoinStatsPlugin.name == "coinstats"


def test_views_point_at_the_mounted_app() -> None:
    from airflow_provider_coinstats.plugins import credits_app

    plugin = coinstats.CoinStatsPlugin()
    [mounted] = plugin.fastapi_apps
    assert mounted["app"] is credits_app.app
    assert mounted["url_prefix"] == credits_app.URL_PREFIX == coinstats.URL_PREFIX
    assert coinstats.DAG_VIEW_ROUTE == credits_app.DAG_VIEW_ROUTE
    nav, dag = plugin.external_views
    assert (nav["destination"], nav["href"]) == ("nav", "/coinstats/credits/")
    assert (dag["destination"], dag["href"]) == ("dag", "/coinstats/credits/dag/{DAG_ID}")
    assert dag["url_route"] == coinstats.DAG_VIEW_ROUTE


def test_loading_the_plugin_imports_neither_fastapi_nor_the_page() -> None:
    # Task processes load every plugin (for listeners); the page is for the api-server only.
    code = (
        "import sys; import airflow_provider_coinstats.plugins.coinstats as m; "
        "m.CoinStatsPlugin(); "
        "print(sorted(n for n in sys.modules if n == 'fastapi' or n.endswith('credits_app')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
