"""How fast the CoinStats credits page answers with a year of history, against the api-server's
own DAG list measured in the same run.

Seeds a temporary SQLite Airflow DB with a year of synthetic ``coinstats_spend`` XComs (DAGS x
TASKS x one run a day) and a year of credit readings (thinned as ``common.readings`` keeps
them), builds Airflow's real api-server app in-process (plugins from the entry point), and times
the page's JSON, HTML and per-DAG view against ``GET /api/v2/dags``. Reported as ratios: the
machine's speed cancels out.

    python bench/credits_page.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small history, few repeats")
    args = parser.parse_args()
    dags, tasks, days, repeats = (4, 3, 60, 5) if args.quick else (10, 4, 365, 20)

    home = Path(tempfile.mkdtemp(prefix="coinstats-bench-page-"))
    os.environ.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
    )
    from airflow.utils.db import initdb

    initdb()
    rows = seed(dags=dags, tasks=tasks, days=days)

    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    client = TestClient(create_app())
    token = client.get("/auth/token").json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    routes = {
        "GET /api/v2/dags (Airflow's own)": "/api/v2/dags?limit=100",
        "credits page JSON": "/coinstats/credits/api",
        "credits page HTML": "/coinstats/credits/",
        "per-DAG view HTML": "/coinstats/credits/dag/bench_dag_0",
    }
    timings = {name: timed(client, path, repeats) for name, path in routes.items()}
    base = timings["GET /api/v2/dags (Airflow's own)"]
    print(
        f"{rows['xcoms']:,} spend XComs over {days} days ({dags} DAGs x {tasks} tasks, daily), "
        f"{rows['readings']:,} readings kept; median of {repeats} calls"
    )
    print()
    print("| request | median ms | x /api/v2/dags |")
    print("|---|---:|---:|")
    for name, seconds in timings.items():
        print(f"| {name} | {seconds * 1000:.1f} | {seconds / base:.2f} |")
    return 0


def seed(*, dags: int, tasks: int, days: int) -> dict[str, int]:
    """A year of spend and readings, written straight into the tables (no dag runs: SQLite does
    not enforce the XCom foreign keys on a plain connection)."""
    from airflow.configuration import conf
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.variable import Variable
    from airflow.models.xcom import XComModel
    from sqlalchemy import create_engine, insert
    from sqlalchemy.orm import Session

    from airflow_provider_coinstats.common import readings

    now = datetime.now(UTC).replace(microsecond=0)
    engine = create_engine(conf.get("database", "sql_alchemy_conn"))
    xcoms: list[dict[str, Any]] = []
    run = 0
    for day in range(days):
        ended = now - timedelta(days=day, hours=1)
        for d in range(dags):
            run += 1
            for t in range(tasks):
                credits = 2 * (t + 1) * (d + 1)
                value = {
                    "version": 1, "dag_id": f"bench_dag_{d}", "task_id": f"task_{t}",
                    "run_id": f"scheduled__{ended:%Y-%m-%d}", "map_index": -1, "try_number": 1,
                    "state": "success", "ended_at": ended.isoformat(), "credits": credits,
                    "calls": t + 1,
                    "connections": {"coinstats_default": {
                        "credits": credits, "calls": t + 1,
                        "endpoints": {"GET /coins": {"calls": t + 1, "credits": credits}}}},
                }  # fmt: skip
                xcoms.append({
                    "dag_run_id": run, "task_id": f"task_{t}", "map_index": -1,
                    "key": "coinstats_spend", "dag_id": f"bench_dag_{d}",
                    "run_id": value["run_id"], "value": json.dumps(value), "timestamp": ended,
                })  # fmt: skip
    points = [
        readings.HistoryPoint(
            now - timedelta(minutes=10 * i), 50_000 + i, 50_000 - i, 100_000, "PRO"
        )
        for i in range(days * 144)  # one reading every 10 minutes, thinned like production
    ][::-1]
    kept = readings.thin(points, now)
    with Session(engine) as session:
        session.execute(insert(XComModel), xcoms)
        session.add(DagBundleModel(name="bench"))
        session.flush()
        session.add_all(DagModel(dag_id=f"bench_dag_{d}", fileloc=f"/bench/{d}.py",
                                 bundle_name="bench", is_stale=False)
                        for d in range(dags))  # fmt: skip
        session.add(Variable(key=readings.variable_key("coinstats_default"),
                             val=readings.encode_history("coinstats_default", kept)))  # fmt: skip
        session.commit()
    return {"xcoms": len(xcoms), "readings": len(kept)}


def timed(client: Any, path: str, repeats: int) -> float:
    answer = client.get(path)  # warm-up (imports, caches) not counted
    if answer.status_code != 200:
        raise SystemExit(f"GET {path} answered {answer.status_code}: {answer.text[:500]}")
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        client.get(path).raise_for_status()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


if __name__ == "__main__":
    sys.exit(main())
