"""The market-pull and wallet-balance example DAGs under a real Airflow, against the sandbox over
real HTTP: the gate prices the planned calls, the pull runs, and the price-list estimate equals
what the sandbox charged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_coinstats.testing.sandbox import Sandbox
from tests.conftest import TEST_KEY, connection_json
from tests.integration.conftest import RealAirflow

pytestmark = pytest.mark.integration


def charged(sandbox: Sandbox) -> float:
    return sum(record.credits for record in sandbox.requests)


def test_market_pull_walks_the_pages_into_a_file_and_spends_its_estimate(
    real_airflow: RealAirflow, sandbox: Sandbox, tmp_path: Path
) -> None:
    run = real_airflow.dags_test(
        "example_coinstats_market_pull",
        env={
            "AIRFLOW_CONN_COINSTATS_DEFAULT": connection_json(sandbox.url),
            "AIRFLOW_VAR_COINSTATS_OUTPUT_ROOT": f"file://{tmp_path}",
        },
    )
    assert run.state == "success", run.output[-4000:]
    assert run.xcoms["wait_for_credits"]["required_credits"] == 10  # 5 pages x 2, the worst case
    pull = run.xcoms["pull_coins"]
    assert pull["calls"] == 3 and pull["items"] == 250 and pull["truncated"] is False
    # The operator's price-list estimate, the sandbox's own charges and the account's
    # before/after difference all agree.
    assert pull["estimated_credits"] == 6 == charged(sandbox)
    assert run.xcoms["report"]["charged_credits"] == 6
    assert [r.query["page"] for r in sandbox.requests if r.path == "/coins"] == ["1", "2", "3"]
    written = list(tmp_path.glob("market/*/coins.json"))
    assert [f"file://{path}" for path in written] == [pull["output_path"]]
    assert len(json.loads(written[0].read_text())) == 250
    assert "CoinStats GET /coins: 3 calls cost 6 credits by the price list" in run.output
    assert TEST_KEY not in run.output + json.dumps(run.xcoms)


def test_wallet_balances_gate_prices_the_network_multiplier(
    real_airflow: RealAirflow, sandbox: Sandbox
) -> None:
    run = real_airflow.dags_test(
        "example_coinstats_wallet_balances",
        env={"AIRFLOW_CONN_COINSTATS_DEFAULT": connection_json(sandbox.url)},
    )
    assert run.state == "success", run.output[-4000:]
    assert run.xcoms["wait_for_credits"]["required_credits"] == 120  # 3 networks x 40
    balances = run.xcoms["get_balances"]
    assert balances["estimated_credits"] == 120 == charged(sandbox)
    assert run.xcoms["report"]["charged_credits"] == 120
    [call] = [r for r in sandbox.requests if r.path == "/wallet/balances"]
    assert call.query["networks"] == "ethereum,polygon,binancesmartchain"
    assert call.query["address"] == "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045"  # DAG param
    assert set(run.xcoms["report"]["usd_by_network"]) == {
        "ethereum",
        "polygon",
        "binancesmartchain",
    }
    assert TEST_KEY not in run.output + json.dumps(run.xcoms)
