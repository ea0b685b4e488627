"""Spend attribution and readings history under a real Airflow (``airflow dags test``), over
real HTTP to the sandbox: the provider's plugin listener runs in the task process, and what
it records equals what the sandbox charged."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_coinstats.common.readings import parse_history, variable_key
from airflow_provider_coinstats.common.spend import (
    FAILED_TRIES_VARIABLE,
    parse_failed_tries,
    try_key,
)
from airflow_provider_coinstats.testing.sandbox import Sandbox
from tests.conftest import TEST_KEY, connection_json
from tests.integration.conftest import AIRFLOW, RealAirflow
from tests.integration.test_deferrable_e2e import (  # the real deployment, started per test
    DEADLINE_SECONDS,
    Deployment,
    deployment,
)

__all__ = ["deployment"]  # a fixture: used by name

pytestmark = pytest.mark.integration

DAG_ID = "coinstats_test_spend"
DAG_FILE = """
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook
from airflow_provider_coinstats.operators.coinstats import CreditUsageOperator


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def coinstats_test_spend():
    @task
    def pull():
        hook = CoinStatsHook()
        for page in (1, 2, 3):
            hook.request("GET", "/coins", params={"page": page, "limit": 5})
        hook.client.request("GET", "/coins/bitcoin")  # the client itself is metered too

    @task(retries=1, retry_delay=timedelta(seconds=0))
    def flaky(ti=None):
        hook = CoinStatsHook()
        hook.request("GET", "/news", params={"limit": 1})
        if ti.try_number == 1:
            raise RuntimeError("fails half-way on its first try")
        hook.request("GET", "/fiats")

    @task
    def broken():
        CoinStatsHook().request("GET", "/coins/ethereum")
        raise RuntimeError("fails after spending")

    usage = CreditUsageOperator(task_id="usage", trigger_rule="all_done")
    [pull(), flaky(), broken()] >> usage


coinstats_test_spend()
"""


def spend_xcoms(db: Path, run_id: str) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT task_id, value FROM xcom WHERE dag_id = ? AND run_id = ? "
            "AND key = 'coinstats_spend'",
            (DAG_ID, run_id),
        ).fetchall()
    return {task: json.loads(value) for task, value in rows}


def newest_run_id(db: Path) -> str:
    with sqlite3.connect(db) as con:
        row = con.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (DAG_ID,)
        ).fetchone()
    assert row is not None
    return str(row[0])


def variable(airflow: RealAirflow, key: str) -> str:
    # Through the CLI: the value may be Fernet-encrypted in the DB.
    return airflow.cli("variables", "get", key).strip().splitlines()[-1]


def test_task_spend_equals_the_sandbox_charge_and_readings_are_kept(
    real_airflow: RealAirflow, sandbox: Sandbox, tmp_path: Path
) -> None:
    (tmp_path / "coinstats_test_spend.py").write_text(DAG_FILE)
    run = real_airflow.dags_test(
        DAG_ID,
        env={"AIRFLOW_CONN_COINSTATS_DEFAULT": connection_json(sandbox.url)},
        dags_folder=tmp_path,
    )
    assert run.task_states == {
        "pull": "success",
        "flaky": "success",
        "broken": "failed",
        "usage": "success",
    }, run.output[-6000:]
    records = spend_xcoms(real_airflow.db, newest_run_id(real_airflow.db))
    assert set(records) == {"pull", "flaky", "broken"}  # the free usage read is not spend

    pull = records["pull"]
    assert pull["connections"]["coinstats_default"]["endpoints"] == {
        "GET /coins": {"calls": 3, "credits": 6},
        "GET /coins/{coinId}": {"calls": 1, "credits": 1},
    }
    assert (pull["credits"], pull["calls"], pull["state"]) == (7, 4, "success")
    assert pull["dag_id"] == DAG_ID and pull["map_index"] == -1 and pull["try_number"] == 1
    assert "spent 7 credits in 4 calls: GET /coins x3, GET /coins/{coinId} x1" in run.output

    # A task that fails half-way still records what it spent.
    assert (records["broken"]["credits"], records["broken"]["state"]) == (1, "failed")

    # The retried task: its XCom is the second try's; the first try's spend is in the ledger.
    flaky = records["flaky"]
    assert (flaky["try_number"], flaky["credits"], flaky["state"]) == (2, 6, "success")
    ledger = parse_failed_tries(variable(real_airflow, FAILED_TRIES_VARIABLE))
    by_try = {try_key(r): r for r in ledger}
    first_try = by_try[(DAG_ID, "flaky", flaky["run_id"], -1, 1)]
    assert (first_try["credits"], first_try["state"]) == (5, "failed")

    # Every try's record together equals what the sandbox charged, credit for credit.
    every_try = {try_key(r): r for r in [*records.values(), *ledger]}
    charged = sum(request.credits for request in sandbox.requests)
    assert sum(r["credits"] for r in every_try.values()) == charged == 7 + 1 + 6 + 5
    assert sandbox.usage()["usedCredits"] == 45_000 + charged

    # Readings history: the usage operator's reading, after all the spend.
    history = parse_history(variable(real_airflow, variable_key("coinstats_default")))
    assert history[-1].remaining == 55_000 - charged
    assert history[-1].subscription == "PRO"
    assert TEST_KEY not in json.dumps(records) + json.dumps(ledger)


def test_the_triggerers_shared_poller_records_readings(
    deployment: Deployment, sandbox: Sandbox
) -> None:
    """A deferred gate (real scheduler, triggerer, api-server): the worker's reading and then
    the triggerer's, once the figures change, land in the connection's history."""
    sandbox.set_credits(used=99_000)  # 1,000 left, the gate needs 5,000
    deadline = time.monotonic() + DEADLINE_SECONDS
    deployment.wait_for(
        "the gate to defer", lambda: deployment.task_state() == "deferred" or None, deadline
    )
    deployment.wait_for(
        "the scheduler to see the worker exit after deferring",
        lambda: (
            "Received executor event with state success" in deployment.output("scheduler") or None
        ),
        deadline,
    )
    deployment.wait_for(
        "the triggerer to read credits",
        lambda: sandbox.count(path="/usage/credits") >= 2 or None,
        deadline,
    )
    sandbox.set_credits(used=10_000)
    state = deployment.wait_for(
        "the run to finish",
        lambda: state if (state := deployment.run_state()) in ("success", "failed") else None,
        deadline,
    )
    assert state == "success", deployment.output("scheduler")[-3000:]
    got = subprocess.run(
        [AIRFLOW, "variables", "get", variable_key("coinstats_default")],
        env=deployment.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    history = parse_history(got.stdout.strip().splitlines()[-1])
    remaining = [point.remaining for point in history]
    # The worker read 1,000 before deferring; only the triggerer read the 90,000 (the resumed
    # task decides on the trigger's event, it reads nothing). The history keeps one point per
    # minute for its newest 6 hours (the last one), so the 1,000 is kept only when the two
    # readings fell in different minutes.
    assert remaining[-1] == 90_000, remaining
    assert set(remaining) <= {1_000, 90_000}, remaining
    logs = "".join(
        path.read_text(errors="replace")
        for path in (deployment.home / "logs").rglob("*")
        if path.is_file()
    )
    assert "could not record a credit reading" not in logs + deployment.output("triggerer")
