"""Credit reservations: a gate that passes holds the credits it required, so the gates that
decide after it see what is left once that work has run, not the same balance again.

The ledger of one connection is one Airflow Variable, ``coinstats_reservations__<conn_id>``,
holding JSON::

    {"seen_used": 12000, "seen_at": 1.7e9,
     "reservations": [{"holder": "dag/run/gate/-1", "credits": 5000, "made_at": 1.7e9,
                       "expires_at": 1.7e9, "dag_id": "dag", "run_id": "run",
                       "waiting_for": ["fetch"]}]}

A reservation ends, whichever comes first:

- *spent*: a reading shows ``usedCredits`` risen since the ledger last saw it; the rise is
  taken off the oldest reservations first (a partial rise shrinks one). Spending by work that
  no gate reserved for ends reservations early too: the ledger cannot tell whose credits moved.
- *finished*: every task directly downstream of the gate has succeeded or failed (the task
  listener), or the gate's DAG run has ended (the scheduler's DAG run listener; it also covers
  downstream tasks that were skipped or never ran). The reservation then still holds until the
  first reading *sent after* the work finished has been settled: a reading from before may not
  show that work's spend yet, and releasing on it would let another gate pass on credits already
  gone. A rise in that reading is taken off finished reservations first: their work is done.
- *expired*: ``reservation_timeout`` seconds after it was made (default one hour).

Guarantee: inside one triggerer every deferred gate of a connection decides on the in-memory
ledger of the connection's shared poller (:mod:`airflow_provider_coinstats.common.polling`),
with no ``await`` between deciding and reserving, so K gates needing R with C credits free admit
at most floor(C / R).

Between processes (several triggerers, poke/reschedule gates on workers, the listeners) the
Variable is read, changed and written back. Airflow offers no compare-and-set, so two processes
can each write a ledger read before the other's write, and the later write drops the earlier
one's reservation. A gate that reserved therefore passes only once its reservation has survived
a *confirmation*: it waits ``[coinstats] reservation_confirm_delay`` seconds (D, default 5) after
its write and reads the ledger again; a reservation missing then was dropped by a concurrent
write, and the gate decides again instead of passing. This is Fischer's timed mutual exclusion
applied to the ledger, and it holds while every write lands within D of the read it was made
on: every writer reads again instead of writing when its read took over 0.4 D, and logs a
warning when read to written took over 0.8 D (a gate elsewhere may then have passed on a
reservation that write dropped). Two gates that both pass have then seen each other's
reservation, so gates in any number of processes admit at most floor(C / R). ``D = 0`` turns
confirmation off; even a connection whose gates all defer to one triggerer then has a writer
elsewhere, as each deferrable gate checks once on its worker before deferring. One writer is not
timed: the scheduler's DAG run listener, which releases inside the scheduler's own transaction
(read to commit: normally well under a second, so under D).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from airflow_provider_coinstats.api.validation import MAX_CREDITS

log = logging.getLogger(__name__)

VARIABLE_PREFIX = "coinstats_reservations__"
#: A reservation nothing else ends lasts this long (seconds).
DEFAULT_RESERVATION_TIMEOUT = 3600.0
#: ``[coinstats] reservation_confirm_delay``: how long a gate that reserved waits before it
#: reads the ledger again to see its reservation survive (seconds).
DEFAULT_CONFIRM_DELAY = 5.0
MAX_CONFIRM_DELAY = 600.0
#: Reads of a ledger write tried before giving up (each one took too long).
WRITE_ATTEMPTS = 3


def confirm_delay() -> float:
    """``[coinstats] reservation_confirm_delay`` in seconds, within 0..600 (0: no confirmation).
    A value that is not a number is the default, and a warning."""
    from airflow.sdk import conf

    text = conf.get("coinstats", "reservation_confirm_delay", fallback=None)
    if text is None or not str(text).strip():
        return DEFAULT_CONFIRM_DELAY
    try:
        value = float(text)
    except ValueError:
        log.warning(
            "[coinstats] reservation_confirm_delay should be a number of seconds, got %r; using %g",
            text,
            DEFAULT_CONFIRM_DELAY,
        )
        return DEFAULT_CONFIRM_DELAY
    return min(max(value, 0.0), MAX_CONFIRM_DELAY)


def read_bound(delay: float) -> float:
    """The age a ledger read may have when its write starts; an older one is read again."""
    return 0.4 * delay


def read_too_old(conn_id: str, took: float, delay: float) -> bool:
    """True (and a warning) when a read that took ``took`` seconds is too old to write on."""
    if delay <= 0 or took <= read_bound(delay):
        return False
    log.warning(
        "Reading the credit reservations of connection %r took %.1f s, over %.1f s: reading "
        "again rather than writing on a stale read",
        conn_id,
        took,
        read_bound(delay),
    )
    return True


def written_too_late(conn_id: str, took: float, delay: float) -> None:
    """Warn when a write landed more than 0.8 D after its read: the confirmation's assumption."""
    if delay > 0 and took > 0.8 * delay:
        log.warning(
            "Writing the credit reservations of connection %r took %.1f s from its read, over "
            "the %.1f s that reservation_confirm_delay (%g s) allows: a gate in another process "
            "may have passed on a reservation this write dropped; raise [coinstats] "
            "reservation_confirm_delay above the slowest Variable write",
            conn_id,
            took,
            0.8 * delay,
            delay,
        )


def variable_key(conn_id: str) -> str:
    """The Airflow Variable holding ``conn_id``'s ledger."""
    return f"{VARIABLE_PREFIX}{conn_id}"


def holder_id(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """The gate task instance that holds a reservation."""
    return f"{dag_id}/{run_id}/{task_id}/{map_index}"


@dataclass
class Reservation:
    """Credits one passed gate holds for the work downstream of it."""

    holder: str
    credits: float
    made_at: float
    expires_at: float
    dag_id: str = ""
    run_id: str = ""
    waiting_for: list[str] = field(default_factory=list)
    #: When the gated work finished (epoch seconds); held until a reading sent after it.
    finished_at: float | None = None


@dataclass
class Ledger:
    """Outstanding reservations of one connection, and the ``usedCredits`` last settled."""

    seen_used: float | None = None
    reservations: dict[str, Reservation] = field(default_factory=dict)
    #: When the reading behind ``seen_used`` was taken (epoch seconds).
    seen_at: float | None = None

    def settle(self, used: float, now: float | None = None, read_at: float | None = None) -> bool:
        """End what a reading shows spent, and what expired; True when anything changed.

        :param used: the reading's ``usedCredits``.
        :param now: the time to judge expiry at (epoch seconds; default now).
        :param read_at: when the reading's request was sent (default ``now``): a reading
            older than the one the ledger last settled on (another process read later) settles
            nothing, so a stale figure is never taken for a new billing period and the next rise
            is not counted twice; and a finished reservation ends only on a reading sent after
            its work finished.
        """
        now = time.time() if now is None else now
        changed = False
        for holder, reservation in list(self.reservations.items()):
            if reservation.expires_at <= now:
                del self.reservations[holder]
                changed = True
        sent_at = now if read_at is None else read_at
        if self.seen_at is not None and sent_at < self.seen_at:
            return changed
        self.seen_at = sent_at
        if self.seen_used is None or used < self.seen_used:
            # First reading, or a new billing period (usage reset): nothing to attribute.
            changed = changed or self.seen_used != used
            self.seen_used = used
        elif used > self.seen_used:
            self._take_off(used - self.seen_used)
            self.seen_used = used
            changed = True
        # This reading was sent after these reservations' work finished: it shows their spend.
        for holder, reservation in list(self.reservations.items()):
            if reservation.finished_at is not None and reservation.finished_at < sent_at:
                del self.reservations[holder]
                changed = True
        return changed

    def _take_off(self, rise: float) -> None:
        """Credits spent since the last reading: off the finished reservations first (their
        work is done), then the oldest; a partial rise shrinks one."""
        order = sorted(self.reservations.values(), key=lambda r: (r.finished_at is None, r.made_at))
        for reservation in order:
            taken = min(reservation.credits, rise)
            reservation.credits -= taken
            rise -= taken
            if reservation.credits <= 0:
                del self.reservations[reservation.holder]
            if rise <= 0:
                break

    def held_by_others(self, holder: str) -> tuple[float, int]:
        """Credits reserved by every gate but ``holder``, and how many gates hold them."""
        others = [r.credits for h, r in self.reservations.items() if h != holder]
        return sum(others), len(others)

    def reserve(
        self,
        holder: str,
        credits: float,
        *,
        timeout: float,
        dag_id: str = "",
        run_id: str = "",
        waiting_for: Iterable[str] = (),
        now: float | None = None,
    ) -> Reservation:
        """Hold ``credits`` for ``holder`` (replacing what it held before)."""
        now = time.time() if now is None else now
        reservation = Reservation(
            holder, credits, now, now + timeout, dag_id, run_id, sorted(waiting_for)
        )
        self.reservations[holder] = reservation
        return reservation

    def task_finished(
        self, dag_id: str, run_id: str, task_id: str, now: float | None = None
    ) -> bool:
        """A task of a run finished: the gates waiting only for it are finished, and release
        at the first reading sent after now."""
        now = time.time() if now is None else now
        changed = False
        for reservation in self.reservations.values():
            if (reservation.dag_id, reservation.run_id) != (dag_id, run_id):
                continue
            if task_id in reservation.waiting_for:
                reservation.waiting_for.remove(task_id)
                changed = True
                if not reservation.waiting_for and reservation.finished_at is None:
                    reservation.finished_at = now
        return changed

    def run_ended(self, dag_id: str, run_id: str, now: float | None = None) -> bool:
        """A DAG run ended: every reservation its gates made is finished, and releases at the
        first reading sent after now."""
        now = time.time() if now is None else now
        changed = False
        for reservation in self.reservations.values():
            ours = (reservation.dag_id, reservation.run_id) == (dag_id, run_id)
            if ours and reservation.finished_at is None:
                reservation.finished_at = now
                changed = True
        return changed

    def to_json(self) -> str:
        return json.dumps(
            {
                "seen_used": self.seen_used,
                "seen_at": self.seen_at,
                "reservations": [asdict(r) for r in self.reservations.values()],
            }
        )

    @classmethod
    def from_json(cls, text: object) -> Ledger:
        """Read a stored ledger; anything unreadable (hand-edited, another version) is an empty
        ledger and a warning: a broken Variable must not stop every gate of a connection."""
        if text is None or text == "":
            return cls()
        try:
            data: Any = json.loads(text) if isinstance(text, str) else text
            seen = data.get("seen_used")
            seen_at = data.get("seen_at")
            ledger = cls(
                None if seen is None else _credits(seen),
                seen_at=None if seen_at is None else float(seen_at),
            )
            for item in data.get("reservations", []):
                reservation = Reservation(
                    holder=str(item["holder"]),
                    credits=_credits(item["credits"]),
                    made_at=float(item["made_at"]),
                    expires_at=float(item["expires_at"]),
                    dag_id=str(item.get("dag_id", "")),
                    run_id=str(item.get("run_id", "")),
                    waiting_for=[str(t) for t in item.get("waiting_for", [])],
                    finished_at=(
                        None if item.get("finished_at") is None else float(item["finished_at"])
                    ),
                )
                ledger.reservations[reservation.holder] = reservation
            return ledger
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            log.warning(
                "Ignoring an unreadable credit reservation ledger (%s): %.200r", error, text
            )
            return cls()


def _credits(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"credits must be a number, got {value!r}")
    if not 0 <= value <= MAX_CREDITS:
        raise ValueError(f"credits out of range: {value!r}")
    return float(value)


class LedgerStore(Protocol):
    """Where ledgers are kept between processes."""

    def load(self, conn_id: str) -> Ledger: ...

    def save(self, conn_id: str, ledger: Ledger) -> None: ...


class VariableStore:
    """Ledgers in Airflow Variables, through the Task SDK (task processes and the triggerer;
    the triggerer calls it on a worker thread, see :func:`aload` / :func:`asave`)."""

    def load(self, conn_id: str) -> Ledger:
        from airflow.sdk import Variable

        return Ledger.from_json(Variable.get(variable_key(conn_id), default=None))

    def save(self, conn_id: str, ledger: Ledger) -> None:
        from airflow.sdk import Variable

        Variable.set(variable_key(conn_id), ledger.to_json())


def update_ledger(
    store: LedgerStore,
    conn_id: str,
    change: Callable[[Ledger], bool],
    *,
    delay: float,
    clock: Callable[[], float] = time.monotonic,
) -> Ledger | None:
    """Read ``conn_id``'s ledger, apply ``change`` (True: it changed the ledger) and write it
    back, on a read younger than :func:`read_bound` when the write starts. ``change`` runs again
    on every fresh read, so it must decide from the ledger it is given.

    :returns: the ledger as written (or as read, when ``change`` left it alone); ``None`` when
        every read took too long, and nothing was written.
    :raises Exception: whatever the store raises.
    """
    for _ in range(WRITE_ATTEMPTS):
        started = clock()
        ledger = store.load(conn_id)
        if not change(ledger):
            return ledger
        if read_too_old(conn_id, clock() - started, delay):
            continue
        store.save(conn_id, ledger)
        written_too_late(conn_id, clock() - started, delay)
        return ledger
    return None


def confirmed(
    store: LedgerStore,
    conn_id: str,
    holder: str,
    *,
    delay: float,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Wait ``delay`` seconds after ``holder`` wrote its reservation, then read the ledger: True
    when the reservation is still there, False when a concurrent write dropped it (or the
    ledger cannot be read: the gate decides again rather than pass unconfirmed)."""
    if delay <= 0:
        return True
    sleep(delay)
    try:
        return holder in store.load(conn_id).reservations
    except Exception as error:
        log.warning(
            "Could not read the credit reservations of connection %r to confirm %s: %s",
            conn_id,
            holder,
            error,
        )
        return False


async def aload(store: LedgerStore, conn_id: str) -> Ledger:
    """:meth:`LedgerStore.load` off the event loop: the sync SDK call messages the supervisor,
    which must not block the loop (Airflow 3.2 and 3.3 both accept it from a thread)."""
    from asgiref.sync import sync_to_async

    return await sync_to_async(store.load, thread_sensitive=False)(conn_id)


async def asave(store: LedgerStore, conn_id: str, ledger: Ledger) -> None:
    """:meth:`LedgerStore.save` off the event loop."""
    from asgiref.sync import sync_to_async

    await sync_to_async(store.save, thread_sensitive=False)(conn_id, ledger)


def whole_credits(credits: float) -> float:
    """Credits for XCom: ``5000.0`` as ``5000``; fractions stay."""
    return int(credits) if float(credits).is_integer() else credits


def figure(credits: float) -> str:
    """Credits for log lines: ``5,000``."""
    if float(credits).is_integer():
        return f"{int(credits):,}"
    return f"{credits:,.2f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Claim:
    """Who a gate is, for the reservation it makes when it passes (trigger kwargs: primitives).

    :param holder: the gate's task instance (:func:`holder_id`).
    :param dag_id: its DAG.
    :param run_id: its DAG run: the reservation ends when the run does.
    :param waiting_for: the task ids directly downstream of the gate: when each has finished,
        the reservation ends.
    :param timeout: seconds after which the reservation ends anyway.
    """

    holder: str
    dag_id: str
    run_id: str
    waiting_for: tuple[str, ...] = ()
    timeout: float = DEFAULT_RESERVATION_TIMEOUT

    def to_kwargs(self) -> dict[str, Any]:
        return {**asdict(self), "waiting_for": list(self.waiting_for)}

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> Claim:
        return cls(
            holder=str(kwargs["holder"]),
            dag_id=str(kwargs["dag_id"]),
            run_id=str(kwargs["run_id"]),
            waiting_for=tuple(str(t) for t in kwargs.get("waiting_for", ())),
            timeout=float(kwargs.get("timeout", DEFAULT_RESERVATION_TIMEOUT)),
        )

    def reserve_in(self, ledger: Ledger, credits: float) -> Reservation:
        return ledger.reserve(
            self.holder,
            credits,
            timeout=self.timeout,
            dag_id=self.dag_id,
            run_id=self.run_id,
            waiting_for=self.waiting_for,
        )
