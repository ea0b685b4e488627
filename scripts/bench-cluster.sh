#!/usr/bin/env bash
# The cluster benchmark (issue 14): N credit gates on Postgres + Redis + CeleryExecutor with two
# triggerers, all on 127.0.0.1. Heavy (15-40 min on 2 cores); not part of CI.
#
#   bash scripts/bench-cluster.sh [--gates 100] [--quick] [--interval 30] [--keep]
#
# Installs Debian's postgresql and redis-server when missing (as root; otherwise says what to
# install), apache-airflow[celery,postgres] + the http provider + this provider (editable) into
# .cache/bench-cluster/venv, then runs bench/cluster/run.py there. That script starts every
# service on free ports with its own data under a temp dir and stops all of them when it ends,
# fails or is interrupted. Results: bench/cluster/results/<UTC time>.md (also printed).
set -euo pipefail
cd "$(dirname "$0")/.."

AIRFLOW_VERSION="${AIRFLOW_VERSION:-3.3.2}"
VENV=.cache/bench-cluster/venv
PYTHON="${PYTHON:-python3}"

missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null || missing+=(postgresql)
command -v redis-server > /dev/null || missing+=(redis-server)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "==> installing ${missing[*]} (Debian packages)"
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}"
    # The packages start system-wide services we do not use; the benchmark runs its own.
    for service in postgresql redis-server; do
      command -v systemctl > /dev/null && systemctl stop "$service" 2> /dev/null || true
    done
  else
    echo "error: missing Debian packages: ${missing[*]}; install them (sudo apt-get install ${missing[*]}) or run as root" >&2
    exit 2
  fi
fi

UV="$(command -v uv || true)"
if [ -z "$UV" ]; then
  if [ ! -x .cache/uv-bootstrap/bin/uv ]; then
    echo "==> bootstrapping uv into .cache/uv-bootstrap"
    "$PYTHON" -m venv .cache/uv-bootstrap
    .cache/uv-bootstrap/bin/python -m pip install --quiet --disable-pip-version-check uv
  fi
  UV=.cache/uv-bootstrap/bin/uv
fi

stamp="$VENV/.installed-airflow-$AIRFLOW_VERSION"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing apache-airflow[celery,postgres]==$AIRFLOW_VERSION and the provider into $VENV"
  [ -x "$VENV/bin/python" ] || "$UV" venv --quiet --python "$PYTHON" "$VENV"
  rm -f "$VENV"/.installed-airflow-*
  constraints=()
  if [ -f "scripts/constraints/airflow-$AIRFLOW_VERSION.txt" ]; then
    constraints=(--constraint "scripts/constraints/airflow-$AIRFLOW_VERSION.txt")
  fi
  UV_COMPILE_BYTECODE=1 "$UV" pip install --quiet --python "$VENV/bin/python" "${constraints[@]}" \
    -e . "apache-airflow[celery,postgres]==$AIRFLOW_VERSION" apache-airflow-providers-http
  touch "$stamp"
fi

exec "$VENV/bin/python" bench/cluster/run.py "$@"
