#!/usr/bin/env bash
# Create (or refresh) the project's virtualenv with Airflow and this provider installed.
#
#   AIRFLOW_VERSION  the Airflow release to install (default: the newest we test, 3.3.2)
#   VENV             where the virtualenv lives (default: .venv in the project)
#
# uv installs Airflow in seconds where pip takes about a minute; it is bootstrapped with pip into
# .cache/ when the machine has no uv. Bytecode is compiled at install time because this kind of
# machine sets PYTHONDONTWRITEBYTECODE, which otherwise makes every Airflow import 2-3x slower.
set -euo pipefail
cd "$(dirname "$0")/.."

AIRFLOW_VERSION="${AIRFLOW_VERSION:-3.3.2}"
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: $PYTHON must be Python 3.11 or newer (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
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

# Debian packages some tests need: chromium for the browser tests (tests/browser; Playwright
# cannot download a browser here) and postgresql for the credits page's queries on Postgres.
# Installed when missing and we are root; otherwise those tests skip and say what is missing.
packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || packages+=(postgresql)
if [ "${#packages[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "==> installing Debian's ${packages[*]} for the tests (apt-get)"
  mkdir -p .cache
  if ! { apt-get -o DPkg::Lock::Timeout=600 update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
      "${packages[@]}"; } >.cache/apt-tests.log 2>&1; then
    tail -n 5 .cache/apt-tests.log >&2
    echo "warning: could not install ${packages[*]} (log: .cache/apt-tests.log);" \
      "the tests that need them will skip" >&2
  fi
fi

stamp="$VENV/.installed-airflow-$AIRFLOW_VERSION"
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt scripts/constraints ]; then
  exit 0  # already set up for this Airflow version and these dependencies
fi

echo "==> installing apache-airflow==$AIRFLOW_VERSION and the provider into $VENV"
[ -x "$VENV/bin/python" ] || "$UV" venv --quiet --python "$PYTHON" "$VENV"
rm -f "$VENV"/.installed-airflow-*
constraints=()
if [ -f "scripts/constraints/airflow-$AIRFLOW_VERSION.txt" ]; then
  constraints=(--constraint "scripts/constraints/airflow-$AIRFLOW_VERSION.txt")
fi
UV_COMPILE_BYTECODE=1 "$UV" pip install --quiet --python "$VENV/bin/python" \
  "${constraints[@]}" -e ".[test]" "apache-airflow==$AIRFLOW_VERSION"
touch "$stamp"
