"""Credit reservations under a real Airflow (scheduler, dag-processor, api-server and one real
``airflow triggerer``, LocalExecutor, SQLite): four deferred gates needing 5,000 each wait on
one connection; the sandbox is raised to 12,000 free, which covers two. Exactly two pass, the
other two keep waiting in the triggerer while the two hold their credits, and pass once the
work downstream of the first two has finished (the provider's task listener ends their
reservations); when the run ends nothing is held any more.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from airflow_provider_coinstats.common.reservations import Ledger, variable_key
from airflow_provider_coinstats.testing.sandbox import Sandbox
from tests.conftest import TEST_KEY
from tests.integration.conftest import AIRFLOW
from tests.integration.test_deferrable_e2e import DEADLINE_SECONDS, Deployment, deployed

pytestmark = pytest.mark.integration

DAG_ID = "coinstats_reservations_e2e"
GATES = [f"gate_{n}" for n in range(4)]
DAG_FILE = f'''
import pathlib
import time

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor

@task
def work(flag: str) -> None:
    # The gated work: runs until the test lets it finish.
    while not pathlib.Path(flag).exists():
        time.sleep(0.2)

with DAG(
    dag_id="{DAG_ID}",
    schedule="@once",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
    max_active_tasks=16,
):
    for n in range(4):
        CreditBudgetSensor(
            task_id=f"gate_{{n}}",
            required_credits=5_000,
            deferrable=True,
            poke_interval=1,
            timeout=900,
        ) >> work.override(task_id=f"work_{{n}}")("{{flag}}")
'''


@pytest.fixture
def flag(tmp_path: Path) -> Path:
    return tmp_path / "work-may-finish"


@pytest.fixture
def deployment(tmp_path: Path, sandbox: Sandbox, flag: Path) -> Iterator[Deployment]:
    sandbox.set_credits(used=99_000)  # 1,000 left: every gate defers
    source = DAG_FILE.replace("{flag}", str(flag))
    with deployed(tmp_path, sandbox, {DAG_ID: source}) as deployment:
        yield deployment


def states(deployment: Deployment) -> dict[str, str | None]:
    rows = deployment.query("SELECT task_id, state FROM task_instance WHERE dag_id = ?", DAG_ID)
    return dict(rows)


def run_state(deployment: Deployment) -> str | None:
    rows = deployment.query("SELECT state FROM dag_run WHERE dag_id = ?", DAG_ID)
    return rows[0][0] if rows else None


def passed_gates(deployment: Deployment) -> list[str]:
    return sorted(g for g, state in states(deployment).items() if g in GATES and state == "success")


def ledger(deployment: Deployment) -> Ledger:
    """The connection's ledger as Airflow hands it out (the CLI decrypts what Fernet hid)."""
    shown = subprocess.run(
        [AIRFLOW, "variables", "get", variable_key("coinstats_default")],
        env=deployment.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    return Ledger.from_json(shown.stdout.strip())


def wait(
    deployment: Deployment, what: str, probe: Callable[[], object | None], deadline: float
) -> object:
    def checked() -> object | None:
        if run_state(deployment) == "failed":
            raise AssertionError(f"the run failed: {states(deployment)}")
        return probe()

    return deployment.wait_for(what, checked, deadline)


def test_four_gates_on_credits_for_two_pass_two_at_a_time(
    deployment: Deployment, sandbox: Sandbox, flag: Path
) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    wait(
        deployment,
        "all four gates to defer",
        lambda: all(states(deployment).get(g) == "deferred" for g in GATES) or None,
        deadline,
    )
    # Raise credits only once the scheduler has seen each worker exit after deferring
    # (a trigger firing before that hits apache/airflow#67287; see test_deferrable_e2e).
    wait(
        deployment,
        "the scheduler to see the four workers exit",
        lambda: (
            deployment.output("scheduler").count("Received executor event with state success") >= 4
            or None
        ),
        deadline,
    )
    sandbox.set_credits(used=88_000)  # 12,000 free: covers two gates of 5,000

    wait(
        deployment,
        "two gates to pass",
        lambda: len(passed_gates(deployment)) >= 2 or None,
        deadline,
    )
    first = passed_gates(deployment)
    # The triggerer keeps reading (one shared reading a second) and the other two keep waiting.
    seen = sandbox.count(path="/usage/credits")
    wait(
        deployment,
        "three more credit readings",
        lambda: sandbox.count(path="/usage/credits") >= seen + 3 or None,
        deadline,
    )
    now = states(deployment)
    assert passed_gates(deployment) == first and len(first) == 2, now
    assert sorted(g for g in GATES if now.get(g) == "deferred") == sorted(set(GATES) - set(first))
    held = ledger(deployment)
    assert held.held_by_others("nobody") == (10_000, 2), held

    flag.touch()  # the first two's work finishes: the listener ends their reservations
    wait(
        deployment,
        "the run to succeed",
        lambda: run_state(deployment) == "success" or None,
        deadline,
    )
    assert all(states(deployment)[g] == "success" for g in GATES)
    # Nothing is held for the rest of the period: what is left has finished, and ends at the
    # first reading sent after its work finished (none comes: no gate waits any more).
    left = ledger(deployment).reservations
    assert all(r.finished_at is not None for r in left.values()), left

    rows = deployment.query(
        "SELECT task_id, value FROM xcom WHERE dag_id = ? AND key = 'return_value'", DAG_ID
    )
    xcoms = {task_id: json.loads(value) for task_id, value in rows if task_id in GATES}
    assert sorted(xcoms) == GATES
    assert all(x["reserved_credits"] == 5_000 for x in xcoms.values())
    # The first pair passed on one reading of 12,000 free: one with nothing held, one with the
    # other's 5,000. The second pair passed as the first pair's reservations ended, one work
    # task after the other: never with more held than leaves 5,000 free.
    assert sorted(xcoms[g]["reserved_by_others"] for g in first) == [0, 5_000], xcoms
    later = sorted(set(GATES) - set(first))
    assert all(xcoms[g]["reserved_by_others"] in (0, 5_000) for g in later), xcoms
    assert TEST_KEY not in json.dumps(xcoms)

    trigger_logs = "".join(
        path.read_text(errors="replace")
        for path in (deployment.home / "logs").rglob("*")
        if path.is_file() and ".trigger." in path.name
    )
    assert (
        "waiting: 12,000 credits left, 10,000 reserved by 2 other gates, need 5,000 + reserve 0"
        in trigger_logs
    )
    assert (
        "passed: 12,000 credits left, 5,000 reserved by 1 other gate, need 5,000 + reserve 0; "
        "reserved 5,000" in trigger_logs
    )


RACE_DAG_ID = "coinstats_reservation_dropped_e2e"
RACE_DAG_FILE = f'''
import json
import pathlib
import time

import pendulum
from airflow.sdk import DAG, Variable, task

from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor

@task
def racer(flag: str) -> None:
    # Another process that keeps writing the ledger as it read it before the gate reserved.
    while not pathlib.Path(flag).exists():
        Variable.set(
            "{variable_key("coinstats_default")}",
            json.dumps({{"seen_used": None, "seen_at": None, "reservations": []}}),
        )
        pathlib.Path(flag + ".racing").touch()
        time.sleep(0.2)

@task.sensor(poke_interval=1, timeout=900)
def racing(flag: str) -> bool:
    return pathlib.Path(flag + ".racing").exists()

@task
def work() -> None:
    pass

with DAG(
    dag_id="{RACE_DAG_ID}",
    schedule="@once",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
):
    racer("{{flag}}")
    # The gate starts once the racer writes: its very first reservation is dropped too.
    racing("{{flag}}") >> CreditBudgetSensor(
        task_id="gate", required_credits=5_000, mode="poke", poke_interval=1, timeout=900
    ) >> work()
'''


@pytest.fixture
def race_deployment(tmp_path: Path, sandbox: Sandbox, flag: Path) -> Iterator[Deployment]:
    source = RACE_DAG_FILE.replace("{flag}", str(flag))
    with deployed(tmp_path, sandbox, {RACE_DAG_ID: source}) as deployment:
        yield deployment


def task_log(deployment: Deployment, task_id: str) -> str:
    return "".join(
        path.read_text(errors="replace")
        for path in (deployment.home / "logs").rglob("*")
        if path.is_file() and f"task_id={task_id}" in str(path)
    )


def test_a_poking_gate_does_not_pass_while_another_process_drops_its_reservation(
    race_deployment: Deployment, sandbox: Sandbox, flag: Path
) -> None:
    """Through real task processes and Airflow's Variable API, with the default 5 s
    confirmation: every reservation the gate writes is overwritten within 0.2 s by the racer, so
    it never stands and the gate never passes; once the racer stops, the next poke passes."""
    deployment, deadline = race_deployment, time.monotonic() + DEADLINE_SECONDS

    def gate_state() -> str | None:
        rows = deployment.query(
            "SELECT state FROM task_instance WHERE dag_id = ? AND task_id = 'gate'", RACE_DAG_ID
        )
        return rows[0][0] if rows else None

    dropped = (
        "waiting: the reservation of 5,000 was dropped by a ledger write made at the same "
        "moment in another process; deciding again at the next poke"
    )
    deployment.wait_for(
        "the gate to find its reservation dropped (or to pass)",
        lambda: dropped in task_log(deployment, "gate") or gate_state() == "success" or None,
        deadline,
    )
    assert gate_state() == "running", task_log(deployment, "gate")
    # Two more pokes (one credit reading each), and still it has not passed on 55,000 free.
    seen = sandbox.count(path="/usage/credits")
    deployment.wait_for(
        "two more pokes",
        lambda: sandbox.count(path="/usage/credits") >= seen + 2 or None,
        deadline,
    )
    assert gate_state() == "running"
    assert "passed:" not in task_log(deployment, "gate")

    flag.touch()  # the racer stops writing
    deployment.wait_for(
        "the run to succeed",
        lambda: (
            deployment.query(
                "SELECT 1 FROM dag_run WHERE dag_id = ? AND state = 'success'", RACE_DAG_ID
            )
            or None
        ),
        deadline,
    )
    assert "passed: 55,000 credits left, need 5,000 + reserve 0; reserved 5,000" in task_log(
        deployment, "gate"
    )
