"""Misbehaving HTTP servers on 127.0.0.1, written at the socket level, for the client's hardening
tests and ``bench/fault_matrix.py``.

A :class:`HostileServer` reads each request's head, counts it, and hands the connection to a
*behaviour*: a function that writes whatever bytes it likes (or nothing) until it is done or the
client hangs up. Every connection is closed afterwards, and the server counts the ones still open,
so a test can prove the client dropped a connection it gave up on.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

#: A behaviour writes the answer to one request. ``request`` is the request head as received.
Behaviour = Callable[["Wire", bytes], None]


class Wire:
    """The server side of one connection, as a behaviour sees it."""

    def __init__(self, conn: socket.socket, stopped: threading.Event) -> None:
        self._conn = conn
        self.stopped = stopped
        self.hung_up = False

    def send(self, data: bytes) -> bool:
        """Send ``data``; False once the client has hung up (or the server stops)."""
        if self.hung_up or self.stopped.is_set():
            return False
        try:
            self._conn.sendall(data)
        except OSError:
            self.hung_up = True
        return not self.hung_up

    def wait_for_hang_up(self) -> None:
        """Block until the client closes its side (or the server stops), reading nothing."""
        self._conn.settimeout(0.2)  # recv wakes up to notice stop()
        while not self.stopped.is_set():
            try:
                if self._conn.recv(1) == b"":
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        self.hung_up = True

    def pause(self, seconds: float) -> bool:
        """Sleep ``seconds`` (woken early if the server stops); False if it stopped."""
        return not self.stopped.wait(seconds)


class HostileServer:
    """A server on 127.0.0.1 that answers every request with ``behaviour``.

    :param behaviour: writes each answer; see :data:`Behaviour`.
    """

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[bytes] = []
        self.open_connections = 0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)  # accept() wakes up to notice stop()
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._listener.close()

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def wait_until_closed(self, timeout: float = 10.0) -> bool:
        """Whether every connection got closed (by the client hanging up) within ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.open_connections == 0:
                    return True
            time.sleep(0.05)
        return False

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.open_connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            with self._lock:
                self.requests.append(head)
            self.behaviour(Wire(conn, self._stopped), head)
        except OSError:
            pass
        finally:
            conn.close()
            with self._lock:
                self.open_connections -= 1


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} X", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join([*lines, "Connection: close", "", ""])).encode("latin-1")


def answer(
    status: int, body: bytes | str | Any = b"", headers: dict[str, str] | None = None
) -> Behaviour:
    """A complete answer; a body that is not bytes or str is sent as JSON."""
    if not isinstance(body, bytes | str):
        body = json.dumps(body)
    raw = body.encode() if isinstance(body, str) else body

    def behave(wire: Wire, request: bytes) -> None:
        fields = {"Content-Type": "application/json", "Content-Length": str(len(raw))}
        wire.send(_head(status, {**fields, **(headers or {})}) + raw)

    return behave


def trickle(body: bytes, interval: float = 0.5, status: int = 200) -> Behaviour:
    """Headers at once, then the body one byte every ``interval`` seconds."""

    def behave(wire: Wire, request: bytes) -> None:
        wire.send(_head(status, {"Content-Length": str(len(body))}))
        for index in range(len(body)):
            if not wire.pause(interval) or not wire.send(body[index : index + 1]):
                return

    return behave


def slow_head(body: bytes, interval: float = 0.3) -> Behaviour:
    """The status line and headers one byte every ``interval`` seconds (each byte well within a
    socket timeout), then the body at once."""

    def behave(wire: Wire, request: bytes) -> None:
        head = _head(200, {"Content-Length": str(len(body))})
        for index in range(len(head)):
            if not wire.pause(interval) or not wire.send(head[index : index + 1]):
                return
        wire.send(body)

    return behave


def endless(status: int = 200) -> Behaviour:
    """A chunked body that never ends: 64 KB chunks of JSON-looking text until the client
    hangs up."""
    data = b"[" + b"0," * 32767 + b"0"
    chunk = f"{len(data):x}\r\n".encode() + data + b"\r\n"

    def behave(wire: Wire, request: bytes) -> None:
        wire.send(_head(status, {"Transfer-Encoding": "chunked"}))
        while wire.send(chunk):
            pass  # sendall blocks while the client does not read: no spinning

    return behave


def big_body(size: int, *, declared: bool = True) -> Behaviour:
    """``size`` bytes of zeros (Content-Length set when ``declared``, else the connection's close
    ends the body), written as fast as the client reads."""
    block = b"0" * 65536

    def behave(wire: Wire, request: bytes) -> None:
        headers = {"Content-Length": str(size)} if declared else {}
        if not wire.send(_head(200, headers)):
            return
        for _ in range(size // len(block)):
            if not wire.send(block):
                return

    return behave


@cache
def gzip_bomb_body(decoded_mib: int = 1024) -> bytes:
    """About 1 KB per MiB decoded: ``decoded_mib`` gzip members of 1 MiB of zeros each (one
    gzip stream may hold many members; urllib3 decodes them all)."""
    return gzip.compress(bytes(1 << 20), 9) * decoded_mib


def gzip_bomb(decoded_mib: int = 1024) -> Behaviour:
    """A 200 whose gzip body is ~1 MB on the wire and ``decoded_mib`` MiB decoded."""
    body = gzip_bomb_body(decoded_mib)

    def behave(wire: Wire, request: bytes) -> None:
        headers = {"Content-Encoding": "gzip", "Content-Length": str(len(body))}
        wire.send(_head(200, headers) + body)

    return behave


def silent() -> Behaviour:
    """Reads the request, then says nothing until the client gives up."""

    def behave(wire: Wire, request: bytes) -> None:
        wire.wait_for_hang_up()

    return behave


def hang_up() -> Behaviour:
    """Closes the connection without a byte of answer."""

    def behave(wire: Wire, request: bytes) -> None:
        return

    return behave


def cut_off() -> Behaviour:
    """Promises 500 bytes, sends 7, and closes."""

    def behave(wire: Wire, request: bytes) -> None:
        wire.send(_head(200, {"Content-Length": "500"}) + b'{"total')

    return behave


def not_http() -> Behaviour:
    """Answers with something that is not HTTP at all."""

    def behave(wire: Wire, request: bytes) -> None:
        wire.send(b"SSH-2.0-OpenSSH_9.6\r\n")

    return behave


def usage_body(**fields: Any) -> dict[str, Any]:
    """A /usage/credits body, with ``fields`` replacing the defaults."""
    body = {"totalCredits": 100, "usedCredits": 40, "remainingCredits": 60, "subscription": "PRO"}
    return {**body, **fields}


def nested(depth: int) -> str:
    """A JSON array nested ``depth`` levels deep: ``[[[...]]]``."""
    return "[" * depth + "]" * depth


def iter_chain(error: BaseException | None) -> Iterator[BaseException]:
    """``error`` and every exception chained to it (cause and context), each once."""
    pending, seen = [error], set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__cause__, current.__context__]
