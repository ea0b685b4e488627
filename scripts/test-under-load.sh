#!/usr/bin/env bash
# Run the README's test command (`bash scripts/test.sh`) on a busy machine: one CPU-burning
# process per core runs beside it the whole time, as other work would on a shared 2-core box.
# The suite must pass like that; a test that races the clock fails here first.
#
#   bash scripts/test-under-load.sh [pytest arguments]
#
#   BUSY_WITH  the PID of other work that already keeps the cores busy (CI runs its other legs
#              beside this one): the burners start only when that process has exited.
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

busy_with="${BUSY_WITH:-}"
for _ in $(seq "$cores"); do
  # Each burner waits (sleeping, not spinning) for BUSY_WITH to end, then burns in its place.
  (
    while [ -n "$busy_with" ] && kill -0 "$busy_with" 2>/dev/null; do sleep 1; done
    exec python3 -c "while True: pass"
  ) &
  burners+=("$!")
done
if [ -n "$busy_with" ]; then
  echo "==> $cores CPU burners (PIDs ${burners[*]}) take over when PID $busy_with ends"
else
  echo "==> $cores CPU burners running beside the tests (PIDs ${burners[*]})"
fi

started=$SECONDS
status=0
bash scripts/test.sh "$@" || status=$?
echo "==> under load: exit code $status after $((SECONDS - started)) s;" \
  "load average $(cut -d ' ' -f 1-3 /proc/loadavg)"
exit "$status"
