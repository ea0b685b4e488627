"""Shared credit polling: every trigger in one triggerer process that watches the same
connection shares one ``/usage/credits`` reading per interval.

Without it, N waiting gates cost N requests per interval, and a triggerer holding a thousand
gates would trip CoinStats' rate limit on its own. With it they cost one: a reading younger than
the asking trigger's interval is reused, and while a reading is in flight every other trigger
awaits that same request (single-flight) instead of sending its own. Each trigger still judges the
reading against its own budget.

The blocking client runs in a worker thread, so the event loop never waits on the network.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import pendulum

from airflow_provider_coinstats.api.client import CoinStatsClient
from airflow_provider_coinstats.api.exceptions import (
    CoinStatsAuthError,
    CoinStatsConfigError,
    CoinStatsError,
)
from airflow_provider_coinstats.api.models import CreditUsage

ClientFactory = Callable[[str], Awaitable[CoinStatsClient]]


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
        self._last: Reading | None = None
        self._in_flight: asyncio.Future[Reading] | None = None
        self._closed = False
        self.users = 0
        self.requests_sent = 0

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
            self.requests_sent += 1
            usage = await asyncio.to_thread(self._client.get_credit_usage)
        except CoinStatsError as exc:
            error = exc
            if isinstance(exc, CoinStatsAuthError):
                # Read the connection afresh next time, so a key fixed in Airflow is picked up
                # without restarting the triggerer.
                self._drop_client()
        finally:
            self._in_flight = None
        reading = Reading(usage, error, pendulum.now("UTC"), time.monotonic())
        self._last = reading
        if self._closed:
            self._drop_client()  # the last user left while this request was on the wire
        return reading

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
        """Close the client; one in use by a request in flight is closed when it returns."""
        self._closed = True
        if self._in_flight is None:
            self._drop_client()


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
    """Drop a user; the last one closes the poller, so a rotated key is read afresh next time."""
    poller.users -= 1
    if poller.users > 0:
        return
    for loop_pollers in list(_pollers.values()):
        if loop_pollers.get(poller.conn_id) is poller:
            del loop_pollers[poller.conn_id]
    poller.close()


def active_pollers() -> list[SharedCreditPoller]:
    """Every poller still in use, in any loop (for tests and diagnostics)."""
    return [poller for loop_pollers in _pollers.values() for poller in loop_pollers.values()]
