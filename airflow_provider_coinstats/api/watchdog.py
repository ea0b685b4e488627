"""A deadline on the wait for a response's status line and headers.

A socket timeout bounds each read, not their sum: a server that sends its headers one byte at a
time, each within the timeout, holds ``http.client`` in its header loop for as long as it likes,
and that loop runs inside requests, out of the client's reach. The client reads the *body* in its
own loop against the attempt's deadline; this module covers the part before it.

:class:`DeadlineAdapter` is a ``requests`` adapter whose connections arm a timer while they wait
for the response head. When the deadline of the current attempt (set by the calling thread with
:func:`attempt_deadline`) passes first, the timer shuts the socket down, the pending read fails at
once, and the client, seeing its deadline passed, reports a timeout.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()


@contextlib.contextmanager
def attempt_deadline(deadline: float) -> Iterator[None]:
    """Bound every response head this thread waits for by ``deadline`` (``time.monotonic``)."""
    previous = getattr(_current, "deadline", None)
    _current.deadline = deadline
    try:
        yield
    finally:
        _current.deadline = previous


def _shut(sock: socket.socket) -> None:
    # shutdown, not close: it wakes a recv blocked in another thread; the pool closes the rest.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _HeadDeadline:
    """Mixin for urllib3 connections: ``getresponse`` under a timer that ends at the deadline."""

    sock: socket.socket | None

    def getresponse(self) -> Any:
        deadline: float | None = getattr(_current, "deadline", None)
        sock = self.sock
        if deadline is None or sock is None:
            return super().getresponse()  # type: ignore[misc]
        timer = threading.Timer(max(0.0, deadline - time.monotonic()), _shut, (sock,))
        timer.daemon = True
        timer.start()
        try:
            return super().getresponse()  # type: ignore[misc]
        finally:
            timer.cancel()


class _HTTPConnection(_HeadDeadline, HTTPConnection):
    pass


class _HTTPSConnection(_HeadDeadline, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections honour :func:`attempt_deadline`, proxied or not."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS managers bring pools of their own
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager
