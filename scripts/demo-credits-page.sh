#!/usr/bin/env bash
# Run the example DAGs against the offline sandbox under a real Airflow, check that the CoinStats
# credits page shows what the sandbox charged, and serve the UI to look at it (Ctrl-C stops).
#   bash scripts/demo-credits-page.sh [--port 8080] [--no-serve]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${VENV:-.venv}/bin/python" scripts/demo_credits_page.py "$@"
