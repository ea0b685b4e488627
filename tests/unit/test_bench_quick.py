"""Every benchmark in bench/ still runs: its ``--quick`` mode, as a smoke test.

Nothing here asserts a timing (the figures belong in BENCHMARKS.md, taken on a quiet machine);
each script must exit 0 and print its table. The comparisons need the Airflow HTTP provider,
which the ``test`` extra installs.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
NEEDS_HTTP = {"vs_http_provider.py", "trigger_memory.py"}
HAVE_HTTP = importlib.util.find_spec("airflow.providers.http") is not None


def test_every_bench_script_is_covered() -> None:
    assert sorted(p.name for p in BENCH.glob("*.py")) == sorted(SCRIPTS)


SCRIPTS = [
    "credits_page.py",
    "fault_matrix.py",
    "parse_cost.py",
    "trigger_fanout.py",
    "trigger_memory.py",
    "vs_http_provider.py",
]


@pytest.mark.bench
@pytest.mark.parametrize("script", SCRIPTS)
def test_quick_mode_runs_and_prints_its_table(script: str, tmp_path: Path) -> None:
    if script in NEEDS_HTTP and not HAVE_HTTP:
        pytest.skip(f"{script} compares with apache-airflow-providers-http, not installed")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,  # a generous bound on a loaded machine; --quick takes well under a minute
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "|---" in run.stdout, run.stdout[-3000:]
