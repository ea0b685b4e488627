#!/usr/bin/env bash
# Run the README's test command (`bash scripts/test.sh`) on a busy machine: one CPU-burning
# process per core runs beside it the whole time, as other work would on a shared 2-core box.
# The suite must pass like that; a test that races the clock fails here first.
#
#   bash scripts/test-under-load.sh [pytest arguments]
#
# The burners are stopped by PID when the run ends, also when it fails or is interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."

cores="$(nproc)"
burners=()
stop_burners() {
  for pid in "${burners[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${burners[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap stop_burners EXIT
trap 'exit 130' INT TERM

for _ in $(seq "$cores"); do
  python3 -c "while True: pass" &
  burners+=("$!")
done
echo "==> $cores CPU burners running beside the tests (PIDs ${burners[*]})"

started=$SECONDS
status=0
bash scripts/test.sh "$@" || status=$?
echo "==> under load: exit code $status after $((SECONDS - started)) s;" \
  "load average $(cut -d ' ' -f 1-3 /proc/loadavg)"
exit "$status"
