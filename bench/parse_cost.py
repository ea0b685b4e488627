"""What a DAG file pays to import (and build) this provider, against the Airflow HTTP provider.

Every sample is a fresh interpreter that imports ``airflow.sdk`` (every DAG file does) and then
one scenario, timing both steps with ``time.perf_counter``. The figure for a scenario is what it
costs *after* ``airflow.sdk`` in that same interpreter: measuring the difference within one
process keeps the noise of the 2-3 s ``airflow.sdk`` import out of a figure of milliseconds.

Scenarios: the floor (``BaseOperator``, ``BaseSensorOperator``); our sensor, both operators and
the hook; ``HttpSensor``, ``HttpOperator`` and ``HttpHook``; and both again with one of each
task built inside a ``DAG`` (a parse also runs the constructors).

Bytecode is cached, as on any real deployment: the interpreters run without
``PYTHONDONTWRITEBYTECODE`` and one discarded warm-up run per scenario writes the ``.pyc`` files.
Scenarios are interleaved round by round so that load on the machine hits all of them alike.

    .venv/bin/python bench/parse_cost.py             # 11 interpreters per scenario, ~2 min
    .venv/bin/python bench/parse_cost.py --quick     # 1 per scenario, no warm-up: a smoke test

Needs the HTTP provider for its rows (``pip install -e '.[bench]'``); without it they are
skipped. Starts no server and makes no network call.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

OURS_IMPORT = """
from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook
from airflow_provider_coinstats.operators.coinstats import CoinStatsOperator, CreditUsageOperator
from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor
"""
THEIRS_IMPORT = """
from airflow.providers.http.hooks.http import HttpHook
from airflow.providers.http.operators.http import HttpOperator
from airflow.providers.http.sensors.http import HttpSensor
"""
OURS_BUILD = """
from airflow.sdk import DAG
with DAG("parse_cost", schedule=None):
    pull = CoinStatsOperator(task_id="pull", endpoint="/coins", paginate=True)
    usage = CreditUsageOperator(task_id="usage", min_remaining_credits=100)
    gate = CreditBudgetSensor(task_id="gate", required_credits=pull.planned_calls())
    hook = CoinStatsHook()
"""
THEIRS_BUILD = """
from airflow.sdk import DAG
with DAG("parse_cost", schedule=None):
    pull = HttpOperator(task_id="pull", endpoint="/coins", http_conn_id="coinstats_http")
    usage = HttpOperator(task_id="usage", endpoint="/usage/credits", http_conn_id="coinstats_http")
    gate = HttpSensor(task_id="gate", endpoint="/usage/credits", http_conn_id="coinstats_http")
    hook = HttpHook(http_conn_id="coinstats_http")
"""

#: name -> (what the table calls it, code run after ``import airflow.sdk``, needs the HTTP provider)
SCENARIOS: dict[str, tuple[str, str, bool]] = {
    "floor": (
        "floor: BaseOperator, BaseSensorOperator",
        "from airflow.sdk import BaseOperator, BaseSensorOperator",
        False,
    ),
    "ours": ("ours: sensor, both operators, hook", OURS_IMPORT, False),
    "theirs": ("HTTP: HttpSensor, HttpOperator, HttpHook", THEIRS_IMPORT, True),
    "dag_built": (
        "floor for the built rows: an empty DAG",
        'from airflow.sdk import DAG\nwith DAG("parse_cost", schedule=None):\n    pass',
        False,
    ),
    "ours_built": (
        "ours, imported and one of each built in a DAG",
        OURS_IMPORT + OURS_BUILD,
        False,
    ),
    "theirs_built": (
        "HTTP, imported and one of each built in a DAG",
        THEIRS_IMPORT + THEIRS_BUILD,
        True,
    ),
}

PROBE = """
import json, time
started = time.perf_counter()
import airflow.sdk
sdk_done = time.perf_counter()
exec(compile({code!r}, "<scenario>", "exec"))
done = time.perf_counter()
print(json.dumps({{"sdk": sdk_done - started, "extra": done - sdk_done}}))
"""


def sample(code: str, env: dict[str, str]) -> dict[str, float]:
    """One fresh interpreter: seconds for ``import airflow.sdk`` and for ``code`` after it."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    if result.returncode:
        raise SystemExit(f"a probe failed:\n{result.stderr[-2000:]}")
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def measure(
    runs: int, *, warm_up: bool = True
) -> tuple[dict[str, list[float]], list[float], list[str]]:
    """Per scenario, the milliseconds after ``airflow.sdk``; and the ``airflow.sdk`` times."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    home = tempfile.mkdtemp(prefix="coinstats-parse-cost-")
    env.update(AIRFLOW_HOME=home, AIRFLOW__CORE__LOAD_EXAMPLES="False")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    have_http = importlib.util.find_spec("airflow.providers.http") is not None
    names = [name for name, (_, _, http) in SCENARIOS.items() if have_http or not http]
    skipped = [name for name in SCENARIOS if name not in names]
    for name in names if warm_up else ():  # writes the bytecode caches, not counted
        sample(SCENARIOS[name][1], env)
    extra: dict[str, list[float]] = {name: [] for name in names}
    sdk: list[float] = []
    for round_ in range(runs):
        order = names if round_ % 2 == 0 else names[::-1]
        for name in order:
            figures = sample(SCENARIOS[name][1], env)
            extra[name].append(figures["extra"] * 1000)
            sdk.append(figures["sdk"] * 1000)
    return extra, sdk, skipped


def table(extra: dict[str, list[float]], sdk: list[float], skipped: list[str], runs: int) -> str:
    def spread(values: list[float]) -> str:
        return f"{statistics.median(values):.1f} | {min(values):.1f} | {max(values):.1f}"

    def ratio(ours: str, theirs: str) -> str:
        if theirs not in extra:
            return "-"
        return f"{statistics.median(extra[ours]) / statistics.median(extra[theirs]):.3f}"

    lines = [
        f"{runs} fresh interpreters per scenario, bytecode cached, milliseconds.",
        "",
        "| imported after `import airflow.sdk` | median ms | min | max | ours / HTTP |",
        "|---|---:|---:|---:|---:|",
    ]
    ratios = {"ours": ratio("ours", "theirs"), "ours_built": ratio("ours_built", "theirs_built")}
    for name, values in extra.items():
        lines.append(f"| {SCENARIOS[name][0]} | {spread(values)} | {ratios.get(name, '')} |")
    lines.append(f"| (`import airflow.sdk` itself, every sample) | {spread(sdk)} | |")
    if skipped:
        lines += ["", f"Skipped (no apache-airflow-providers-http): {', '.join(skipped)}"]
    ours = statistics.median(extra["ours"])
    lines += ["", f"Ours over airflow.sdk: {ours:.1f} ms (target: at most 5 ms)."]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=11, help="interpreters per scenario (>= 5)")
    parser.add_argument(
        "--quick", action="store_true", help="1 interpreter per scenario, no warm-up: a smoke test"
    )
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    if not args.quick and not 5 <= runs <= 101:
        parser.error("--runs must be 5..101")
    print(table(*measure(runs, warm_up=not args.quick), runs))
