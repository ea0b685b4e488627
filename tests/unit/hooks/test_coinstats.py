"""CoinStatsHook: Airflow connection in, configured client out; real HTTP to the sandbox."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from airflow.sdk.log import redact

from airflow_provider_coinstats.api.models import CreditUsage
from airflow_provider_coinstats.exceptions import CoinStatsConfigError
from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook
from airflow_provider_coinstats.testing.sandbox import Sandbox
from tests.conftest import TEST_KEY


def test_identity_matches_the_registered_connection_type() -> None:
    assert CoinStatsHook.conn_type == "coinstats"
    assert CoinStatsHook.default_conn_name == "coinstats_default"
    assert CoinStatsHook.conn_name_attr == "coinstats_conn_id"
    assert CoinStatsHook.hook_name == "CoinStats"


def test_json_connection_from_the_environment(coinstats_conn: Sandbox) -> None:
    assert CoinStatsHook().get_credit_usage() == CreditUsage(100_000, 45_000, 55_000, "PRO")


def test_uri_connection_from_the_environment(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    host_port = sandbox.url.removeprefix("http://")
    uri = f"coinstats://http://:{quote(TEST_KEY)}@{host_port}/v1?requests_per_second=500&timeout=5"
    monkeypatch.setenv("AIRFLOW_CONN_CS_URI", uri)
    hook = CoinStatsHook(coinstats_conn_id="cs_uri")
    assert hook.client.config.base_url == sandbox.url + "/v1"
    assert hook.client.config.timeout == 5.0
    assert hook.get_credit_usage().remaining_credits == 55_000


def test_request_reaches_any_endpoint(coinstats_conn: Sandbox) -> None:
    coin = CoinStatsHook().request("GET", "/coins/bitcoin")
    assert coin["id"] == "bitcoin"


def test_missing_key_fails_before_any_request(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_NO_KEY", json.dumps({"conn_type": "coinstats", "host": sandbox.url})
    )
    with pytest.raises(CoinStatsConfigError, match="'no_key' has no CoinStats API key"):
        CoinStatsHook(coinstats_conn_id="no_key").get_credit_usage()
    assert sandbox.count() == 0


def test_test_connection_reports_usage(coinstats_conn: Sandbox) -> None:
    ok, message = CoinStatsHook().test_connection()
    assert ok is True
    assert message == "Connection works. CoinStats PRO: 55,000 of 100,000 credits left (45.0% used)"


def test_test_connection_with_a_rejected_key_says_so_without_the_key(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad_key = "rejected-key-0123456789"
    monkeypatch.setenv(
        "AIRFLOW_CONN_BAD",
        json.dumps({"conn_type": "coinstats", "host": sandbox.url, "password": bad_key}),
    )
    ok, message = CoinStatsHook(coinstats_conn_id="bad").test_connection()
    assert ok is False
    assert "rejected the API key of connection 'bad'" in message
    assert "https://openapi.coinstats.app" in message
    assert bad_key not in message


def test_key_is_registered_with_the_secret_masker(coinstats_conn: Sandbox) -> None:
    hook = CoinStatsHook()
    hook.get_credit_usage()
    assert redact(f"header X-API-KEY={TEST_KEY}") == "header X-API-KEY=***"
    assert TEST_KEY not in repr(hook) + repr(hook.client)


def test_client_is_built_once_and_lazily(coinstats_conn: Sandbox) -> None:
    hook = CoinStatsHook()
    assert "client" not in hook.__dict__  # constructing a hook reads no connection
    assert hook.get_conn() is hook.client
