"""The credit gate under a real Airflow: it waits, the sandbox frees credits, it passes;
and with soft_fail, a budget that never arrives skips the gate and what it guards."""

from __future__ import annotations

import re

import pytest

from airflow_provider_coinstats.testing.sandbox import Sandbox
from tests.conftest import TEST_KEY, connection_json
from tests.integration.conftest import TEST_DAGS, RealAirflow, when_requested

pytestmark = pytest.mark.integration


def test_gate_waits_then_passes_when_credits_are_freed(
    real_airflow: RealAirflow, sandbox: Sandbox
) -> None:
    sandbox.set_credits(used=99_900)  # 100 left; the gate needs 6 + reserve 500
    # Free credits once the gate has read the low figures, however long Airflow took to get
    # there: its first decision is "waiting", the next poke passes.
    with when_requested(
        sandbox, "/usage/credits", lambda: sandbox.set_credits(used=45_000)
    ) as refilled:
        run = real_airflow.dags_test(
            "example_coinstats_credit_gate",
            env={"AIRFLOW_CONN_COINSTATS_DEFAULT": connection_json(sandbox.url)},
        )
    assert refilled.is_set(), run.output[-4000:]
    assert run.state == "success", run.output[-4000:]
    decisions = re.findall(r"(?:waiting|passed): [^\[]*credits left[^\[]*", run.output)
    assert decisions[0].startswith("waiting: 100 credits left, need 6 + reserve 500"), decisions
    assert decisions[-1].startswith("passed: 55,000 credits left, need 6 + reserve 500")
    gate = run.xcoms["wait_for_credits"]
    assert gate["passed"] is True
    assert gate["required_credits"] == 6
    assert run.xcoms["pull_top_coins"]["coins"] == 250
    assert run.xcoms["report"].startswith("gate 'passed: 55,000 credits left")
    # The pull really spent what the gate priced: 3 pages of /coins at 2 credits each.
    assert sandbox.usage()["usedCredits"] == 45_000 + 6
    assert TEST_KEY not in str(run.xcoms)


def test_soft_fail_skips_the_gate_and_downstream_when_credits_never_come(
    real_airflow: RealAirflow, sandbox: Sandbox
) -> None:
    sandbox.set_credits(used=99_000)
    run = real_airflow.dags_test(
        "coinstats_test_gate_soft_fail",
        dags_folder=TEST_DAGS,
        env={"AIRFLOW_CONN_COINSTATS_DEFAULT": connection_json(sandbox.url)},
    )
    assert run.task_states == {"wait_for_credits": "skipped", "spend": "skipped"}, run.output[
        -3000:
    ]
    assert "waiting: 1,000 credits left, need 5,000 + reserve 0" in run.output
    assert sandbox.count(path="/coins") == 0
