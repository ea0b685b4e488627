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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import pendulum

from airflow_provider_coinstats.client import CoinStatsClient
from airflow_provider_coinstats.exceptions import CoinStatsConfigError, CoinStatsError
from airflow_provider_coinstats.models import CreditUsage

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
        try:
            if self._client is None:
                self._client = await self._build_client()
            self.requests_sent += 1
            usage: CreditUsage | None = await asyncio.to_thread(self._client.get_credit_usage)
            error: CoinStatsError | None = None
        except CoinStatsError as exc:
            usage, error = None, exc
        finally:
            self._in_flight = None
        reading = Reading(usage, error, pendulum.now("UTC"), time.monotonic())
        self._last = reading
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

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


# One poller per (event loop, connection): asyncio futures belong to the loop that made them.
_pollers: dict[tuple[int, str], SharedCreditPoller] = {}


def acquire_poller(conn_id: str, client_factory: ClientFactory) -> SharedCreditPoller:
    """The running loop's poller for ``conn_id``; pair every call with :func:`release_poller`."""
    key = (id(asyncio.get_running_loop()), conn_id)
    poller = _pollers.get(key)
    if poller is None:
        poller = _pollers[key] = SharedCreditPoller(conn_id, client_factory)
    poller.users += 1
    return poller


def release_poller(poller: SharedCreditPoller) -> None:
    """Drop a user; the last one closes the poller, so a rotated key is read afresh next time."""
    poller.users -= 1
    if poller.users <= 0:
        for key, candidate in list(_pollers.items()):
            if candidate is poller:
                del _pollers[key]
        poller.close()
