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
"""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

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

ClientFactory = Callable[[str], Awaitable[CoinStatsClient]]

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
        self.users = 0
        self.requests_sent = 0

    @property
    def busy(self) -> bool:
        """A reading is being taken, or a request is still on the wire."""
        return self._in_flight is not None or self._request is not None

    async def read(self, max_age: float) -> tuple[CreditUsage, datetime]:
        """A reading no older than ``max_age`` seconds; raises the reading's error, if any."""
        reading = self._last
        if reading is None or time.monotonic() - reading.monotonic_at >= max_age:
            if self._in_flight is None:
                self._in_flight = asyncio.ensure_future(self._fetch())
            # Shielded: one waiting trigger being cancelled must not cancel the others' read.
            reading = await asyncio.shield(self._in_flight)
        if reading.error is not None:
            raise reading.error
        assert reading.usage is not None
        return reading.usage, reading.checked_at

    async def _fetch(self) -> Reading:
        usage: CreditUsage | None = None
        error: CoinStatsError | None = None
        try:
            if self._client is None:
                self._client = await self._build_client()
            usage = await self._ask(self._client)
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


def acquire_poller(conn_id: str, client_factory: ClientFactory) -> SharedCreditPoller:
    """The running loop's poller for ``conn_id``; pair every call with :func:`release_poller`."""
    loop_pollers = _pollers.setdefault(asyncio.get_running_loop(), {})
    poller = loop_pollers.get(conn_id)
    if poller is None:
        poller = loop_pollers[conn_id] = SharedCreditPoller(conn_id, client_factory)
    poller.users += 1
    return poller


def release_poller(poller: SharedCreditPoller) -> None:
    """Drop a user. The last one closes the poller, so a rotated key is read afresh next time;
    with a request in flight the poller stays (and serves whoever comes next) until it returns."""
    poller.users -= 1
    poller._discard_if_unused()


def _discard(poller: SharedCreditPoller) -> None:
    for loop_pollers in list(_pollers.values()):
        if loop_pollers.get(poller.conn_id) is poller:
            del loop_pollers[poller.conn_id]
    poller.close()


def active_pollers() -> list[SharedCreditPoller]:
    """Every poller still registered, in any loop (for tests and diagnostics)."""
    return [poller for loop_pollers in _pollers.values() for poller in loop_pollers.values()]
