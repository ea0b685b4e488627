"""The provider as the real `airflow` CLI sees it: registration, form widgets, connection test."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from airflow_provider_coinstats.testing.sandbox import Sandbox
from tests.conftest import TEST_KEY
from tests.integration.conftest import RealAirflow

pytestmark = pytest.mark.integration


def _json_rows(output: str) -> list[dict[str, str]]:
    """The JSON table a CLI command printed (Airflow may log lines before it)."""
    return json.loads(output[output.index("[") :])  # type: ignore[no-any-return]


def test_providers_list_hooks_and_widgets(real_airflow: RealAirflow) -> None:
    providers = _json_rows(real_airflow.cli("providers", "list", "-o", "json"))
    (ours,) = [p for p in providers if p["package_name"] == "airflow-provider-coinstats"]
    assert ours["version"] == "0.1.0"

    hooks = _json_rows(real_airflow.cli("providers", "hooks", "-o", "json"))
    (hook,) = [h for h in hooks if h["connection_type"] == "coinstats"]
    assert hook == {
        "connection_type": "coinstats",
        "class": "airflow_provider_coinstats.hooks.coinstats.CoinStatsHook",
        "conn_id_attribute_name": "coinstats_conn_id",
        "package_name": "airflow-provider-coinstats",
        "hook_name": "CoinStats",
    }

    widgets = _json_rows(real_airflow.cli("providers", "widgets", "-o", "json"))
    ours_widgets = {
        w["connection_parameter_name"]: w["field_type"]
        for w in widgets
        if w["package_name"] == "airflow-provider-coinstats"
    }
    assert ours_widgets == {
        "extra__coinstats__timeout": ["number", "null"],
        "extra__coinstats__total_timeout": ["number", "null"],
        "extra__coinstats__max_retries": ["integer", "null"],
        "extra__coinstats__requests_per_second": ["number", "null"],
        "extra__coinstats__max_response_bytes": ["integer", "null"],
        "extra__coinstats__auth_type": ["string", "null"],
        "extra__coinstats__allow_insecure_http": ["boolean", "null"],
    }


@pytest.mark.parametrize("form", ["uri", "json"])
def test_connections_test_through_the_cli(
    real_airflow: RealAirflow, sandbox: Sandbox, form: str
) -> None:
    host_port = sandbox.url.removeprefix("http://")
    conn = (
        f"coinstats://http://:{quote(TEST_KEY)}@{host_port}/v1"
        if form == "uri"
        else json.dumps({"conn_type": "coinstats", "host": sandbox.url, "password": TEST_KEY})
    )
    output = real_airflow.cli(
        "connections",
        "test",
        "coinstats_default",
        env={"AIRFLOW_CONN_COINSTATS_DEFAULT": conn, "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"},
    )
    assert "Connection success!" in output
    assert TEST_KEY not in output
    assert sandbox.count(path="/usage/credits") == 1  # the key really went to CoinStats


def test_connections_test_reports_a_rejected_key(
    real_airflow: RealAirflow, sandbox: Sandbox
) -> None:
    conn = json.dumps({"conn_type": "coinstats", "host": sandbox.url, "password": "revoked-1234"})
    done = real_airflow.run_cli(
        "connections",
        "test",
        "coinstats_default",
        env={"AIRFLOW_CONN_COINSTATS_DEFAULT": conn, "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"},
    )
    # Airflow 3.3 also exits 1 here; 3.2.0 prints the failure but exits 0.
    assert "Connection failed!" in done.stdout
    assert "rejected the API key of connection 'coinstats_default'" in done.stdout
    assert "revoked-1234" not in done.stdout + done.stderr
