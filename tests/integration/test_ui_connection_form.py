"""The connection form as the Airflow UI gets it: from a real api-server over HTTP."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def _get_json(url: str) -> Any:
    # A first request builds the provider list: slow on a loaded machine.
    with urllib.request.urlopen(url, timeout=120) as answer:
        return json.loads(answer.read())


def test_api_server_serves_the_coinstats_connection_form(admin_api_server: str) -> None:
    forms = _get_json(f"{admin_api_server}/ui/connections/hook_meta")
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
