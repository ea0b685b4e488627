"""Shared credit polling: every trigger in one triggerer process that watches the same
connection shares one ``/usage/credits`` reading per interval.

Without it, N waiting gates cost N requests per interval, and a triggerer holding a thousand
gates would trip CoinStats' rate limit on its own. With it they cost one: a reading younger than
the asking trigger's interval is reused, and while a reading is in flight every other trigger
awaits that same request (single-flight) instead of sending its own. Each trigger still judges the
reading against its own budget.

Isolation: the blocking client runs in a thread of the connection's own one-thread executor,
never in the event loop's default executor, which every trigger of the triggerer shares. So a
connection whose server trickles or hangs holds one thread at most, and delays no other
connection. A request in flight outlives the triggers that wait for it: the poller stays
registered until the request returns, so a trigger cancelled mid-request, or one arriving after it,
joins that request instead of starting a second one beside it. Each check is a single attempt
(``retry=False``): the trigger's backoff between checks is the only retry loop.

Latency: a trigger asks for a reading newer than the one it last judged
(:meth:`SharedCreditPoller.read_reading` with ``newer_than``) and sleeps until that reading is
one interval old, so every trigger of the connection wakes on the poller's schedule: the first
to wake takes the reading, the others share it, and no decision uses a reading older than the
interval.

Reservations: with at least one reserving user, the poller also keeps the connection's
reservation ledger (:mod:`airflow_provider_coinstats.common.reservations`) in memory. Each
reading first merges the stored ledger (another process's reservations and releases) and
settles it against the new ``usedCredits``; triggers then decide and reserve on that in-memory
ledger without an ``await`` in between, so among one triggerer's gates the reservations are
exact. Each new reservation is written back at once (:meth:`SharedCreditPoller.reserved`), on
a fresh read only, and a gate passes once it survived the confirmation
(:meth:`SharedCreditPoller.confirm`), which makes gates in other processes exact too.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import pendulum

from airflow_provider_coinstats.api.client import CoinStatsClient
from airflow_provider_coinstats.api.exceptions import (
    CoinStatsAuthError,
    CoinStatsConfigError,
    CoinStatsError,
    CoinStatsTimeoutError,
)
from airflow_provider_coinstats.api.models import CreditUsage
from airflow_provider_coinstats.common.readings import arecord_reading
from airflow_provider_coinstats.common.reservations import (
    WRITE_ATTEMPTS,
    Ledger,
    LedgerStore,
    VariableStore,
    aload,
    asave,
    confirm_delay,
    read_too_old,
    written_too_late,
)

ClientFactory = Callable[[str], Awaitable[CoinStatsClient]]

_log = logging.getLogger(__name__)

#: Seconds a reading waits beyond the client's own deadline for one attempt, should the client
#: ever overrun it: the reading then fails with a timeout, and the trigger backs off.
DEADLINE_MARGIN = 5.0


@dataclass(frozen=True)
class Reading:
    """One outcome of ``/usage/credits``: the usage, or the error it raised."""

    usage: CreditUsage | None
    error: CoinStatsError | None
    checked_at: datetime
    monotonic_at: float


@dataclass(frozen=True)
class _Write:
    """What became of one reservation's write: ``written`` at monotonic time ``at``; the store
    ``unreachable`` (the gate decides on this triggerer's own); or ``stale`` (no read was fresh
    enough to write on: the gate decides again)."""

    outcome: Literal["written", "unreachable", "stale"]
    at: float = 0.0


class SharedCreditPoller:
    """Single-flight, briefly cached credit readings for one connection in one event loop.

    :param conn_id: the CoinStats connection.
    :param client_factory: async builder of the client (the hook's, in production).
    """

    def __init__(self, conn_id: str, client_factory: ClientFactory) -> None:
        self.conn_id = conn_id
        self._client_factory = client_factory
        self._client: CoinStatsClient | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._last: Reading | None = None
        self._in_flight: asyncio.Future[Reading] | None = None  # a reading being taken
        self._request: asyncio.Future[CreditUsage] | None = None  # its HTTP request
        self._request_sent_at = 0.0  # epoch seconds the last request went out
        self.users = 0
        self.requests_sent = 0
        # The reservation ledger (used only while a reserving trigger is registered).
        self.ledger = Ledger()
        self.ledger_users = 0
        self.ledger_store: LedgerStore = VariableStore()
        self._unsynced: set[str] = set()  # reserved here, not written back yet
        self._writes: dict[str, asyncio.Future[_Write]] = {}  # each reservation's write
        self._stored_read: tuple[float, asyncio.Future[Ledger]] | None = None  # for confirms
        self.confirm_delay = confirm_delay()  # [coinstats] reservation_confirm_delay
        self._sync_lock: asyncio.Lock | None = None
        self._sync_task: asyncio.Future[None] | None = None

    @property
    def busy(self) -> bool:
        """A reading is being taken, a request is still on the wire, or a ledger write is due."""
        return (
            self._in_flight is not None or self._request is not None or self._sync_task is not None
        )

    async def read(self, max_age: float) -> tuple[CreditUsage, datetime]:
        """A reading no older than ``max_age`` seconds; raises the reading's error, if any."""
        reading = await self.read_reading(max_age)
        assert reading.usage is not None
        return reading.usage, reading.checked_at

    async def read_reading(self, max_age: float, newer_than: float | None = None) -> Reading:
        """A successful reading no older than ``max_age`` seconds and taken after the monotonic
        time ``newer_than`` (the reading the caller judged last); raises the reading's error."""
        reading = self._last
        if (
            reading is None
            or time.monotonic() - reading.monotonic_at >= max_age
            or (newer_than is not None and reading.monotonic_at <= newer_than)
        ):
            if self._in_flight is None:
                self._in_flight = asyncio.ensure_future(self._fetch())
            # Shielded: one waiting trigger being cancelled must not cancel the others' read.
            reading = await asyncio.shield(self._in_flight)
        if reading.error is not None:
            raise reading.error
        return reading

    def reserved(self, holder: str) -> None:
        """A trigger reserved in :attr:`ledger`: write the ledger back soon (one write for all
        the triggers that reserved on the same reading); :meth:`confirm` says if it held."""
        self._unsynced.add(holder)
        self._writes[holder] = asyncio.get_running_loop().create_future()
        if self._sync_task is None:
            self._sync_task = asyncio.ensure_future(self._sync_ledger(None))

    async def confirm(self, holder: str) -> bool:
        """Whether ``holder``'s reservation stands: written, and still in the stored ledger
        :attr:`confirm_delay` seconds later (a concurrent write in another process did not drop
        it). True also when the store cannot be reached at all: the gate then decides on this
        triggerer's ledger alone, as the warning said."""
        try:
            write = await asyncio.shield(self._writes[holder])
        finally:
            self._writes.pop(holder, None)
        if write.outcome != "written" or self.confirm_delay <= 0:
            return write.outcome != "stale"
        not_before = write.at + self.confirm_delay
        await asyncio.sleep(max(0.0, not_before - time.monotonic()))
        try:
            stored = await self._read_stored(not_before)
        except Exception as error:
            _log.warning(
                "Could not read the credit reservations of connection %r to confirm %s: %s",
                self.conn_id,
                holder,
                error,
            )
            return False
        if holder in stored.reservations:
            return True
        if holder not in self._unsynced:
            self.ledger.reservations.pop(holder, None)
        return False

    async def _read_stored(self, not_before: float) -> Ledger:
        """The stored ledger, read at or after monotonic ``not_before``: the triggers confirming
        the same write share one read."""
        if self._stored_read is None or self._stored_read[0] < not_before:
            read = asyncio.ensure_future(aload(self.ledger_store, self.conn_id))
            self._stored_read = (time.monotonic(), read)
        return await asyncio.shield(self._stored_read[1])

    def _settle_writes(self, holders: set[str], write: _Write) -> None:
        for holder in holders:
            future = self._writes.get(holder)
            if future is not None and not future.done():
                future.set_result(write)

    async def _sync_ledger(self, usage: CreditUsage | None, read_at: float | None = None) -> None:
        """Merge the stored ledger with this process's unsaved reservations, settle it against
        ``usage`` and write it back, on a fresh read only (see
        :mod:`~airflow_provider_coinstats.common.reservations`). A store that cannot be read
        keeps the in-memory ledger and writes nothing (and says so): the reading itself is
        still good."""
        if self._sync_lock is None:
            self._sync_lock = asyncio.Lock()
        try:
            async with self._sync_lock:
                await self._merge_and_write(usage, read_at)
        finally:
            if usage is None:
                self._sync_task = None
                if self._unsynced:  # reserved while we wrote: write again
                    self._sync_task = asyncio.ensure_future(self._sync_ledger(None))
                self._discard_if_unused()

    async def _merge_and_write(self, usage: CreditUsage | None, read_at: float | None) -> None:
        for _ in range(WRITE_ATTEMPTS):
            started = time.monotonic()
            try:
                stored = await aload(self.ledger_store, self.conn_id)
            except Exception as error:
                _log.warning(
                    "Could not read the credit reservations of connection %r (%s); "
                    "deciding on this triggerer's own",
                    self.conn_id,
                    error,
                )
                if usage is not None:
                    self.ledger.settle(usage.used_credits, read_at=read_at)
                self._settle_writes(self._unsynced, _Write("unreachable"))
                self._unsynced.clear()
                return
            if read_too_old(self.conn_id, time.monotonic() - started, self.confirm_delay):
                continue
            # No await from here to the write's start: what triggers reserve meanwhile is in
            # self.ledger and _unsynced, and goes with the next write.
            holders = set(self._unsynced)
            self._unsynced.clear()
            for holder in holders:
                if holder in self.ledger.reservations:
                    stored.reservations[holder] = self.ledger.reservations[holder]
            if stored.seen_used is None:
                stored.seen_used = self.ledger.seen_used
            self.ledger = stored
            dirty = bool(holders)
            if usage is not None:
                dirty = self.ledger.settle(usage.used_credits, read_at=read_at) or dirty
            if not dirty:
                return
            try:
                await asave(self.ledger_store, self.conn_id, self.ledger)
            except Exception as error:
                _log.warning(
                    "Could not store the credit reservations of connection %r: %s",
                    self.conn_id,
                    error,
                )
                self._settle_writes(holders, _Write("unreachable"))
                return
            written_too_late(self.conn_id, time.monotonic() - started, self.confirm_delay)
            self._settle_writes(holders, _Write("written", time.monotonic()))
            return
        # Every read was too slow: nothing written. The gates that reserved decide again.
        if usage is not None:
            self.ledger.settle(usage.used_credits, read_at=read_at)
        for holder in self._unsynced:
            self.ledger.reservations.pop(holder, None)
        self._settle_writes(self._unsynced, _Write("stale"))
        self._unsynced.clear()

    async def _fetch(self) -> Reading:
        usage: CreditUsage | None = None
        error: CoinStatsError | None = None
        try:
            if self._client is None:
                self._client = await self._build_client()
            usage = await self._ask(self._client)
            if self.ledger_users > 0:
                # When the request went out, not when it came back: a reservation whose work
                # finished in between must not end on a figure that may predate its spend.
                await self._sync_ledger(usage, read_at=self._request_sent_at)
        except CoinStatsError as exc:
            error = exc
            if isinstance(exc, CoinStatsAuthError):
                # Read the connection afresh next time, so a key fixed in Airflow is picked up
                # without restarting the triggerer.
                self._drop_client()
        finally:
            self._in_flight = None
            self._discard_if_unused()  # the last user may have left while we waited
        reading = Reading(usage, error, pendulum.now("UTC"), time.monotonic())
        self._last = reading
        if usage is not None:  # feeds the readings history; writes only when one is due
            await arecord_reading(self.conn_id, usage, reading.checked_at)
        return reading

    async def _ask(self, client: CoinStatsClient) -> CreditUsage:
        """One attempt on the connection's own thread, awaited up to the client's deadline plus
        a margin. A request still on the wire after that is never sent a second time beside
        itself: the next reading waits for the same request."""
        if self._request is None:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix=f"coinstats-credits-{self.conn_id}"
                )
            self.requests_sent += 1
            self._request_sent_at = pendulum.now("UTC").timestamp()
            self._request = asyncio.get_running_loop().run_in_executor(
                self._executor, functools.partial(client.get_credit_usage, retry=False)
            )
            self._request.add_done_callback(self._request_done)
        bound = min(client.config.timeout, client.config.total_timeout) + DEADLINE_MARGIN
        try:
            return await asyncio.wait_for(asyncio.shield(self._request), bound)
        except TimeoutError:
            raise CoinStatsTimeoutError(
                f"CoinStats did not answer GET /usage/credits for connection {self.conn_id!r} "
                f"within {bound:g} s; the next check waits for the same request"
            ) from None

    def _request_done(self, request: asyncio.Future[CreditUsage]) -> None:
        self._request = None
        if not request.cancelled():
            request.exception()  # retrieved, should no reading wait for it any more
        self._discard_if_unused()

    def _discard_if_unused(self) -> None:
        if self.users == 0 and not self.busy:
            _discard(self)

    async def _build_client(self) -> CoinStatsClient:
        try:
            return await self._client_factory(self.conn_id)
        except CoinStatsError:
            raise
        except Exception as exc:  # e.g. AirflowNotFoundException: say which connection
            raise CoinStatsConfigError(
                f"Could not load CoinStats connection {self.conn_id!r}: {exc}"
            ) from exc

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def close(self) -> None:
        """Close the client and the poller's thread; only called with no request in flight."""
        self._drop_client()
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)


# One poller per (event loop, connection): asyncio futures belong to the loop that made them.
# Keyed by the loop object itself, weakly, so a closed loop's pollers go with it and a new loop
# can never inherit them (an id() may be reused).
_pollers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, SharedCreditPoller]] = (
    weakref.WeakKeyDictionary()
)


def acquire_poller(
    conn_id: str, client_factory: ClientFactory, *, reserving: bool = False
) -> SharedCreditPoller:
    """The running loop's poller for ``conn_id``; pair every call with :func:`release_poller`
    (with the same ``reserving``: a reserving user makes the poller keep the ledger)."""
    loop_pollers = _pollers.setdefault(asyncio.get_running_loop(), {})
    poller = loop_pollers.get(conn_id)
    if poller is None:
        poller = loop_pollers[conn_id] = SharedCreditPoller(conn_id, client_factory)
    poller.users += 1
    poller.ledger_users += reserving
    return poller


def release_poller(poller: SharedCreditPoller, *, reserving: bool = False) -> None:
    """Drop a user. The last one closes the poller, so a rotated key is read afresh next time;
    with a request in flight the poller stays (and serves whoever comes next) until it returns."""
    poller.users -= 1
    poller.ledger_users -= reserving
    poller._discard_if_unused()


def _discard(poller: SharedCreditPoller) -> None:
    for loop_pollers in list(_pollers.values()):
        if loop_pollers.get(poller.conn_id) is poller:
            del loop_pollers[poller.conn_id]
    poller.close()


def active_pollers() -> list[SharedCreditPoller]:
    """Every poller still registered, in any loop (for tests and diagnostics)."""
    return [poller for loop_pollers in _pollers.values() for poller in loop_pollers.values()]
