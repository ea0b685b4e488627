"""A real Airflow for integration tests: its own AIRFLOW_HOME, a migrated SQLite DB, the real
``airflow`` CLI in subprocesses, and the example DAGs as the dags folder."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_coinstats.testing.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = ROOT / "example_dags"
TEST_DAGS = Path(__file__).resolve().parent / "dags"
AIRFLOW = str(Path(sys.executable).parent / "airflow")
#: Bounds for one CLI call, far above what it takes on a loaded 2-core machine (a `dags test` of
#: a gate that waits one poke takes about a minute there); only a hang should ever reach them.
CLI_TIMEOUT = 600
DAGS_TEST_TIMEOUT = 900
#: Airflow settings for every test deployment. A worker gives the api-server 5 s per Execution
#: API call by default; on a loaded machine an answer can take longer (7 s seen), the worker
#: retries a call that in fact went through, the retry is refused, and the task fails.
LOADED_MACHINE_ENV = {"AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60"}
#: An api-server starts in about 10 s on 2 idle cores; this only catches a hang.
API_SERVER_STARTUP_DEADLINE = 600


@contextmanager
def when_requested(
    sandbox: Sandbox, path: str, action: Callable[[], object]
) -> Iterator[threading.Event]:
    """Run ``action`` as soon as the sandbox has answered a request to ``path``, however long
    Airflow takes to send it; the event yielded is set once ``action`` has run.

    The sandbox logs a request after building its answer, so the first request is answered
    with the figures from before ``action``: a credit gate's first decision sees them.
    """
    done, stop = threading.Event(), threading.Event()

    def watch() -> None:
        while not stop.wait(0.05):
            if sandbox.count(path=path):
                action()
                done.set()
                return

    watcher = threading.Thread(target=watch, name=f"when-requested-{path}", daemon=True)
    watcher.start()
    try:
        yield done
    finally:
        stop.set()
        watcher.join(timeout=10)


@dataclass
class DagRunResult:
    dag_id: str
    state: str
    output: str
    seconds: float
    xcoms: dict[str, Any]
    task_states: dict[str, str]


class RealAirflow:
    """Runs the real CLI against one metadata DB."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.db = home / "airflow.db"
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLE_DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            **LOADED_MACHINE_ENV,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def run_cli(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = CLI_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [AIRFLOW, *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def cli(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = CLI_TIMEOUT
    ) -> str:
        """Run a CLI command that must succeed; return what it printed."""
        done = self.run_cli(*args, env=env, timeout=timeout)
        if done.returncode:
            raise AssertionError(f"airflow {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout + done.stderr

    def dags_test(
        self,
        dag_id: str,
        *,
        env: dict[str, str],
        dags_folder: Path = EXAMPLE_DAGS,
        timeout: float = DAGS_TEST_TIMEOUT,
    ) -> DagRunResult:
        """``airflow dags test`` (the CLI face of ``dag.test()``), then read the run from the DB."""
        started = time.monotonic()
        done = subprocess.run(
            [AIRFLOW, "dags", "test", dag_id],
            env={**self.env, "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder), **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        seconds = time.monotonic() - started
        state, xcoms, task_states = self.newest_run(dag_id)
        return DagRunResult(dag_id, state, done.stdout + done.stderr, seconds, xcoms, task_states)

    def newest_run(self, dag_id: str) -> tuple[str, dict[str, Any], dict[str, str]]:
        with sqlite3.connect(self.db) as con:
            row = con.execute(
                "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1",
                (dag_id,),
            ).fetchone()
            assert row is not None, f"no run of {dag_id} in the DB"
            run_id, state = row
            xcoms = {
                task: json.loads(value)
                for task, value in con.execute(
                    "SELECT task_id, value FROM xcom WHERE dag_id = ? AND run_id = ? "
                    "AND key = 'return_value'",
                    (dag_id, run_id),
                )
            }
            tasks = dict(
                con.execute(
                    "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?",
                    (dag_id, run_id),
                ).fetchall()
            )
        return state, xcoms, tasks


@pytest.fixture(scope="session")
def real_airflow(tmp_path_factory: pytest.TempPathFactory) -> RealAirflow:
    airflow = RealAirflow(tmp_path_factory.mktemp("airflow-home"))
    airflow.cli("db", "migrate")
    return airflow


@contextmanager
def running_api_server(
    airflow: RealAirflow, log_dir: Path, settings: Mapping[str, str]
) -> Iterator[str]:
    """``airflow api-server`` for ``airflow``'s home on a free 127.0.0.1 port, with ``settings``
    (``AIRFLOW__...`` variables) on top, until the block ends; yields its base URL
    (``http://127.0.0.1:PORT``) once ``/api/v2/version`` answers. Its output goes to
    ``log_dir/api-server.log``, whose tail a failed start shows."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **airflow.env,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        **settings,
    }
    log = log_dir / "api-server.log"
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as out:  # a file, not a pipe: an unread pipe stalls a chatty server
        server = subprocess.Popen([AIRFLOW, "api-server"], env=env, stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + API_SERVER_STARTUP_DEADLINE
            while True:
                assert server.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, (
                    f"the api-server did not answer within {API_SERVER_STARTUP_DEADLINE} s\n"
                    + log.read_text()[-3000:]
                )
                try:
                    urllib.request.urlopen(f"{base}/api/v2/version", timeout=10).close()
                    break
                except OSError:  # not listening yet (URLError and timeouts are OSErrors too)
                    time.sleep(0.5)
            yield base
        finally:
            server.terminate()  # a lone api-server exits cleanly on SIGTERM
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)


@pytest.fixture(scope="session")
def admin_api_server(
    real_airflow: RealAirflow, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One api-server where every request is an admin's and the Test button is enabled, shared
    by the tests that only read forms or test connections (a start costs a minute under load)."""
    settings = {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
    }
    with running_api_server(real_airflow, tmp_path_factory.mktemp("api-server"), settings) as base:
        yield base
