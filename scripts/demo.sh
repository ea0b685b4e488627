#!/usr/bin/env bash
# Set up the environment and run an example DAG under a real Airflow (SQLite, `airflow dags test`)
# against the offline CoinStats sandbox, or the real API when COINSTATS_API_KEY is set.
#   bash scripts/demo.sh [DAG_ID]      (default: example_coinstats_credit_usage)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${VENV:-.venv}/bin/python" scripts/demo.py "$@"
