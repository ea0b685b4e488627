"""A real Airflow for integration tests: its own AIRFLOW_HOME, a migrated SQLite DB, the real
``airflow`` CLI in subprocesses, and the example DAGs as the dags folder."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = ROOT / "example_dags"
TEST_DAGS = Path(__file__).resolve().parent / "dags"
AIRFLOW = str(Path(sys.executable).parent / "airflow")


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
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def run_cli(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [AIRFLOW, *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
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
        timeout: float = 300,
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
