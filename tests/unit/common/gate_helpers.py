"""Helpers for driving credit-gate triggers in an event loop, and a misbehaving server."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from airflow_provider_coinstats.triggers.coinstats import CreditBudgetTrigger

CREDITS = "/usage/credits"


def trigger(**kwargs: Any) -> CreditBudgetTrigger:
    kwargs.setdefault("coinstats_conn_id", "coinstats_default")
    kwargs.setdefault("poke_interval", 0.1)
    return CreditBudgetTrigger(**kwargs)


async def fire(gate: CreditBudgetTrigger, *, deadline: float = 120.0) -> dict[str, Any]:
    """Run the trigger like the triggerer does: to the end, and it must fire exactly once
    (within ``deadline`` seconds, generous on purpose, so that a hang fails the test)."""

    async def events_of_run() -> list[Any]:
        return [event.payload async for event in gate.run()]

    events = await asyncio.wait_for(events_of_run(), deadline)
    assert len(events) == 1, events
    payload: dict[str, Any] = events[0]
    return payload


async def until(condition: Callable[[], bool], *, deadline: float = 30.0) -> None:
    """Return once ``condition`` holds (checked every 10 ms); fail the test after ``deadline``
    seconds, generous on purpose: the machine may be loaded."""
    give_up = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError("condition never held")
        await asyncio.sleep(0.01)


async def when(condition: Callable[[], bool], then: Callable[[], object]) -> None:
    """Do ``then`` once ``condition`` holds."""
    await until(condition)
    then()


class TrickleServer:
    """A ``/usage/credits`` server on 127.0.0.1 that sends its headers, then one body byte
    every ``every`` seconds until stopped, and counts requests and the most in flight at once.

    :param every: seconds between two body bytes.
    """

    def __init__(self, every: float = 0.2) -> None:
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._started()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    while not server.stopped.wait(every):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                except OSError:
                    pass  # the client hung up
                finally:
                    server._finished()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def _started(self) -> None:
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _finished(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def __enter__(self) -> TrickleServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """End every trickle (the clients see a cut-off body) and stop serving."""
        self.stopped.set()
        self._http.shutdown()
        self._http.server_close()


class BodyServer:
    """A ``/usage/credits`` server on 127.0.0.1 that answers 200 with the given bodies in turn,
    repeating the last one, and counts requests.

    :param bodies: raw JSON bodies (bytes, so that one can hold a key twice).
    """

    def __init__(self, *bodies: bytes) -> None:
        self._bodies = list(bodies)
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = server._next()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def _next(self) -> bytes:
        self.requests += 1
        return self._bodies.pop(0) if len(self._bodies) > 1 else self._bodies[0]

    def __enter__(self) -> BodyServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._http.shutdown()
        self._http.server_close()


def credits_body(total: float, used: float, remaining: float, plan: str = "PRO") -> bytes:
    return (
        f'{{"totalCredits": {total}, "usedCredits": {used}, "remainingCredits": {remaining}, '
        f'"subscription": "{plan}"}}'
    ).encode()


#: The four readings of issue 9 item 4 that once opened a gate needing 50 credits.
INCONSISTENT_BODIES = {
    "remaining above total": credits_body(100, 100, 1_000_000),
    "used + remaining above total": credits_body(100_000, 100_000, 55_000),
    "negative used": credits_body(100_000, -45_000, 55_000),
    "remaining twice": b'{"totalCredits": 100000, "usedCredits": 99990, "remainingCredits": 10, '
    b'"remainingCredits": 1000000, "subscription": "PRO"}',
}
