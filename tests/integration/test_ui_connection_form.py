"""The connection form as the Airflow UI gets it: from a real api-server over HTTP."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import RealAirflow, running_api_server

pytestmark = pytest.mark.integration

STARTUP_DEADLINE_SECONDS = 300


def _get_json(url: str) -> Any:
    # A first request builds the provider list: slow on a loaded machine.
    with urllib.request.urlopen(url, timeout=120) as answer:
        return json.loads(answer.read())


def test_api_server_serves_the_coinstats_connection_form(
    real_airflow: RealAirflow, tmp_path: Path
) -> None:
    settings = {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"}  # every request: admin
    with running_api_server(real_airflow, tmp_path, settings) as base:
        forms = _get_json(f"{base}/ui/connections/hook_meta")
        (form,) = [f for f in forms if f["connection_type"] == "coinstats"]
        assert form["hook_name"] == "CoinStats"
        standard = form["standard_fields"]
        assert standard["password"]["title"] == "API key"
        assert standard["host"]["title"] == "Base URL"
        assert standard["host"]["placeholder"] == "https://openapiv1.coinstats.app/v1"
        assert standard["login"]["hidden"] is True
        assert standard["port"]["hidden"] is False  # the list's Test button needs a port
        extras = form["extra_fields"]
        assert extras["timeout"]["schema"]["default"] == 30.0
        assert extras["max_retries"]["schema"]["maximum"] == 20
        assert extras["requests_per_second"]["schema"]["type"] == ["number", "null"]
        assert extras["auth_type"]["schema"]["enum"] == ["api_key", "bearer"]
