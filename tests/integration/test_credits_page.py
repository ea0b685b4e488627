"""The credits page in a real api-server, over HTTP (no browser): the plugin is mounted from the
entry point, its views are registered, only a logged-in user gets in, and after a real
``airflow dags test`` against the sandbox its figures equal what the sandbox charged."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_coinstats.common.readings import parse_history, variable_key
from airflow_provider_coinstats.testing.sandbox import Sandbox
from tests.conftest import TEST_KEY, connection_json
from tests.integration.conftest import RealAirflow, running_api_server

pytestmark = pytest.mark.integration

DAG_ID = "example_coinstats_market_pull"
PAGE = "/coinstats/credits"


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=120) as a:
            return a.status, a.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture(scope="module")
def ran(real_airflow: RealAirflow, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One real run of the market pull against a sandbox; yields (airflow, what it charged)."""
    with Sandbox(
        api_key=TEST_KEY, plan="PRO", total_credits=100_000, used_credits=45_000
    ) as sandbox:
        output = tmp_path_factory.mktemp("coins")
        result = real_airflow.dags_test(
            DAG_ID,
            env={
                "AIRFLOW_CONN_COINSTATS_DEFAULT": connection_json(sandbox.url),
                "AIRFLOW_VAR_COINSTATS_OUTPUT_ROOT": f"file://{output}",
            },
        )
        assert result.state == "success", result.output[-4000:]
        charged = sum(request.credits for request in sandbox.requests)
        remaining = sandbox.usage()["totalCredits"] - sandbox.usage()["usedCredits"]
    return real_airflow, charged, remaining


@pytest.fixture(scope="module")
def server(ran: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The api-server with the simple auth manager and a real login (not all-admins)."""
    settings = {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "viewer:admin",
    }
    with running_api_server(ran[0], tmp_path_factory.mktemp("api-server"), settings) as base:
        yield base


@pytest.fixture(scope="module")
def token(ran: Any, server: str) -> str:
    passwords = json.loads(
        (ran[0].home / "simple_auth_manager_passwords.json.generated").read_text()
    )
    body = json.dumps({"username": "viewer", "password": passwords["viewer"]}).encode()
    request = urllib.request.Request(
        f"{server}/auth/token", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return str(json.loads(answer.read())["access_token"])


def test_without_logging_in_the_page_is_refused(server: str) -> None:
    for path in ("/", "/api", f"/dag/{DAG_ID}", f"/dag/{DAG_ID}/api"):
        status, body = _get(f"{server}{PAGE}{path}")
        assert status == 401, (path, body)
        assert "Not authenticated" in body


def test_the_plugin_registers_the_nav_and_dag_views(server: str, token: str) -> None:
    status, body = _get(f"{server}/api/v2/plugins", token)
    assert status == 200
    [plugin] = [p for p in json.loads(body)["plugins"] if p["name"] == "coinstats"]
    assert [a["url_prefix"] for a in plugin["fastapi_apps"]] == [PAGE]
    views = {v["destination"]: v["href"] for v in plugin["external_views"]}
    assert views == {"nav": f"{PAGE}/", "dag": f"{PAGE}/dag/{{DAG_ID}}"}


def test_the_page_shows_what_the_sandbox_charged(ran: Any, server: str, token: str) -> None:
    _, charged, remaining = ran
    assert charged > 0
    status, body = _get(f"{server}{PAGE}/api", token)
    assert status == 200, body
    [conn] = [c for c in json.loads(body)["connections"] if c["conn_id"] == "coinstats_default"]
    assert conn["spend"]["credits"] == charged
    assert [(d["dag_id"], d["credits"]) for d in conn["spend"]["by_dag"]] == [(DAG_ID, charged)]
    # Plan and credits left are the latest recorded reading's. The history keeps at most one
    # changed reading per 10 s per process (common.readings), so in a run this short the last
    # one may be the gate's, taken before the pull spent.
    recorded = recorded_history(ran[0])
    assert (conn["plan"], conn["remaining"], conn["total"]) == ("PRO", recorded[-1][1], 100_000)
    assert remaining <= conn["remaining"] <= 55_000
    assert [v for _, v in conn["history"]] == [v for _, v in recorded]
    assert conn["forecast"] is not None and conn["forecast"]["text"]
    status, html = _get(f"{server}{PAGE}/", token)
    assert status == 200
    assert f"{conn['remaining']:,.0f}" in html and DAG_ID in html and "<svg" in html


def recorded_history(airflow: RealAirflow) -> list[tuple[str, float]]:
    """The readings Variable as the task processes wrote it (the CLI decrypts it)."""
    done = airflow.run_cli("variables", "get", variable_key("coinstats_default"))
    assert done.returncode == 0, done.stderr[-2000:]
    [text] = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return [(p.at.isoformat(), p.remaining) for p in parse_history(text)]


def test_the_dag_view_shows_that_dags_spend(ran: Any, server: str, token: str) -> None:
    charged = ran[1]
    status, body = _get(f"{server}{PAGE}/dag/{DAG_ID}/api", token)
    assert status == 200, body
    report = json.loads(body)
    assert report["connections"]["coinstats_default"]["credits"] == charged
    assert len(report["runs"]) == 1
    status, html = _get(f"{server}{PAGE}/dag/{DAG_ID}", token)
    assert status == 200 and "pull_coins" in html
