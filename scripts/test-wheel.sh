#!/usr/bin/env bash
# Test the package as a user gets it, not the editable checkout: build the wheel and the sdist,
# install the wheel with plain pip into a new virtualenv beside Airflow, then, from outside the
# checkout, run Airflow's registration checks and an example DAG (taken from the sdist) against
# the offline sandbox.
#
#   AIRFLOW_VERSION  the Airflow to install beside it (default 3.2.0, the oldest we support)
#   PYTHON           the interpreter for the new virtualenv (default python3)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

AIRFLOW_VERSION="${AIRFLOW_VERSION:-3.2.0}"
PYTHON="${PYTHON:-python3}"
DAG_ID=example_coinstats_credit_usage

work="$(mktemp -d -t coinstats-wheel-XXXXXX)"
sandbox_pid=""
cleanup() {
  if [ -n "$sandbox_pid" ]; then
    kill "$sandbox_pid" 2>/dev/null || true
    wait "$sandbox_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

UV="$(command -v uv || true)"
if [ -z "$UV" ]; then
  if [ ! -x .cache/uv-bootstrap/bin/uv ]; then
    "$PYTHON" -m venv .cache/uv-bootstrap
    .cache/uv-bootstrap/bin/python -m pip install --quiet --disable-pip-version-check uv
  fi
  UV="$root/.cache/uv-bootstrap/bin/uv"
fi

echo "==> building the wheel and the sdist"
"$UV" build --quiet --out-dir "$work/dist" >/dev/null
wheel="$(ls "$work"/dist/*.whl)"
sdist="$(ls "$work"/dist/*.tar.gz)"
echo "==> $(basename "$wheel"):"
"$PYTHON" - "$wheel" "$sdist" <<'EOF'
import sys
import tarfile
import zipfile

wheel, sdist = sys.argv[1:]
names = zipfile.ZipFile(wheel).namelist()
for name in names:
    print(f"    {name}")
for needed in ("LICENSE", "NOTICE"):
    if not any(name.endswith(f".dist-info/licenses/{needed}") for name in names):
        sys.exit(f"the wheel lacks {needed}")
if any(name.startswith(("tests/", "scripts/", "example_dags/")) for name in names):
    sys.exit("the wheel ships files that belong to the sdist only")
members = [name.split("/", 1)[1] for name in tarfile.open(sdist).getnames() if "/" in name]
for needed in ("LICENSE", "NOTICE", "CHANGELOG.md", "README.md", "scripts/demo.sh",
               "scripts/setup.sh", "example_dags/example_coinstats_credit_usage.py"):
    if needed not in members:
        sys.exit(f"the sdist lacks {needed}")
print(f"==> {sys.argv[2].rsplit('/', 1)[1]}: {len(members)} entries, LICENSE, NOTICE, scripts/ "
      "and example_dags/ included")
EOF

extra=""
case "$AIRFLOW_VERSION" in 3.2.*) extra="[airflow-3-2]" ;; esac
echo "==> pip install apache-airflow==$AIRFLOW_VERSION $(basename "$wheel")$extra (new virtualenv)"
"$PYTHON" -m venv "$work/venv"
started=$SECONDS
"$work/venv/bin/python" -m pip install --disable-pip-version-check \
  "apache-airflow==$AIRFLOW_VERSION" "$wheel$extra" >"$work/pip.log" 2>&1 ||
  { tail -n 60 "$work/pip.log"; exit 1; }
echo "    installed in $((SECONDS - started)) s:" \
  "$("$work/venv/bin/python" -m pip list --disable-pip-version-check 2>/dev/null |
    grep -E '^(apache-airflow|airflow-provider-coinstats|fastapi|cadwyn) ' | tr -s ' ' | paste -sd ',' -)"

mkdir "$work/sdist"
tar -xzf "$sdist" -C "$work/sdist" --strip-components 1
# From here on, nothing of the checkout is importable: run from the scratch folder.
cd "$work"
export PATH="$work/venv/bin:$PATH"
export AIRFLOW_HOME="$work/home"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_FOLDER="$work/sdist/example_dags"

installed="$(python -c 'import airflow_provider_coinstats as p; print(p.__file__)')"
case "$installed" in
  "$work/venv/"*) echo "==> the provider imports from the wheel: ${installed#"$work/"}" ;;
  *) echo "error: the provider imports from $installed, not from the wheel" >&2; exit 1 ;;
esac

echo "==> airflow db migrate"
airflow db migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; exit 1; }
echo "==> airflow providers list / hooks"
airflow providers list -o json >"$work/providers.json"
airflow providers hooks -o json >"$work/hooks.json"
python - "$work/providers.json" "$work/hooks.json" <<'EOF'
import json
import sys

def rows(path):
    text = open(path).read()
    return json.loads(text[text.index("["):])  # Airflow may log lines before the table

version = __import__("airflow_provider_coinstats").__version__
ours = [p for p in rows(sys.argv[1]) if p["package_name"] == "airflow-provider-coinstats"]
if [p["version"] for p in ours] != [version]:
    sys.exit(f"airflow providers list: expected airflow-provider-coinstats {version}, got {ours}")
hooks = [h for h in rows(sys.argv[2]) if h["connection_type"] == "coinstats"]
if [h["class"] for h in hooks] != ["airflow_provider_coinstats.hooks.coinstats.CoinStatsHook"]:
    sys.exit(f"airflow providers hooks: no coinstats hook, got {hooks}")
print(f"    airflow-provider-coinstats {version}; connection type coinstats -> CoinStatsHook")
EOF

echo "==> the sandbox, from the installed package"
python -m airflow_provider_coinstats.testing.sandbox --port 0 >"$work/sandbox.out" 2>&1 &
sandbox_pid=$!
url=""
for _ in $(seq 600); do  # up to 2 minutes to print its URL; it takes under a second idle
  url="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/sandbox.out" | head -n 1 || true)"
  [ -n "$url" ] && break
  kill -0 "$sandbox_pid" 2>/dev/null || { cat "$work/sandbox.out"; exit 1; }
  sleep 0.2
done
[ -n "$url" ] || { echo "error: the sandbox printed no URL" >&2; exit 1; }
echo "    $(head -n 1 "$work/sandbox.out")"

echo "==> airflow dags test $DAG_ID (from the sdist's example_dags)"
export AIRFLOW_CONN_COINSTATS_DEFAULT="{\"conn_type\": \"coinstats\", \"host\": \"$url\", \"password\": \"sandbox-key\"}"
airflow dags test "$DAG_ID" >"$work/dags-test.log" 2>&1 || true
python - "$AIRFLOW_HOME/airflow.db" "$DAG_ID" "$work/dags-test.log" <<'EOF'
import sqlite3
import sys

db, dag_id, log = sys.argv[1:]
row = sqlite3.connect(db).execute(
    "SELECT state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
).fetchone()
text = open(log, errors="replace").read()
if row is None or row[0] != "success":
    sys.exit(f"{dag_id}: run state {row}\n{text[-4000:]}")
line = next(line for line in text.splitlines() if "credits left (" in line)
print(f"    run success: ...{line[line.index('CoinStats '):][:80]}")
EOF
echo "==> the wheel works on Airflow $AIRFLOW_VERSION"
