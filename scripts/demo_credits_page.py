"""Fill the CoinStats credits page with real figures, then serve the Airflow UI to look at it.

Runs the example DAGs under a real Airflow (SQLite, ``airflow dags test``) against the offline
CoinStats sandbox, checks that the page's spend equals what the sandbox charged, and starts the
api-server on http://127.0.0.1:PORT (Browse > CoinStats credits; every DAG has a "CoinStats
credits" tab). Run through ``bash scripts/demo-credits-page.sh``; Ctrl-C stops it.

The demo's UI lets everyone in as admin (Airflow's simple auth manager, all admins): it is a
local demo on 127.0.0.1, not a deployment.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo import DAGS, ROOT, coinstats_backend, run, step, stream_dags_test

# The usage report runs last: its reading, the newest on the page, then shows what the others spent.
DEMO_DAGS = (
    "example_coinstats_market_pull",
    "example_coinstats_credit_gate",
    "example_coinstats_wallet_balances",
    "example_coinstats_credit_usage",
)
PAGE = "/coinstats/credits"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--home",
        type=Path,
        default=ROOT / ".airflow-demo" / f"{version('apache-airflow')}-credits-page",
        help="AIRFLOW_HOME for the demo, started afresh (default: %(default)s)",
    )
    parser.add_argument("--port", type=int, default=8080, help="api-server port (%(default)s)")
    parser.add_argument(
        "--no-serve",
        action="store_true",
        help="check the page's figures and stop instead of serving the UI",
    )
    parser.add_argument(
        "--serve-only",
        action="store_true",
        help="serve the UI on the DB of an earlier run of this demo, without running DAGs",
    )
    parser.add_argument("--dags", nargs="+", default=list(DEMO_DAGS), help="example DAGs to run")
    args = parser.parse_args()
    if args.serve_only:
        if not (args.home / "airflow.db").exists():
            raise SystemExit(f"no earlier demo in {args.home}; run without --serve-only first")
        return serve(demo_env(args.home), args.port, charged=None, check_only=False)

    for name in ("airflow.db", "airflow.db-wal", "airflow.db-shm"):
        (args.home / name).unlink(missing_ok=True)  # a fresh period's figures, every time
    args.home.mkdir(parents=True, exist_ok=True)
    env = demo_env(args.home)
    step(f"migrating a fresh SQLite metadata DB in {args.home}")
    run(["airflow", "db", "migrate"], env, quiet=True)

    with coinstats_backend(spend_down=False) as backend:
        if backend.sandbox_url is None:
            raise SystemExit("this demo runs against the sandbox: unset COINSTATS_API_KEY")
        env["AIRFLOW_CONN_COINSTATS_DEFAULT"] = json.dumps(backend.connection)
        for dag_id in args.dags:
            step(f"airflow dags test {dag_id}")
            stream_dags_test(dag_id, env, args.home / f"{dag_id}.log", lambda: None)
        charged = sandbox_charged(backend.sandbox_url)
    return serve(env, args.port, charged=charged, check_only=args.no_serve)


def demo_env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def serve(env: dict[str, str], port: int, *, charged: float | None, check_only: bool) -> int:
    """Start the api-server, show the page's figures (checked against ``charged``), serve."""
    with api_server(env, port) as base:
        report = fetch_json(f"{base}{PAGE}/api")
        spent = sum(c["spend"]["credits"] for c in report["connections"])
        for connection in report["connections"]:
            for dag in connection["spend"]["by_dag"]:
                print(f"    {connection['conn_id']} {dag['dag_id']}: {dag['credits']:g} credits")
            if connection["forecast"]:
                print(f"    forecast: {connection['forecast']['text']}")
        if charged is not None:
            step(f"the sandbox charged {charged:g} credits; the credits page shows {spent:g} spent")
            if spent != charged:
                raise SystemExit("the page's spend differs from what the sandbox charged")
        if check_only:
            return 0
        step(f"open {base}/plugin/coinstats-credits (Ctrl-C stops the api-server)")
        # A `kill` stops the api-server too (SystemExit runs the cleanup; a background job
        # started from a script ignores Ctrl-C's SIGINT).
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


def sandbox_charged(url: str) -> float:
    from airflow_provider_coinstats.testing.sandbox import SandboxControl

    return float(sum(r.get("credits") or 0 for r in SandboxControl(url).requests()))


@contextmanager
def api_server(env: dict[str, str], port: int) -> Iterator[str]:
    """``airflow api-server`` on 127.0.0.1:port until the block ends."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"port {port} is taken; pick another with --port")
    log = Path(env["AIRFLOW_HOME"]) / "api-server.log"
    server_env = {
        **env,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
    }
    base = f"http://127.0.0.1:{port}"
    step(f"starting the api-server on {base} (log: {log})")
    with log.open("w") as out:
        server = subprocess.Popen(["airflow", "api-server"], env=server_env, stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + 600
            while True:
                if server.poll() is not None:
                    raise SystemExit(f"the api-server stopped; see {log}")
                if time.monotonic() > deadline:
                    raise SystemExit(f"the api-server did not answer within 600 s; see {log}")
                try:
                    urllib.request.urlopen(f"{base}/api/v2/version", timeout=10).close()
                    break
                except (urllib.error.URLError, ConnectionError):
                    time.sleep(0.5)
            yield base
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)


def fetch_json(url: str) -> Any:
    """GET with the token the all-admins demo UI hands out (``/auth/token``)."""
    with urllib.request.urlopen(url.split("/coinstats")[0] + "/auth/token", timeout=60) as answer:
        token = json.loads(answer.read())["access_token"]
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read())


if __name__ == "__main__":
    sys.exit(main())
