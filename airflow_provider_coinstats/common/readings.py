"""Credit readings over time, per connection, kept in one Airflow Variable each.

Whoever reads ``/usage/credits`` records it: the hook in task processes (the usage operator, the
gate's pokes) and the triggerer's shared poller. The history lives in the Variable
``coinstats_readings_<conn_id>`` (:func:`variable_key`) as compact JSON (format version 1)::

    {"version": 1, "conn_id": "coinstats_default",
     "points": [[1764590400, 55000, 45000, 100000, "PRO"], [1764590700, 54874, 45126, 100000]]}

Each point is ``[Unix seconds, remaining, used, total]``, plus the plan name where it differs
from the point before (the first point always has it). :func:`parse_history` reads it,
:func:`load_history` loads it.

Bounded: a run of equal figures keeps its first and last point only, and older points thin out
(:data:`TIERS`: every minute for 6 hours, every 15 minutes for a week, every 2 hours for 35 days,
daily for 400 days, nothing older), so a year of readings is under ~1,500 points (~50 KB).

Cheap: a process writes a connection's history at most every :data:`MIN_WRITE_SECONDS` while the
figures change, and every :data:`UNCHANGED_WRITE_SECONDS` while they do not; other readings
cost nothing. Two processes writing at once may lose one's point (the last write wins), never
corrupt the value: each write replaces it whole. A failure to record is logged once per process
and never fails the caller.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from airflow_provider_coinstats.api.models import Credits, CreditUsage

log = logging.getLogger(__name__)

HISTORY_VERSION = 1
VARIABLE_PREFIX = "coinstats_readings_"
# Short: a changed reading held back is lost when the process ends (a passing gate's trigger, a
# short task), and the history would end on figures older than the last reading. Pokes are 30 s
# and more apart in practice, so this throttles only a fast test loop.
MIN_WRITE_SECONDS = 1.0
UNCHANGED_WRITE_SECONDS = 300.0
#: (points younger than this, keep the last point of each bucket of this many seconds).
TIERS: tuple[tuple[timedelta, int], ...] = (
    (timedelta(hours=6), 60),
    (timedelta(days=7), 15 * 60),
    (timedelta(days=35), 2 * 3600),
    (timedelta(days=400), 86400),
)


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """One credit reading: when (UTC) and the figures ``/usage/credits`` gave."""

    at: datetime
    remaining: Credits
    used: Credits
    total: Credits
    subscription: str

    @classmethod
    def from_usage(cls, usage: CreditUsage, at: datetime) -> HistoryPoint:
        return cls(
            at=at.astimezone(UTC).replace(microsecond=0),
            remaining=usage.remaining_credits,
            used=usage.used_credits,
            total=usage.total_credits,
            subscription=usage.subscription,
        )

    def figures(self) -> tuple[Credits, Credits, Credits, str]:
        return (self.remaining, self.used, self.total, self.subscription)


class Store(Protocol):
    """Where histories are kept: Airflow Variables in production."""

    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str) -> None: ...


class VariableStore:
    """Airflow's Variables through the Task SDK (task processes and the triggerer)."""

    def get(self, key: str) -> str | None:
        from airflow.sdk import Variable

        value = Variable.get(key, default=None)
        return None if value is None else str(value)

    def set(self, key: str, value: str) -> None:
        from airflow.sdk import Variable

        Variable.set(key, value)


def variable_key(conn_id: str) -> str:
    """The Variable holding ``conn_id``'s history, e.g. ``coinstats_readings_coinstats_default``."""
    return f"{VARIABLE_PREFIX}{conn_id}"


# -- the format (pure) -------------------------------------------------------------------------


def encode_history(conn_id: str, points: list[HistoryPoint]) -> str:
    rows: list[list[Any]] = []
    plan: str | None = None
    for point in points:
        row: list[Any] = [int(point.at.timestamp()), point.remaining, point.used, point.total]
        if point.subscription != plan:
            row.append(point.subscription)
            plan = point.subscription
        rows.append(row)
    body = {"version": HISTORY_VERSION, "conn_id": conn_id, "points": rows}
    return json.dumps(body, separators=(",", ":"))


def parse_history(text: str | None) -> list[HistoryPoint]:
    """The points in a Variable's text, oldest first; empty for none.

    :raises ValueError: the text is not a version-1 history.
    """
    if not text:
        return []
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("version") != HISTORY_VERSION:
        raise ValueError("not a version-1 CoinStats readings history")
    points: list[HistoryPoint] = []
    plan = ""
    for row in data.get("points", []):
        if len(row) > 4:
            plan = str(row[4])
        at = datetime.fromtimestamp(row[0], UTC)
        points.append(HistoryPoint(at, row[1], row[2], row[3], plan))
    return points


def add_point(
    points: list[HistoryPoint], point: HistoryPoint, now: datetime | None = None
) -> list[HistoryPoint]:
    """``points`` with ``point`` added in time order, runs collapsed and thinned by age; pure."""
    merged = sorted([p for p in points if p.at != point.at] + [point], key=lambda p: p.at)
    return thin(collapse_runs(merged), now or point.at)


def collapse_runs(points: list[HistoryPoint]) -> list[HistoryPoint]:
    """Keep the first and the last point of each run of equal figures."""
    kept: list[HistoryPoint] = []
    for index, point in enumerate(points):
        before = points[index - 1] if index else None
        after = points[index + 1] if index + 1 < len(points) else None
        inside_run = (
            before is not None
            and after is not None
            and before.figures() == point.figures() == after.figures()
        )
        if not inside_run:
            kept.append(point)
    return kept


def thin(points: list[HistoryPoint], now: datetime) -> list[HistoryPoint]:
    """The last point of each age tier's bucket (:data:`TIERS`); nothing past the last tier.

    The newest point always stays, so the history ends at the latest reading.
    """
    buckets: dict[tuple[int, int], HistoryPoint] = {}
    for point in points:
        age = now - point.at
        for tier, (limit, seconds) in enumerate(TIERS):
            if age < limit:
                buckets[(tier, int(point.at.timestamp()) // seconds)] = point  # the last one wins
                break
    kept = sorted(buckets.values(), key=lambda p: p.at)
    if points and (not kept or kept[-1] is not points[-1]) and now - points[-1].at < TIERS[-1][0]:
        kept.append(points[-1])
    return kept


# -- record and load ---------------------------------------------------------------------------

_lock = threading.Lock()
# Per connection: (time.monotonic() of the last write, the figures written).
_written: dict[str, tuple[float, tuple[Credits, Credits, Credits, str]]] = {}
_warned = False
#: Per connection, the latest readings this process saw (all of them, written or not): what a
#: waiting gate's forecast reads without any I/O.
RECENT_KEEP = 500
_recent: dict[str, deque[HistoryPoint]] = {}


def _remember(conn_id: str, point: HistoryPoint) -> None:
    with _lock:
        recent = _recent.setdefault(conn_id, deque(maxlen=RECENT_KEEP))
        if not recent or recent[-1].at < point.at:
            recent.append(point)


def recent_readings(conn_id: str) -> list[HistoryPoint]:
    """The readings of ``conn_id`` this process took lately, oldest first."""
    with _lock:
        return list(_recent.get(conn_id, ()))


def _due(conn_id: str, figures: tuple[Credits, Credits, Credits, str]) -> bool:
    last = _written.get(conn_id)
    if last is None:
        return True
    elapsed = time.monotonic() - last[0]
    return elapsed >= (UNCHANGED_WRITE_SECONDS if last[1] == figures else MIN_WRITE_SECONDS)


def in_airflow_worker() -> bool:
    """Whether this process talks to an Airflow supervisor (a task process or the triggerer),
    the only places the Task SDK can write a Variable."""
    from airflow.sdk.execution_time import task_runner

    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


def record_reading(
    conn_id: str,
    usage: CreditUsage,
    at: datetime | None = None,
    store: Store | None = None,
) -> bool:
    """Add a reading to ``conn_id``'s history, when one is due; True if it was written.

    Never raises: a failure is logged once per process as a warning.
    """
    global _warned
    point = HistoryPoint.from_usage(usage, at or datetime.now(UTC))
    _remember(conn_id, point)
    with _lock:
        if not _due(conn_id, point.figures()):
            return False
        _written[conn_id] = (time.monotonic(), point.figures())
    try:
        if store is None:
            if not in_airflow_worker():
                return False  # e.g. the UI's Test button in the API server: nowhere to write
            store = VariableStore()
        key = variable_key(conn_id)
        points = parse_history(store.get(key))
        last = points[-1] if points else None
        unchanged = last is not None and last.figures() == point.figures()
        if (
            unchanged
            and last is not None
            and point.at - last.at < timedelta(seconds=UNCHANGED_WRITE_SECONDS)
        ):
            return False  # another process wrote the same figures a moment ago
        store.set(key, encode_history(conn_id, add_point(points, point)))
        return True
    except Exception:
        if not _warned:
            _warned = True
            log.warning(
                "CoinStats: could not record a credit reading for connection %r; readings "
                "history is not kept in this process (reported once)",
                conn_id,
                exc_info=True,
            )
        return False


async def arecord_reading(conn_id: str, usage: CreditUsage, at: datetime | None = None) -> None:
    """:func:`record_reading` from an event loop (the triggerer's shared poller).

    Decided without I/O when no write is due; a due write runs on asgiref's thread: the Task
    SDK's sync calls reach the triggerer's supervisor safely only from there on Airflow 3.2.
    """
    point = HistoryPoint.from_usage(usage, at or datetime.now(UTC))
    _remember(conn_id, point)
    with _lock:
        if not _due(conn_id, point.figures()):
            return
    from asgiref.sync import sync_to_async

    await sync_to_async(record_reading)(conn_id, usage, point.at)


def load_history(
    conn_id: str, since: datetime | None = None, store: Store | None = None
) -> list[HistoryPoint]:
    """``conn_id``'s readings, oldest first, from ``since`` on (all when None).

    :raises ValueError: the Variable holds something that is not a readings history.
    """
    points = parse_history((store or VariableStore()).get(variable_key(conn_id)))
    return points if since is None else [p for p in points if p.at >= since]


def reset_recording() -> None:
    """Forget this process's write times (for tests)."""
    global _warned
    with _lock:
        _written.clear()
        _recent.clear()
        _warned = False
