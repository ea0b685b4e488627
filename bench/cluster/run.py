"""The cluster benchmark: N credit gates on a production-shaped Airflow (issue 14, item 4).

Run it with ``bash scripts/bench-cluster.sh [--gates 100] [--quick]``, which installs what it
needs and then runs this file in the benchmark's own venv. It starts Postgres, Redis, the
CoinStats sandbox and Airflow 3.3.2 (api-server, scheduler, dag-processor, one Celery worker with
4 slots, two triggerers; CeleryExecutor) on 127.0.0.1 ports of its own, then measures:

1. routed: N deferred gates whose trigger queue (``queue="coinstats_routed"``, with
   ``[triggerer] queues_enabled``) only triggerer-2 serves: deferred gates per triggerer, calls
   per interval, and refills (below) decided by one triggerer's in-memory ledger;
2. N deferred ``CreditBudgetSensor`` gates, each requiring R credits, waiting on one connection
   across both triggerers: ``/usage/credits`` calls per poke interval (sandbox request log,
   counted in a window of exactly that many intervals) and worker slots used (task instances
   running, sampled);
3. refills: the sandbox's balance set to C credits; gates passed against floor(C / R), and the
   time from the refill to the last spend task's success;
4. failover: ``kill -9`` of one triggerer while gates wait; every task must succeed exactly once;
5. the same N gates in ``reschedule`` mode (waiting, then one refill: how many of the workers'
   pokes pass on one balance) and as ``HttpSensor(deferrable=True)`` with a ``response_check``:
   calls per interval and slots used.

It prints a markdown table and writes it, with the date and the machine, to a results file. It
stops every process it started when it ends, fails or is interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from services import REPO, ROUTED_QUEUE, Cluster, wait_for

RESULTS = Path(__file__).resolve().parent / "results"
SPEND_PATH = "/portfolio/snapshot/items"
SPEND_PRICE = 500
STARTING_REMAINING = 1000  # below any gate's requirement: every gate waits
POOL = "coinstats_budget"  # cluster_reschedule_pool's one-slot pool (dags/cluster_gates.py)
POOL_GATES = 20  # its lanes: a one-slot pool pokes them one at a time


@dataclass
class Waiting:
    """What N gates cost while they wait."""

    label: str
    calls_per_interval: float
    slots_mean: float
    slots_max: int
    queued_max: int
    deferred: int
    intervals: int
    load: str
    spread: dict[str, int]
    #: Seconds from the window's start at which credit calls arrived (sampled every ~0.5 s),
    #: also for a few seconds past its end; the count is of those inside the window.
    arrivals: list[float] = field(default_factory=list)
    window_s: float = 0.0


@dataclass
class Refill:
    scenario: str
    credits: int
    floor: int
    passed: int
    spent_ok: int
    spend_failed: int
    seconds_to_last_success: float | None
    waiting_after: int


@dataclass
class Failover:
    run_id: str
    killed: str
    spread_before: dict[str, int]
    seconds_to_reassign: float | None
    calls_per_interval_after: float
    gates_ok_once: int
    spends_ok_once: int
    not_once: list[str]
    spend_calls: int
    lanes: int


@dataclass
class Report:
    args: argparse.Namespace
    commit: str
    started: str
    waiting: list[Waiting] = field(default_factory=list)
    refills: list[Refill] = field(default_factory=list)
    failover: Failover | None = None
    notes: list[str] = field(default_factory=list)


class Bench:
    def __init__(self, cluster: Cluster, args: argparse.Namespace) -> None:
        self.cluster = cluster
        self.args = args
        self.interval = float(args.interval)
        self.required = int(args.required)
        self.gates = int(args.gates)
        self._db: Any = None

    # -- observation ------------------------------------------------------------------------
    def db(self) -> Any:
        if self._db is None or self._db.closed:
            self._db = psycopg2.connect(self.cluster.dsn)
            self._db.autocommit = True
        return self._db

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with self.db().cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    def states(self, run_id: str, prefix: str) -> dict[str, str | None]:
        rows = self.query(
            "select task_id, state from task_instance where run_id = %s and task_id like %s",
            run_id,
            prefix + "%",
        )
        return {task: state for task, state in rows}

    def credit_calls(self) -> int:
        return sum(
            1
            for record in self.cluster.sandbox("GET", "/_sandbox/requests")
            if record["path"].removeprefix("/v1") == "/usage/credits"
        )

    def set_remaining(self, remaining: int) -> None:
        """A top-up, as CoinStats would do it: the total grows, the credits used stay."""
        used = int(self.cluster.sandbox("GET", "/_sandbox/credits")["usedCredits"])
        self.cluster.sandbox("POST", "/_sandbox/credits", {"total": used + remaining})

    def spread(self, run_id: str) -> dict[str, int]:
        """Deferred gates of the run per triggerer (triggerer-1, triggerer-2; 'none' while
        unassigned)."""
        rows = self.query(
            "select coalesce(t.triggerer_id::text, 'none'), count(*) from task_instance ti"
            " join trigger t on t.id = ti.trigger_id"
            " where ti.run_id = %s and ti.state = 'deferred' group by 1 order by 1",
            run_id,
        )
        return {self.cluster.triggerer_name(str(k)): int(v) for k, v in rows}

    def trigger_queues(self, run_id: str) -> dict[str, int]:
        """The deferred gates' trigger queues (``trigger.queue``), counted."""
        rows = self.query(
            "select coalesce(t.queue, 'none'), count(*) from task_instance ti"
            " join trigger t on t.id = ti.trigger_id"
            " where ti.run_id = %s and ti.state = 'deferred' group by 1 order by 1",
            run_id,
        )
        return {str(k): int(v) for k, v in rows}

    def trigger(self, dag_id: str) -> str:
        run = self.cluster.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None})
        return str(run["dag_run_id"])

    # -- phases -----------------------------------------------------------------------------
    def wait_deferred(self, run_id: str) -> None:
        def all_deferred() -> bool:
            states = self.states(run_id, "gate_")
            return len(states) == self.gates and all(s == "deferred" for s in states.values())

        wait_for(f"{self.gates} gates deferred", all_deferred, 300 + 20 * self.gates, every_s=2)
        # The triggerers pick the new triggers up at their next loop; let them start polling.
        time.sleep(self.interval + 5)

    def measure(self, label: str, run_id: str, intervals: int) -> Waiting:
        """Credit calls per interval and slots in use, over ``intervals`` poke intervals.

        The calls are counted in a window of exactly ``intervals`` intervals: the request log's
        length is sampled every ~0.5 s, and the count is the last sample inside the window minus
        the first. (Counting to the end of the loop's last turn, as before, let the window run
        a few seconds long, and a triggerer polling every interval then sometimes showed one
        reading more: 9 in 4 intervals with two triggerers, "2.2".)
        """
        window = intervals * self.interval
        running: list[int] = []
        queued: list[int] = []
        t0 = time.monotonic()
        samples = [(0.0, self.credit_calls())]
        next_states = 0.0
        while samples[-1][0] < window + 10:  # a few seconds past the end, to show the edge
            elapsed = time.monotonic() - t0
            if elapsed >= next_states and elapsed < window:
                states = self.states(run_id, "gate_")
                running.append(sum(1 for s in states.values() if s == "running"))
                queued.append(sum(1 for s in states.values() if s == "queued"))
                next_states = elapsed + 2
            time.sleep(0.5)
            at = time.monotonic() - t0
            samples.append((at, self.credit_calls()))
        inside = [count for at, count in samples if at <= window]
        calls = inside[-1] - samples[0][1]
        arrivals = [
            at
            for (at, count), (_, before) in zip(samples[1:], samples, strict=False)
            for _ in range(count - before)
        ]
        states = self.states(run_id, "gate_")
        return Waiting(
            label=label,
            calls_per_interval=calls / intervals,
            slots_mean=statistics.fmean(running),
            slots_max=max(running),
            queued_max=max(queued),
            deferred=sum(1 for s in states.values() if s == "deferred"),
            intervals=intervals,
            load=_load(),
            spread=self.spread(run_id),
            arrivals=arrivals,
            window_s=max(at for at, _ in samples if at <= window),
        )

    def refill(
        self, run_id: str, remaining: int, scenario: str, *, quiet: float | None = None
    ) -> Refill:
        """Set the balance, wait until the gates it lets through have spent, count them.

        :param quiet: seconds without a new pass that end the wait (default two intervals and
            20 s: a deferred gate decides within one interval of a change). Reschedule gates
            wait in ``scheduled``/``queued``/``up_for_reschedule`` between pokes, so with a
            ``quiet`` given those states do not count as "still resuming".
        """
        before = {t for t, s in self.states(run_id, "gate_").items() if s == "success"}
        refilled = time.time()
        self.set_remaining(remaining)
        rescheduling = quiet is not None
        quiet = 2 * self.interval + 20 if quiet is None else quiet
        last_change = time.monotonic()
        seen = set(before)
        deadline = time.monotonic() + 600 + 10 * self.gates
        while time.monotonic() < deadline:
            gates = self.states(run_id, "gate_")
            passed = {t for t, s in gates.items() if s == "success"}
            if passed != seen:
                seen, last_change = passed, time.monotonic()
            new = passed - before
            spends = self.states(run_id, "spend_")
            pending_spend = any(
                spends.get("spend_" + t.removeprefix("gate_"))
                not in ("success", "failed", "upstream_failed")
                for t in new
            )
            resuming = not rescheduling and any(
                s in ("scheduled", "queued", "running", "up_for_reschedule") for s in gates.values()
            )
            if not pending_spend and not resuming and time.monotonic() - last_change > quiet:
                break
            time.sleep(2)
        else:
            raise TimeoutError(f"refill of {remaining:,}: the gates did not settle")
        lanes = sorted(t.removeprefix("gate_") for t in seen - before)
        ends = self.query(
            "select task_id, state, extract(epoch from end_date) from task_instance"
            " where run_id = %s and task_id = any(%s)",
            run_id,
            ["spend_" + lane for lane in lanes],
        )
        ok = [end for _, state, end in ends if state == "success"]
        gates = self.states(run_id, "gate_")
        return Refill(
            scenario=scenario,
            credits=remaining,
            floor=remaining // self.required,
            passed=len(lanes),
            spent_ok=len(ok),
            spend_failed=sum(1 for _, state, _ in ends if state != "success"),
            seconds_to_last_success=(max(float(e) for e in ok) - refilled) if ok else None,
            waiting_after=sum(1 for s in gates.values() if s not in ("success", "failed")),
        )

    def failover(self, run_id: str) -> Failover:
        """kill -9 triggerer-1 while gates wait, then let every gate through."""

        def spread() -> dict[str, int]:
            return self.spread(run_id)

        before = wait_for(
            "triggers assigned", lambda: (s := spread()) and "none" not in s and s, 300, 2
        )
        spend_calls_before = self.spend_calls()
        killed_at = self.query("select now()")[0][0]
        killed = self.cluster.kill_leader("triggerer-1")
        t_kill = time.monotonic()

        def on_live_triggerers() -> bool:
            # The killed triggerer's job stops heartbeating; a live one beats every few seconds.
            live = {
                self.cluster.triggerer_name(str(job_id))
                for (job_id,) in self.query(
                    "select id from job where job_type = 'TriggererJob' and latest_heartbeat > %s",
                    killed_at + dt.timedelta(seconds=10),
                )
            }
            now = spread()
            return bool(live) and bool(now) and set(now) <= live

        reassigned: float | None = None
        try:
            wait_for("triggers running on the surviving triggerer", on_live_triggerers, 600, 2)
            reassigned = time.monotonic() - t_kill
        except TimeoutError as err:
            print(f"failover: {err}", file=sys.stderr)
        time.sleep(self.interval + 5)
        after = self.measure(
            "deferred, after kill -9 of one triggerer", run_id, max(2, self.args.intervals // 2)
        )
        waiting = sum(1 for s in self.states(run_id, "gate_").values() if s == "deferred")
        self.refill(run_id, waiting * self.required + self.required // 2, "failover")
        rows = self.query(
            "select task_id, state, try_number from task_instance where run_id = %s", run_id
        )
        once = {t for t, state, tries in rows if state == "success" and tries == 1}
        return Failover(
            run_id=run_id,
            killed=f"{killed.name} (pid {killed.proc.pid})",
            spread_before=before,
            seconds_to_reassign=reassigned,
            calls_per_interval_after=after.calls_per_interval,
            gates_ok_once=sum(1 for t in once if t.startswith("gate_")),
            spends_ok_once=sum(1 for t in once if t.startswith("spend_")),
            not_once=sorted(f"{t}={s}/{n}" for t, s, n in rows if t not in once),
            spend_calls=self.spend_calls() - spend_calls_before,
            lanes=self.gates,
        )

    def spend_calls(self) -> int:
        return sum(
            1
            for r in self.cluster.sandbox("GET", "/_sandbox/requests")
            if r["path"].removeprefix("/v1") == SPEND_PATH and r["status"] == 200
        )

    def stop_run(self, dag_id: str, run_id: str) -> None:
        """Fail a comparison run and wait until none of its tasks holds a slot or a trigger.
        (A poke that ends just after the run was failed can leave its gate ``up_for_reschedule``
        for good; that holds nothing, and the failed run never schedules it again.)"""
        self.cluster.api("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}", {"state": "failed"})
        wait_for(
            f"{dag_id} stopped",
            lambda: (
                not any(
                    s in ("running", "queued", "deferred")
                    for s in self.states(run_id, "gate_").values()
                )
            ),
            600,
            3,
        )

    def comparison(
        self,
        dag_id: str,
        label: str,
        report: Report | None = None,
        *,
        gates: int | None = None,
        intervals: int | None = None,
        scenario: str = "reschedule (workers)",
    ) -> Waiting:
        """N gates of ``dag_id`` waiting; with ``report``, then one refill of 3.5 gates' worth
        (reschedule gates: the pokes on the workers decide on the Variable's ledger)."""
        gates = self.gates if gates is None else gates
        self.set_remaining(STARTING_REMAINING)
        run_id = self.trigger(dag_id)
        # Warm-up: let every gate start at least once (or the slots fill), then two intervals.
        wait_for(
            f"{dag_id} gates started",
            lambda: (
                sum(
                    1 for s in self.states(run_id, "gate_").values() if s not in (None, "scheduled")
                )
                >= min(gates, 4)
            ),
            600,
            2,
        )
        time.sleep(2 * self.interval)
        waiting = self.measure(label, run_id, intervals or self.args.intervals)
        if report is not None:
            # Every gate pokes about once per N / (calls per interval) intervals: wait two such
            # rounds without a new pass before counting.
            cycle = gates / max(waiting.calls_per_interval, 0.1) * self.interval
            quiet = min(max(2 * self.interval + 20, 2 * cycle), 900.0)
            report.refills.append(self.refill(run_id, self.refill_plan()[0], scenario, quiet=quiet))
        try:
            self.stop_run(dag_id, run_id)
        except TimeoutError as err:  # keep what was measured; the next scenario may still run
            if report is not None:
                report.notes.append(f"{err}")
        return waiting

    # -- the whole benchmark ----------------------------------------------------------------
    def routed(self, report: Report) -> None:
        """N deferred gates whose triggers only triggerer-2 may run, both triggerers alive."""
        self.set_remaining(STARTING_REMAINING)
        run_id = self.trigger("cluster_routed")
        self.wait_deferred(run_id)
        queues = self.trigger_queues(run_id)
        report.waiting.append(
            self.measure(
                f"{self.gates} deferred, routed: queue `{ROUTED_QUEUE}`, only triggerer-2 "
                "serves it",
                run_id,
                self.args.intervals,
            )
        )
        report.notes.append(f"Routed run: the deferred gates' trigger queues were {queues}.")
        for remaining in self.refill_plan():
            report.refills.append(self.refill(run_id, remaining, "routed to one triggerer"))
        still = sum(1 for s in self.states(run_id, "gate_").values() if s == "deferred")
        if still:
            report.refills.append(
                self.refill(
                    run_id, still * self.required + self.required // 2, "routed to one triggerer"
                )
            )

    def run(self, report: Report) -> None:
        if self.args.only_worker_gates:
            self.worker_gates(report)
            return
        self.routed(report)
        self.set_remaining(STARTING_REMAINING)
        run_id = self.trigger("cluster_deferred")
        self.wait_deferred(run_id)
        report.waiting.append(
            self.measure(
                f"{self.gates} deferred CreditBudgetSensor, 2 triggerers",
                run_id,
                self.args.intervals,
            )
        )
        partial = self.refill_plan()
        for remaining in partial:
            report.refills.append(self.refill(run_id, remaining, "2 triggerers"))
        still = sum(1 for s in self.states(run_id, "gate_").values() if s == "deferred")
        if self.args.quick:
            if still:
                report.refills.append(
                    self.refill(run_id, still * self.required + self.required // 2, "2 triggerers")
                )
        elif still:
            report.failover = self.failover(run_id)
        else:
            report.notes.append(
                "No gate was left waiting after the partial refills, so the failover ran on a "
                "second DAG run of N fresh gates."
            )
            self.set_remaining(STARTING_REMAINING)
            second = self.trigger("cluster_deferred")
            self.wait_deferred(second)
            report.failover = self.failover(second)
        self.worker_gates(report, http=not self.args.quick)

    def worker_gates(self, report: Report, *, http: bool = False) -> None:
        """The comparisons: gates waiting on workers (and the HttpSensor)."""
        report.waiting.append(
            self.comparison(
                "cluster_reschedule",
                f"{self.gates} CreditBudgetSensor, mode=reschedule",
                report,
            )
        )
        if http:
            report.waiting.append(
                self.comparison(
                    "cluster_http", f"{self.gates} HttpSensor(deferrable=True, response_check=...)"
                )
            )
        # Last: a one-slot pool's run is slow, and the other scenarios must not wait on it.
        pool_gates = min(self.gates, POOL_GATES)
        self.cluster.api("POST", "/api/v2/pools", {"name": POOL, "slots": 1})
        report.waiting.append(
            self.comparison(
                "cluster_reschedule_pool",
                f"{pool_gates} CreditBudgetSensor, mode=reschedule, gate + spend in a 1-slot pool",
                report,
                gates=pool_gates,
                intervals=2,
                scenario=f"reschedule, {pool_gates} lanes in a 1-slot pool",
            )
        )

    def refill_plan(self) -> list[int]:
        """Partial refills of k.5 gates' worth (k = 3, 8; 3 in quick mode); the last refill (one
        for every gate still waiting) follows them."""
        r = self.required
        return [3 * r + r // 2] if self.args.quick else [3 * r + r // 2, 8 * r + r // 2]


def _spread(spread: dict[str, int]) -> str:
    if not spread:
        return ""
    return "(" + " + ".join(str(n) for n in spread.values()) + ")"


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f}"


def _machine() -> str:
    mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
    return (
        f"`nproc` {os.cpu_count()}, {int(mem) / 1024 / 1024:.1f} GiB RAM, Python "
        f"{platform.python_version()}, load at the end {_load()} (1 / 5 / 15 min)"
    )


def render(report: Report) -> str:
    a = report.args
    lines = [
        f"### Cluster run {report.started} (commit `{report.commit}`"
        f"{', quick' if a.quick else ''})",
        "",
        f"N = {a.gates} gates, each requiring R = {a.required:,} credits, poke_interval "
        f"{a.interval:g} s, one connection. Machine: {_machine()}.",
        "",
        "| waiting | credit calls per interval | worker slots busy (mean / max of 4) | max queued "
        "| deferred (per triggerer) | intervals | load 1/5/15 |",
        "|---|---:|---:|---:|---|---:|---|",
    ]
    for w in report.waiting:
        lines.append(
            f"| {w.label} | {w.calls_per_interval:.1f} | {w.slots_mean:.2f} / {w.slots_max} | "
            f"{w.queued_max} | {w.deferred} {_spread(w.spread)} | {w.intervals} | {w.load} |"
        )
    if report.failover:
        lines.append(
            f"| {report.failover.lanes} deferred, after kill -9 of one triggerer | "
            f"{report.failover.calls_per_interval_after:.1f} | | | | | |"
        )
    lines += [
        "",
        "Credit calls are counted in a window of exactly `intervals` x poke_interval; the calls' "
        "arrival times (s from the window's start, sampled every ~0.5 s; past the window's end "
        "in brackets):",
        "",
    ]
    for w in report.waiting:
        if w.calls_per_interval <= 5:  # the deferred ones; the others are too many to list
            inside = [f"{at:.0f}" for at in w.arrivals if at <= w.window_s]
            past = [f"{at:.0f}" for at in w.arrivals if at > w.window_s]
            lines.append(
                f"- {w.label}: {len(inside)} in {w.window_s:.0f} s: {', '.join(inside)}"
                + (f" [{', '.join(past)}]" if past else "")
            )
    lines += [
        "",
        "| gates | refill: balance set to C | floor(C / R) | gates passed | spend ok "
        "| spend failed | refill to last spend success (s) | still waiting |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report.refills:
        secs = f"{r.seconds_to_last_success:.0f}" if r.seconds_to_last_success is not None else "-"
        lines.append(
            f"| {r.scenario} | {r.credits:,} | {r.floor} | **{r.passed}** | {r.spent_ok} "
            f"| {r.spend_failed} | {secs} | {r.waiting_after} |"
        )
    f = report.failover
    if f:
        secs = (
            f"{f.seconds_to_reassign:.0f} s"
            if f.seconds_to_reassign is not None
            else "not observed"
        )
        lines += [
            "",
            f"Failover (run `{f.run_id}`): killed {f.killed} with SIGKILL while gates waited "
            f"(deferred gates per triggerer id before: {f.spread_before}); all its triggers ran on "
            f"the other triggerer after {secs}. Then one refill for every waiting gate: "
            f"{f.gates_ok_once} of {f.lanes} gates and {f.spends_ok_once} of {f.lanes} spend tasks "
            f"succeeded on their first try; {f.spend_calls} spend calls for "
            f"{f.spend_calls * SPEND_PRICE // a.required} spends."
            + (f" Not exactly once: {', '.join(f.not_once[:20])}." if f.not_once else ""),
        ]
    for note in report.notes:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--gates", type=int, default=100, help="N gates (default 100; 10 with --quick)"
    )
    parser.add_argument("--interval", type=float, default=30.0, help="poke_interval in seconds")
    parser.add_argument(
        "--required", type=int, default=5000, help="credits each gate requires (a multiple of 500)"
    )
    parser.add_argument("--intervals", type=int, default=4, help="poke intervals per measurement")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: N = 10, one partial refill, no failover, no HttpSensor comparison",
    )
    parser.add_argument(
        "--only-worker-gates",
        action="store_true",
        help="only the reschedule gates (one refill) and the one-slot pool's",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temp dir (logs, DB) afterwards"
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="results file (default bench/cluster/results/<time>.md)",
    )
    args = parser.parse_args(argv)
    if args.quick and "--gates" not in (argv or sys.argv):
        args.gates = 10
    if args.quick:
        args.intervals = min(args.intervals, 2)
    if args.required % SPEND_PRICE:
        parser.error(f"--required must be a multiple of {SPEND_PRICE} (one spend call's price)")

    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip() + (" + uncommitted changes" if _dirty() else "")
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    work = Path(tempfile.mkdtemp(prefix="coinstats-cluster-"))
    cluster = Cluster(work, Path(sys.executable).parent, args.gates, args.interval, args.required)
    report = Report(args, commit, started)

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    print(f"==> cluster in {work} (logs in {work / 'logs'})", flush=True)
    failed: BaseException | None = None
    try:
        t0 = time.monotonic()
        cluster.start()
        print(
            f"==> cluster up in {time.monotonic() - t0:.0f} s; running N = {args.gates}", flush=True
        )
        Bench(cluster, args).run(report)
    except BaseException as err:  # also Ctrl-C: report what was measured, then stop everything
        failed = err
        report.notes.append(f"**Stopped early**: {type(err).__name__}: {err}")
    finally:
        print("==> stopping every process started", flush=True)
        cluster.stop()
        if not args.keep and failed is None:
            with contextlib.suppress(OSError):
                subprocess.run(["rm", "-rf", str(work)], check=False)
    text = render(report)
    print(text)
    out = (
        args.results
        or RESULTS / f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M}{'-quick' if args.quick else ''}.md"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"==> written to {out}")
    if failed is not None:
        print(f"==> failed: logs kept in {work / 'logs'}", file=sys.stderr)
        return 1
    return 0


def _dirty() -> bool:
    out = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "airflow_provider_coinstats"],
        capture_output=True,
        text=True,
    ).stdout
    return bool(out.strip())


if __name__ == "__main__":
    sys.exit(main())
