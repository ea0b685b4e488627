"""Run an example DAG under a real Airflow: SQLite metadata DB, the real ``airflow`` CLI.

Against the offline CoinStats sandbox by default; against the real API when COINSTATS_API_KEY is
set (COINSTATS_BASE_URL optionally overrides the host). Run through ``bash scripts/demo.sh``,
which sets up the virtualenv first. Our own log lines are shown as the run goes; the full log is
kept in the demo's AIRFLOW_HOME.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAGS = ROOT / "example_dags"
SANDBOX_KEY = "sandbox-key"  # the sandbox's default key
#: The lines a person wants from the verbose `dags test` log: our own, and errors.
WANTED = re.compile(
    r"CoinStats |credits left|waiting:|passed:|impossible:|credits? (cost|spent)|spent \d|"
    r"Marking task as|ERROR|Error:"
)
#: How a credit gate logs a decision to wait.
WAITING = re.compile(r"\bwaiting: ")


@dataclass
class Backend:
    """Where the DAG's CoinStats connection points; ``sandbox_url`` is None for the real API."""

    connection: dict[str, object]
    sandbox_url: str | None = None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "dag_id",
        nargs="?",
        default="example_coinstats_credit_usage",
        help="example DAG to run (default: %(default)s); see example_dags/",
    )
    parser.add_argument(
        "--home",
        type=Path,
        # One per Airflow version: a DB migrated by a newer Airflow cannot be used by an older.
        default=ROOT / ".airflow-demo" / version("apache-airflow"),
        help="AIRFLOW_HOME for the demo (default: %(default)s)",
    )
    parser.add_argument(
        "--free-credits-after",
        type=float,
        metavar="SECONDS",
        help="sandbox only: start with nearly all credits spent and free them SECONDS after "
        "the credit gate's first decision to wait, to watch it wait and then pass",
    )
    args = parser.parse_args()
    if not (DAGS / f"{args.dag_id}.py").exists():
        names = sorted(p.stem for p in DAGS.glob("example_*.py"))
        parser.error(f"no example DAG {args.dag_id!r}; choose one of: {', '.join(names)}")

    args.home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(args.home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    home = args.home.relative_to(Path.cwd()) if args.home.is_relative_to(Path.cwd()) else args.home
    step(f"migrating the SQLite metadata DB in {home}")
    run(["airflow", "db", "migrate"], env, quiet=True)

    with coinstats_backend(spend_down=args.free_credits_after is not None) as backend:
        env["AIRFLOW_CONN_COINSTATS_DEFAULT"] = json.dumps(backend.connection)
        env["PYTHONUNBUFFERED"] = "1"  # lines as they happen, so a refill follows its "waiting"
        step(f"airflow dags test {args.dag_id}")
        log_path = args.home / f"{args.dag_id}.log"
        refills: list[threading.Timer] = []

        def on_first_wait() -> None:
            # Count from the gate's first decision to wait, however long Airflow took to get
            # there on this machine.
            if backend.sandbox_url is not None and args.free_credits_after is not None:
                refills.append(schedule_credit_refill(backend.sandbox_url, args.free_credits_after))

        started = time.monotonic()
        try:
            stream_dags_test(args.dag_id, env, log_path, on_first_wait)
        finally:
            for timer in refills:
                timer.cancel()
        elapsed = time.monotonic() - started

    state, results = read_run(args.home / "airflow.db", args.dag_id)
    for task_id, value in results:
        print(f"    XCom {task_id}: {json.dumps(value)}")
    shown = log_path.relative_to(Path.cwd()) if log_path.is_relative_to(Path.cwd()) else log_path
    step(f"DAG run {state} in {elapsed:.1f} s (full log: {shown})")
    return 0 if state == "success" else 1


@contextmanager
def coinstats_backend(*, spend_down: bool) -> Iterator[Backend]:
    """The real API, or a sandbox we start (nearly spent with ``spend_down``) and stop."""
    key = os.environ.get("COINSTATS_API_KEY")
    if key:
        step("using the real CoinStats API (COINSTATS_API_KEY is set)")
        connection: dict[str, object] = {"conn_type": "coinstats", "password": key}
        if os.environ.get("COINSTATS_BASE_URL"):
            connection["host"] = os.environ["COINSTATS_BASE_URL"]
        yield Backend(connection)
        return
    sandbox = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_coinstats.testing.sandbox",
            "--port",
            "0",
            "--api-key",
            SANDBOX_KEY,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sandbox.stdout is not None
        banner = sandbox.stdout.readline().strip()
        match = re.search(r"http://127\.0\.0\.1:\d+", banner)
        if not match:
            raise SystemExit(f"the sandbox did not start: {banner!r}")
        step(banner)
        url = match.group(0)
        if spend_down:
            spend_down_to(url, 100)
        yield Backend(
            {
                "conn_type": "coinstats",
                "host": url,
                "password": SANDBOX_KEY,
                # The sandbox has no per-second limit unless asked; keep the demo quick.
                "extra": {"requests_per_second": 20},
            },
            sandbox_url=url,
        )
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


def spend_down_to(url: str, credits_left: int) -> None:
    from airflow_provider_coinstats.testing.sandbox import SandboxControl

    control = SandboxControl(url)
    control.set_credits(used=control.state()["totalCredits"] - credits_left)
    step(f"sandbox spent down to {credits_left} credits; they are freed once the gate waits")


def schedule_credit_refill(url: str, seconds: float) -> threading.Timer:
    """Give 45,000 used back to the sandbox after ``seconds``."""
    from airflow_provider_coinstats.testing.sandbox import SandboxControl

    step(f"the gate is waiting; freeing sandbox credits in {seconds:g} s")

    def refill() -> None:
        SandboxControl(url).set_credits(used=45_000)
        step("sandbox credits freed: 55,000 left")

    timer = threading.Timer(seconds, refill)
    timer.daemon = True
    timer.start()
    return timer


def stream_dags_test(
    dag_id: str, env: dict[str, str], log_path: Path, on_first_wait: Callable[[], None]
) -> None:
    """Run ``airflow dags test``, keep its whole output in ``log_path``, show our own lines as
    they come, and call ``on_first_wait`` at the first "waiting" decision."""
    waited = False
    with (
        log_path.open("w") as log,
        subprocess.Popen(
            ["airflow", "dags", "test", dag_id],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as dags_test,
    ):
        assert dags_test.stdout is not None
        for line in dags_test.stdout:
            log.write(line)
            if WANTED.search(line):
                print("    " + line.strip()[:300], flush=True)
            if not waited and WAITING.search(line):
                waited = True
                on_first_wait()


def read_run(db: Path, dag_id: str) -> tuple[str, list[tuple[str, object]]]:
    """State and return values of the newest run, straight from the metadata DB."""
    with sqlite3.connect(db) as con:
        row = con.execute(
            "SELECT id, run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1",
            (dag_id,),
        ).fetchone()
        if row is None:
            return "not created", []
        xcoms = con.execute(
            "SELECT task_id, value FROM xcom WHERE dag_id = ? AND run_id = ? "
            "AND key = 'return_value' ORDER BY timestamp",
            (dag_id, row[1]),
        ).fetchall()
    return row[2], [(task_id, json.loads(value)) for task_id, value in xcoms]


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def run(command: list[str], env: dict[str, str], *, quiet: bool = False) -> None:
    done = subprocess.run(command, env=env, capture_output=quiet, text=True, check=False)
    if done.returncode:
        if quiet:
            sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"`{' '.join(command)}` failed with exit code {done.returncode}")


if __name__ == "__main__":
    sys.exit(main())
