"""Start and stop the benchmark's cluster: Postgres, Redis, the sandbox and Airflow's processes.

Every process starts in a session (process group) of its own, so stopping it also stops what it
forked (a triggerer's or worker's ``serve-logs`` child, Postgres' backends, Celery's pool), even
after the group's leader was killed with SIGKILL. Everything listens on 127.0.0.1 ports picked
free at start (``serve-logs`` binds every address: Airflow has no host setting for it).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DAGS = Path(__file__).resolve().parent / "dags"
SANDBOX_KEY = "sandbox-key"
#: Airflow's ``[operators] default_queue``: every task's queue unless it names one.
DEFAULT_QUEUE = "default"
#: The queue of ``cluster_routed``'s gates: only triggerer-2 runs their triggers.
ROUTED_QUEUE = "coinstats_routed"
#: The Celery worker runs tasks of both queues (a gate starts on a worker before it defers).
WORKER_QUEUES = f"{DEFAULT_QUEUE},{ROUTED_QUEUE}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Any, deadline_s: float, every_s: float = 1.0) -> Any:
    """Poll ``check()`` until it returns something truthy; fail naming ``what`` at the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            value = check()
        except Exception:  # not up yet: connection refused, 404 before the DAG is parsed, ...
            value = None
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"{what}: not reached within {deadline_s:.0f} s")
        time.sleep(every_s)


@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class Cluster:
    """The processes of one benchmark run, and where they listen."""

    work: Path
    venv_bin: Path
    gates: int
    interval: float
    required: int
    services: list[Service] = field(default_factory=list)
    #: Job id of each triggerer, by name (``triggerer-1``: ``"4"``).
    triggerer_jobs: dict[str, str] = field(default_factory=dict)
    pg_port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    sandbox_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)

    # -- addresses --------------------------------------------------------------------------
    @property
    def db_url(self) -> str:
        return f"postgresql+psycopg2://bench@127.0.0.1:{self.pg_port}/airflow"

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.pg_port} user=bench dbname=airflow"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    # -- processes --------------------------------------------------------------------------
    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Service:
        log = self.work / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: see stop()
            )
        service = Service(name, proc, log)
        self.services.append(service)
        return service

    def stop(self) -> None:
        """Stop every process started, newest first: TERM (INT: Postgres) its group, then KILL."""
        for service in reversed(self.services):
            _stop_group(service, signal.SIGINT if service.name == "postgres" else signal.SIGTERM)
        self.services.clear()

    def kill_leader(self, name: str) -> Service:
        """``kill -9`` one process (not its group: its serve-logs child stays, as in a crash)."""
        service = next(s for s in self.services if s.name == name)
        service.proc.send_signal(signal.SIGKILL)
        service.proc.wait()
        return service

    # -- start ------------------------------------------------------------------------------
    def start(self) -> None:
        self._postgres()
        self._redis()
        self._sandbox()
        env = self.airflow_env()
        airflow = str(self.venv_bin / "airflow")
        subprocess.run(
            [airflow, "db", "migrate"],
            env=env,
            check=True,
            stdout=(self.work / "logs" / "db-migrate.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.spawn(
            "api-server", [airflow, "api-server", "-H", "127.0.0.1", "-p", str(self.api_port)], env
        )
        self.spawn("scheduler", [airflow, "scheduler"], env)
        self.spawn("dag-processor", [airflow, "dag-processor"], env)
        worker_env = {**env, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
        self.spawn(
            "worker",
            [airflow, "celery", "worker", "--concurrency", "4", "--queues", WORKER_QUEUES],
            worker_env,
        )
        # One after the other, so that each triggerer's job id is known (the job table does not
        # say which process a job is): triggerer-1 serves the default queue only, triggerer-2
        # also the routed queue, so cluster_routed's gates can only run on triggerer-2.
        for number, queues in ((1, DEFAULT_QUEUE), (2, f"{DEFAULT_QUEUE},{ROUTED_QUEUE}")):
            name = f"triggerer-{number}"
            trig_env = {**env, "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())}
            self.spawn(name, [airflow, "triggerer", "--queues", queues], trig_env)
            self.triggerer_jobs[name] = wait_for(
                f"{name}'s job row", lambda: self._new_triggerer_job(), 600, every_s=2
            )
        wait_for("api-server health", self._healthy, 600, every_s=3)
        for dag_id in (
            "cluster_deferred",
            "cluster_routed",
            "cluster_reschedule",
            "cluster_reschedule_pool",
            "cluster_http",
        ):
            wait_for(
                f"DAG {dag_id} parsed",
                lambda d=dag_id: self.api("GET", f"/api/v2/dags/{d}"),
                600,
                3,
            )

    def _new_triggerer_job(self) -> str | None:
        """The id of a triggerer job not yet named in :attr:`triggerer_jobs`, if one started."""
        import psycopg2

        with psycopg2.connect(self.dsn) as db, db.cursor() as cur:
            cur.execute("select id from job where job_type = 'TriggererJob' order by id")
            ids = [str(row[0]) for row in cur.fetchall()]
        db.close()
        new = [i for i in ids if i not in self.triggerer_jobs.values()]
        return new[0] if new else None

    def triggerer_name(self, job_id: str) -> str:
        """``triggerer-1`` for its job id (the id itself for anything else)."""
        names = {v: k for k, v in self.triggerer_jobs.items()}
        return names.get(job_id, job_id)

    def _healthy(self) -> bool:
        health = self.api("GET", "/api/v2/monitor/health")
        return all(
            health.get(part, {}).get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
        )

    def _postgres(self) -> None:
        bindir = _postgres_bindir()
        data, sockets = self.work / "pgdata", self.work / "pgsock"
        data.mkdir()
        sockets.mkdir()
        as_user: list[str] = []
        if os.geteuid() == 0:  # Postgres refuses to run as root: run it as nobody
            for path in (self.work, data, sockets):
                shutil.chown(path, "nobody")
            (self.work / "logs").mkdir(exist_ok=True)
            as_user = ["runuser", "-u", "nobody", "--"]
        subprocess.run(
            [
                *as_user,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "bench",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            stdout=(self.work / "logs" / "initdb.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.spawn(
            "postgres",
            [
                *as_user,
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.pg_port),
                "-h",
                "127.0.0.1",
                "-k",
                str(sockets),
                "-c",
                "max_connections=300",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
            ],
        )
        psql = [
            *as_user,
            str(bindir / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.pg_port),
            "-U",
            "bench",
            "-d",
            "postgres",
            "-qc",
        ]
        wait_for(
            "postgres",
            lambda: subprocess.run([*psql, "select 1"], capture_output=True).returncode == 0,
            120,
        )
        subprocess.run([*psql, "create database airflow"], check=True, capture_output=True)

    def _redis(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server not found: install Debian's redis-server package")
        self.spawn(
            "redis",
            [
                server,
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.work),
            ],
        )
        wait_for("redis", lambda: _redis_ping(self.redis_port), 60)

    def _sandbox(self) -> None:
        python = str(self.venv_bin / "python")
        self.spawn(
            "sandbox",
            [
                python,
                "-m",
                "airflow_provider_coinstats.testing.sandbox",
                "--port",
                str(self.sandbox_port),
                "--total",
                "1000000",
                "--used",
                str(1_000_000 - 1000),
            ],
        )
        wait_for("sandbox", lambda: self.sandbox("GET", "/_sandbox/credits"), 60)

    # -- configuration ----------------------------------------------------------------------
    def airflow_env(self) -> dict[str, str]:
        """One configuration for every Airflow process (the same secrets everywhere, or tasks
        cannot talk to the Execution API and connections cannot be decrypted)."""
        if not hasattr(self, "_secrets"):
            fernet = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
            self._secrets = (fernet, secrets.token_urlsafe(32))
        fernet, jwt = self._secrets
        coinstats = {
            "conn_type": "coinstats",
            "host": self.sandbox_url,
            "password": SANDBOX_KEY,
            "extra": {"requests_per_second": 100000},
        }
        http = {
            "conn_type": "http",
            "host": "127.0.0.1",
            "port": self.sandbox_port,
            "schema": "http",
            "extra": {"X-API-KEY": SANDBOX_KEY},
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            {
                "PATH": f"{self.venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
                "AIRFLOW_HOME": str(self.work / "airflow-home"),
                "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__FERNET_KEY": fernet,
                "AIRFLOW__API_AUTH__JWT_SECRET": jwt,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "10000",
                "AIRFLOW__CORE__DEFAULT_POOL_TASK_SLOT_COUNT": "10000",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.db_url,
                "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://bench@127.0.0.1:{self.pg_port}/airflow",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW_CONN_COINSTATS_BENCH": json.dumps(coinstats),
                "AIRFLOW_CONN_HTTP_BENCH": json.dumps(http),
                "COINSTATS_BENCH_GATES": str(self.gates),
                "COINSTATS_BENCH_INTERVAL": str(self.interval),
                "COINSTATS_BENCH_REQUIRED": str(self.required),
                # A loaded machine answers slowly: the defaults (5 s per Execution API call, 10
                # min in queued) failed tasks that were only waiting their turn.
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
                "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "7200",
                # A deferred task's trigger gets the task's queue, and a triggerer started
                # with --queues runs only those queues' triggers (Airflow 3.2+). With it on,
                # every triggerer needs --queues: one without runs only triggers that have no
                # queue, and with this on no task's trigger is without one.
                "AIRFLOW__TRIGGERER__QUEUES_ENABLED": "True",
                "COINSTATS_BENCH_ROUTED_QUEUE": ROUTED_QUEUE,
                "C_FORCE_ROOT": "1",  # Celery as root: the benchmark's machine is a throwaway
            }
        )
        return env

    # -- HTTP -------------------------------------------------------------------------------
    def api(self, method: str, path: str, body: object = None) -> Any:
        return _call(method, self.api_url + path, body, timeout=60)

    def sandbox(self, method: str, path: str, body: object = None) -> Any:
        return _call(method, self.sandbox_url + path, body, timeout=60)


def _call(method: str, url: str, body: object, timeout: float) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def _redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


def _postgres_bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError(
            "Postgres not found under /usr/lib/postgresql: install Debian's postgresql"
        )
    return found[-1].parent


def _stop_group(service: Service, first: signal.Signals) -> None:
    pgid = service.proc.pid  # start_new_session: the leader's pid is the group id
    for sig, grace in ((first, 30.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break  # the whole group is gone
        end = time.monotonic() + grace
        while time.monotonic() < end and _group_alive(pgid):
            time.sleep(0.5)
            service.proc.poll()  # reap the leader so it does not linger as a zombie
        if not _group_alive(pgid):
            break
    try:
        service.proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        print(f"warning: {service.name} (pid {pgid}) did not exit", file=sys.stderr)


def _group_alive(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


__all__ = ["DEFAULT_QUEUE", "ROUTED_QUEUE", "Cluster", "Service", "free_port", "wait_for"]
