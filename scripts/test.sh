#!/usr/bin/env bash
# Set up the environment and run every check: ruff, mypy, and the pytest suite (unit tests
# against the sandbox over real HTTP, then integration tests under a real Airflow).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k sensor`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV="${VENV:-.venv}"
export PATH="$PWD/$VENV/bin:$PATH"  # `airflow standalone` spawns its parts as a bare `airflow`

# Airflow reads its home at import time: keep test runs away from ~/airflow.
export AIRFLOW_HOME="${AIRFLOW_HOME:-$(mktemp -d -t coinstats-airflow-XXXXXX)}"
export AIRFLOW__CORE__LOAD_EXAMPLES=False

echo "==> $(airflow version 2>/dev/null | tail -n 1 | sed 's/^/Airflow /')"
echo "==> ruff"
ruff check .
ruff format --check .
echo "==> mypy"
mypy
echo "==> pytest"
pytest "$@"
