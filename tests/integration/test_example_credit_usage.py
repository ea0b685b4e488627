"""The credit-usage example DAG under a real Airflow, against the sandbox over real HTTP."""

from __future__ import annotations

import pytest

from airflow_provider_coinstats.testing.sandbox import Sandbox
from tests.conftest import TEST_KEY, connection_json
from tests.integration.conftest import RealAirflow

pytestmark = pytest.mark.integration


def test_example_dag_reads_and_reports_credit_usage(
    real_airflow: RealAirflow, sandbox: Sandbox
) -> None:
    run = real_airflow.dags_test(
        "example_coinstats_credit_usage",
        env={"AIRFLOW_CONN_COINSTATS_DEFAULT": connection_json(sandbox.url)},
    )
    assert run.state == "success", run.output[-4000:]
    usage = run.xcoms["read_credit_usage"]
    assert usage["remaining_credits"] == 55_000
    assert usage["subscription"] == "PRO"
    assert run.xcoms["report"].startswith("PRO plan: 55,000 of 100,000 credits left, 45.0% used")
    assert "CoinStats PRO: 55,000 of 100,000 credits left (45.0% used)" in run.output
    assert sandbox.count(path="/usage/credits") == 1
    assert TEST_KEY not in str(run.xcoms)


def test_example_dag_fails_with_a_clear_message_on_a_rejected_key(
    real_airflow: RealAirflow, sandbox: Sandbox
) -> None:
    run = real_airflow.dags_test(
        "example_coinstats_credit_usage",
        env={"AIRFLOW_CONN_COINSTATS_DEFAULT": connection_json(sandbox.url, key="revoked-key-99")},
    )
    assert run.state == "failed"
    assert run.task_states["read_credit_usage"] == "failed"
    assert "rejected the API key of connection 'coinstats_default'" in run.output
    assert sandbox.count(path="/usage/credits") == 1
