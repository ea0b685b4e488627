"""A deferrable credit gate under a real Airflow: scheduler, dag-processor, triggerer and
api-server as separate processes on 127.0.0.1, a LocalExecutor worker, a SQLite metadata DB.

The gate checks the budget on a worker, defers, waits in the real triggerer while the sandbox
has too few credits, and passes once the sandbox frees them; the test watches the task go
through ``deferred`` in the metadata DB and reads the XCom the resumed task returned.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

from airflow_provider_coinstats.testing.sandbox import Sandbox
from tests.conftest import TEST_KEY, connection_json
from tests.integration.conftest import AIRFLOW, LOADED_MACHINE_ENV

pytestmark = pytest.mark.integration

DAG_ID = "coinstats_deferred_gate_e2e"
DAG_FILE = f'''
import pendulum
from airflow.sdk import DAG

from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor

with DAG(
    dag_id="{DAG_ID}",
    schedule="@once",  # the scheduler starts the one run as soon as the DAG is parsed
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
):
    CreditBudgetSensor(
        task_id="gate",
        required_credits=5_000,
        deferrable=True,
        poke_interval=1,
        timeout=900,  # longer than the test's own deadline: the test reports a hang
    )
'''
COMPONENTS = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
#: Give up on a run that has not finished by then: it takes about 30-40 s on 2 idle cores, a few
#: times that on a loaded machine; only a hang should reach this.
DEADLINE_SECONDS = 600
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Deployment:
    """Airflow's long-running components, started in their own sessions, stopped by PID."""

    home: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def db(self) -> Path:
        return self.home / "airflow.db"

    def start(self, deadline: float) -> None:
        """The api-server first, and the rest once it answers: the scheduler starts the run as
        soon as the DAG is parsed, and a task whose Execution API is not up yet fails (seen on
        a loaded machine: "Connection refused", then the scheduler fails the task)."""
        self._spawn("api-server")
        health = f"{self.env['AIRFLOW__CORE__EXECUTION_API_SERVER_URL'].rstrip('/')}/health"
        self.wait_for("the api-server to answer", lambda: _answers(health) or None, deadline)
        for name in COMPONENTS:
            if name not in self.processes:
                self._spawn(name)

    def _spawn(self, name: str) -> None:
        with (self.home / f"{name}.out").open("wb") as out:
            self.processes[name] = subprocess.Popen(
                [AIRFLOW, *COMPONENTS[name]],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in the test run must not reach them
            )

    def stop(self) -> None:
        """SIGINT (Airflow's clean stop) to every component and everything it spawned, by PID;
        SIGKILL to whatever is left after a short grace."""
        family: list[psutil.Process] = []
        for process in self.processes.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                parent = psutil.Process(process.pid)
                # Task processes put themselves in their own process group: find them by parent.
                family += [parent, *parent.children(recursive=True)]
        for member in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.send_signal(signal.SIGINT)
        _, alive = psutil.wait_procs(family, timeout=8)
        for member in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.kill()
        psutil.wait_procs(alive, timeout=5)
        for process in self.processes.values():
            process.wait(timeout=5)  # reap, so no zombie outlives the test

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise AssertionError(f"airflow {name} exited early:\n{self.output(name)[-3000:]}")

    def output(self, name: str) -> str:
        return (self.home / f"{name}.out").read_text(errors="replace")

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        if not self.db.exists():
            return []
        try:
            with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as con:
                con.execute("PRAGMA busy_timeout = 2000")
                return con.execute(sql, params).fetchall()
        except sqlite3.OperationalError:  # locked, or a table not migrated yet
            return []

    def task_state(self) -> str | None:
        rows = self.query(
            "SELECT state FROM task_instance WHERE dag_id = ? AND task_id = 'gate'", DAG_ID
        )
        return rows[0][0] if rows else None

    def run_state(self) -> str | None:
        rows = self.query("SELECT state FROM dag_run WHERE dag_id = ?", DAG_ID)
        return rows[0][0] if rows else None

    def wait_for(self, what: str, probe: Callable[[], T | None], deadline: float) -> T:
        """Poll ``probe`` every 0.2 s until it returns a value; at the deadline, fail with logs."""
        while time.monotonic() < deadline:
            value = probe()
            if value is not None:
                return value
            self.check_alive()
            if self.run_state() == "failed":
                break  # nothing left to wait for: report it now, not at the deadline
            time.sleep(0.2)
        logs = "\n".join(f"--- {name}\n{self.output(name)[-2000:]}" for name in self.processes)
        raise AssertionError(
            f"gave up waiting for {what}; task state {self.task_state()!r}, "
            f"run state {self.run_state()!r}\n{logs}"
        )


def _answers(url: str) -> bool:
    """Whether a server answers HTTP at ``url`` (with any status)."""
    try:
        with urllib.request.urlopen(url, timeout=30):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:  # not listening yet, or too slow to answer
        return False


@pytest.fixture
def deployment(tmp_path: Path, sandbox: Sandbox) -> Iterator[Deployment]:
    with deployed(tmp_path, sandbox, {DAG_ID: DAG_FILE}) as deployment:
        yield deployment


def airflow_env(home: Path, dags: Path, sandbox: Sandbox) -> dict[str, str]:
    """The environment every component runs with: a home of its own, the sandbox connection."""
    api_port = free_port()
    return {
        **os.environ,
        # A home of our own: dag.test runs leave trigger rows a real triggerer would pick up.
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # The components start their workers as a bare `airflow`: it must be on PATH.
        "PATH": f"{Path(AIRFLOW).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",  # LocalExecutor forks this many workers up front
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        # Scheduler and api-server must agree on it to sign and check task tokens.
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        # Never 0.0.0.0: log servers stay off (--skip-serve-logs), but keep their ports free too.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        # The task supervisor notices its task has exited within this many seconds.
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW_CONN_COINSTATS_DEFAULT": connection_json(sandbox.url),
        **LOADED_MACHINE_ENV,
    }


@contextlib.contextmanager
def deployed(tmp_path: Path, sandbox: Sandbox, dag_files: dict[str, str]) -> Iterator[Deployment]:
    """A migrated home with ``dag_files`` (dag id -> source) and every component running."""
    home, dags = tmp_path / "home", tmp_path / "dags"
    home.mkdir()
    dags.mkdir()
    for dag_id, source in dag_files.items():
        (dags / f"{dag_id}.py").write_text(source)
    env = airflow_env(home, dags, sandbox)
    migrated = subprocess.run(
        [AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=600
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    deployment = Deployment(home, env)
    try:
        deployment.start(deadline=time.monotonic() + DEADLINE_SECONDS)
        yield deployment
    finally:
        deployment.stop()


def test_deferred_gate_waits_in_the_triggerer_then_passes(
    deployment: Deployment, sandbox: Sandbox
) -> None:
    sandbox.set_credits(used=99_000)  # 1,000 left, the gate needs 5,000
    deadline = time.monotonic() + DEADLINE_SECONDS

    deployment.wait_for(
        "the gate to defer", lambda: deployment.task_state() == "deferred" or None, deadline
    )
    # Free credits only once the scheduler has seen the worker exit after deferring: a trigger
    # firing before that hits a race in Airflow's scheduler that fails the task
    # (apache/airflow#66374, #67287), whatever the trigger does.
    deployment.wait_for(
        "the scheduler to see the worker exit after deferring",
        lambda: (
            "Received executor event with state success" in deployment.output("scheduler") or None
        ),
        deadline,
    )
    # One reading on the worker, then the triggerer's own: it really polls while deferred.
    deployment.wait_for(
        "the triggerer to read credits",
        lambda: sandbox.count(path="/usage/credits") >= 3 or None,
        deadline,
    )
    assert deployment.task_state() == "deferred"
    sandbox.set_credits(used=10_000)

    state = deployment.wait_for(
        "the run to finish",
        lambda: state if (state := deployment.run_state()) in ("success", "failed") else None,
        deadline,
    )
    assert state == "success", deployment.output("scheduler")[-3000:]
    assert deployment.task_state() == "success"

    rows = deployment.query(
        "SELECT value FROM xcom WHERE dag_id = ? AND task_id = 'gate' AND key = 'return_value'",
        DAG_ID,
    )
    assert len(rows) == 1
    xcom = json.loads(rows[0][0])
    assert xcom["passed"] is True
    assert xcom["remaining_credits"] == 90_000
    assert xcom["reason"] == "passed: 90,000 credits left, need 5,000 + reserve 0; reserved 5,000"
    assert TEST_KEY not in rows[0][0]

    # The triggerer, not a worker, did the waiting: its log for the task says so.
    logs = {
        path.name: path.read_text(errors="replace")
        for path in (deployment.home / "logs").rglob("*")
        if path.is_file()
    }
    trigger_logs = "".join(text for name, text in logs.items() if ".trigger." in name)
    assert "waiting: 1,000 credits left, need 5,000 + reserve 0" in trigger_logs
    assert "passed: 90,000 credits left, need 5,000 + reserve 0; reserved 5,000" in trigger_logs
    assert TEST_KEY not in "".join(logs.values())
    assert TEST_KEY not in "".join(deployment.output(name) for name in COMPONENTS)
