"""The sandbox's HTTP server on 127.0.0.1, and :class:`Sandbox`, its Python API.

Every API request goes through the same steps, in this order:

1. a pending fault for its path, if any, answers instead (``delay`` waits, then carries on);
2. the rate limit (429 "Rate limit exceeded");
3. the API key, from ``X-API-KEY`` or ``Authorization: Bearer`` (401, CoinStats' exact body);
4. the endpoint must be in the price list (404 otherwise);
5. the parameters must follow the spec's rules (:mod:`.params`; 400 naming the parameter);
6. the cost, from :func:`~airflow_provider_coinstats.credits.estimate_credits`, must fit in the
   remaining credits (429 "Insufficient credits for this request");
7. the endpoint's answer; a 400, 403 or 404 from it is refunded.

Only a 200 without a fault is charged. Paths work with and without the ``/v1`` prefix.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import socket
import socketserver
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from airflow_provider_coinstats.credits.estimates import (
    estimate_credits,
    normalize_path,
    resolve_endpoint,
)
from airflow_provider_coinstats.testing.sandbox import params
from airflow_provider_coinstats.testing.sandbox.accounts import SYNC_SECONDS, Accounts
from airflow_provider_coinstats.testing.sandbox.clock import SandboxClock
from airflow_provider_coinstats.testing.sandbox.control import PREFIX, handle_control
from airflow_provider_coinstats.testing.sandbox.endpoints import ApiError, ApiRequest, World, answer
from airflow_provider_coinstats.testing.sandbox.faults import Fault, FaultQueue
from airflow_provider_coinstats.testing.sandbox.responses import (
    INVALID_KEY_BODY,
    Reply,
    error_reply,
    fault_reply,
    json_reply,
)
from airflow_provider_coinstats.testing.sandbox.state import (
    Account,
    RateLimiter,
    RequestLog,
    SandboxCore,
    make_record,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from types import TracebackType

    from airflow_provider_coinstats.api.models import Credits
    from airflow_provider_coinstats.credits.estimates import Endpoint
    from airflow_provider_coinstats.testing.sandbox.state import RequestRecord

HOST = "127.0.0.1"
USAGE_ENDPOINT = "GET /usage/credits"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # stop() must not wait for clients that keep idle keep-alive connections open.
    block_on_close = False
    # socketserver's default backlog of 5 drops the connects of a burst of clients, which the
    # kernel then retries only after 1 s, 3 s, 7 s ...: stalls that look like slow answers.
    request_queue_size = 256

    def __init__(self, port: int, core: SandboxCore) -> None:
        self.core = core
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._to_reset: set[socket.socket] = set()
        super().__init__((HOST, port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind also calls socket.getfqdn(), a reverse DNS lookup that can
        # stall for seconds on a badly configured machine; the name is known anyway.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = HOST, self.server_address[1]

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        # A client hanging up mid-request is routine here (timeouts, resets); anything else is
        # a sandbox bug worth the traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def process_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        if isinstance(request, socket.socket):
            with self._lock:
                self._open.add(request)
        super().process_request(request, client_address)

    def reset_on_close(self, connection: socket.socket) -> None:
        """Close ``connection`` with a TCP reset once its handler returns."""
        with self._lock:
            self._to_reset.add(connection)

    def shutdown_request(self, request: socket.socket | tuple[bytes, socket.socket]) -> None:
        if not isinstance(request, socket.socket):
            return super().shutdown_request(request)
        with self._lock:
            self._open.discard(request)
            reset = request in self._to_reset
            self._to_reset.discard(request)
        if reset:
            # Linger 0 turns close() into an RST: the client sees "connection reset by peer".
            request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_request(request)
        else:
            super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Cut every open connection, so a stopped sandbox answers nothing more."""
        with self._lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    server_version = "CoinStatsSandbox/1.0"
    timeout = 60  # seconds an idle keep-alive connection stays open
    # Headers and body go out in two writes; with Nagle on, the second waits ~40 ms for an ACK.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        try:
            self._handle()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its timeout fired)

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    def version_string(self) -> str:
        return self.server_version  # not the Python version

    def log_message(self, format: str, *args: object) -> None:
        """Silent: request lines may carry secrets, and tests want quiet output."""

    def _handle(self) -> None:
        try:
            raw_body = self._read_body()
        except ValueError as error:
            self.close_connection = True  # the stream is out of step; do not read on
            self._send(error_reply(400, str(error), urlsplit(self.path).path))
            return
        split = urlsplit(self.path)
        path = split.path or "/"
        if path.startswith(PREFIX):
            self._send(self._control(path, raw_body))
        else:
            self._api(path, _query(split.query), raw_body)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise ValueError("the sandbox needs a Content-Length, not a chunked body")
        raw = self.headers.get("Content-Length", "0").strip() or "0"
        if not raw.isdigit():
            raise ValueError(f"invalid Content-Length {raw!r}")
        length = int(raw)
        return self.rfile.read(length) if length else b""

    def _control(self, path: str, raw_body: bytes) -> Reply:
        if not ipaddress.ip_address(self.client_address[0]).is_loopback:
            return error_reply(403, "the sandbox control API answers loopback clients only", path)
        try:
            payload = json.loads(raw_body) if raw_body.strip() else None
            route = path[len(PREFIX) :].strip("/")
            return json_reply(200, handle_control(self.server.core, self.command, route, payload))
        except LookupError as error:
            return error_reply(404, str(error), path)
        except (ValueError, TypeError) as error:
            return error_reply(400, str(error), path)

    def _api(self, path: str, query: dict[str, str], raw_body: bytes) -> None:
        core = self.server.core
        api_path = normalize_path(path)
        endpoint = resolve_endpoint(self.command, api_path)
        authenticated = self._authenticated(core.api_key)
        fault = core.faults.take(api_path)

        def record(status: int | None, credits: Credits = 0) -> RequestRecord:
            return make_record(
                method=self.command,
                path=path,
                query=query,
                authenticated=authenticated,
                status=status,
                credits=credits,
                endpoint=endpoint.key if endpoint else None,
                fault=fault.kind if fault else None,
                secret=core.api_key,
            )

        # Log before answering: a client that reads the answer then the log must find it there.
        if fault is not None and fault.kind == "reset":
            core.log.add(record(None))
            self.server.reset_on_close(self.connection)
            self.close_connection = True
            return
        if fault is not None and fault.kind != "delay":
            reply = fault_reply(fault, path, core.account.usage())
            core.log.add(record(reply.status))
            self._send(reply)
            return
        if fault is not None and core.stopping.wait(fault.seconds):
            self.close_connection = True  # stopping: drop the delayed request
            return
        reply, credits = self._serve(path, api_path, endpoint, query, raw_body, authenticated)
        if fault is not None and credits:
            core.account.refund(credits)  # a faulted request is never charged
            credits = 0
        core.log.add(record(reply.status, credits))
        self._send(reply)

    def _serve(
        self,
        path: str,
        api_path: str,
        endpoint: Endpoint | None,
        query: dict[str, str],
        raw_body: bytes,
        authenticated: bool,
    ) -> tuple[Reply, Credits]:
        """Steps 2-7 of the module docstring: the reply and the credits charged."""
        core = self.server.core
        if not core.limiter.admit():
            return error_reply(429, "Rate limit exceeded", path), 0
        if not authenticated:
            return json_reply(401, INVALID_KEY_BODY), 0
        if endpoint is None:
            return error_reply(404, f"Cannot {self.command} {path}", path), 0
        try:
            body = json.loads(raw_body) if raw_body.strip() else None
        except ValueError:
            return error_reply(400, "the request body is not valid JSON", path), 0
        try:
            params.check(endpoint.key, endpoint.path_params, query, body)
        except ApiError as error:
            return error_reply(error.status, error.message, path), 0
        cost = estimate_credits(self.command, api_path, query, body)
        if not core.account.reserve(cost):
            return error_reply(429, "Insufficient credits for this request", path), 0
        payload: object
        try:
            if endpoint.key == USAGE_ENDPOINT:
                payload = core.account.usage()
            else:
                headers = {
                    name: self.headers[name]
                    for name in ("sharetoken", "passcode")
                    if name in self.headers
                }
                request = ApiRequest(endpoint.path_params, query, body, headers)
                world = World(core.accounts, lambda: str(core.account.usage()["subscription"]))
                payload = answer(endpoint.key, request, world)
        except ApiError as error:
            core.account.refund(cost)
            return error_reply(error.status, error.message, path), 0
        return json_reply(200, payload), cost

    def _authenticated(self, api_key: str) -> bool:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        offered = [
            self.headers.get("X-API-KEY"),
            token.strip() if scheme.lower() == "bearer" else None,
        ]
        # compare_digest: the time taken must not reveal how much of a guess was right.
        return any(
            key is not None and hmac.compare_digest(key.encode(), api_key.encode())
            for key in offered
        )

    def _send(self, reply: Reply) -> None:
        length = len(reply.body) if reply.declared_length is None else reply.declared_length
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(length))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)
        if length != len(reply.body):
            self.close_connection = True  # a cut-off body: the rest never comes


def _query(query_string: str) -> dict[str, str]:
    """Query parameters; a repeated one joined with commas, which is how CoinStats counts it."""
    joined: dict[str, str] = {}
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


class Sandbox:
    """An offline CoinStats API on ``http://127.0.0.1:<port>``, for tests and demos.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. Every method is safe to
    call from any thread while the server answers requests.

    :param api_key: the key requests must send (``X-API-KEY`` or ``Authorization: Bearer``).
    :param plan: the ``subscription`` that ``/usage/credits`` reports.
    :param total_credits: the period's credit limit.
    :param used_credits: credits already spent.
    :param port: TCP port on 127.0.0.1; 0 picks a free one.
    :param rate_limit_per_second: answer 429 past this many API requests a second; None: no limit.
    :param faults: faults pending from the start (see :class:`Fault`).
    :param seed: what the account data (portfolio ids, exchange holdings) derive from; the
        market data is the same for every seed.
    :param sync_seconds: how long a sync reads ``syncing``, in seconds of the sandbox clock.
    :param frozen_clock: start with the sandbox clock stopped (tests move it with
        :meth:`advance_clock`).
    """

    def __init__(
        self,
        api_key: str = "sandbox-key",
        plan: str = "PRO",
        total_credits: Credits = 100_000,
        used_credits: Credits = 45_000,
        port: int = 0,
        rate_limit_per_second: float | None = None,
        faults: Iterable[Fault] = (),
        seed: str | int = "sandbox",
        sync_seconds: float = SYNC_SECONDS,
        frozen_clock: bool = False,
    ) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key should be a non-empty string")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65_535:
            raise ValueError(f"port should be 0-65535, got {port!r}")
        self._port = port
        clock = SandboxClock(frozen=frozen_clock)
        self._core = SandboxCore(
            api_key=api_key,
            account=Account(total_credits, used_credits, plan),
            limiter=RateLimiter(rate_limit_per_second),
            log=RequestLog(),
            faults=FaultQueue(faults),
            clock=clock,
            accounts=Accounts(str(seed), clock, sync_seconds),
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        # No api_key: reprs end up in logs.
        where = self.url if self._server else "not running"
        return f"Sandbox({where}, {self.usage()['subscription']})"

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Sandbox:
        """Start serving (a no-op when already running); returns the sandbox."""
        if self._server is None:
            self._core.stopping.clear()
            self._server = _Server(self._port, self._core)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # how fast stop() is noticed
                name=f"coinstats-sandbox-{self._server.server_address[1]}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port: quick, and safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        self._core.stopping.set()  # cut delay faults short
        server.shutdown()
        server.drop_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("the sandbox is not running; call start() or use it in a with block")
        return f"http://{HOST}:{self._server.server_address[1]}"

    @property
    def api_key(self) -> str:
        return self._core.api_key

    def usage(self) -> dict[str, object]:
        """``{totalCredits, usedCredits, remainingCredits, subscription}``, as the API reports."""
        return self._core.account.usage()

    def set_credits(
        self, total: Credits | None = None, used: Credits | None = None, plan: str | None = None
    ) -> dict[str, object]:
        """Change any of the figures (while running too); returns the new usage."""
        return self._core.account.set(total=total, used=used, plan=plan)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every API request so far (control API calls excluded), oldest first."""
        return self._core.log.records()

    def count(self, path: str | None = None, method: str | None = None) -> int:
        """How many API requests match ``path`` (concrete or template) and ``method``."""
        return self._core.log.count(path, method)

    def clear_requests(self) -> None:
        self._core.log.clear()

    def inject(self, *faults: Fault | Mapping[str, object]) -> None:
        """Queue faults behind any already pending."""
        self._core.faults.add(
            *(fault if isinstance(fault, Fault) else Fault.from_dict(fault) for fault in faults)
        )

    def clear_faults(self) -> None:
        self._core.faults.clear()

    def set_rate_limit(self, per_second: float | None) -> None:
        """Limit API requests per rolling second; None lifts the limit."""
        self._core.limiter.set(per_second)

    @property
    def clock(self) -> SandboxClock:
        """The sandbox's clock, which sync states follow (``advance``, ``freeze``)."""
        return self._core.clock

    def advance_clock(self, seconds: float) -> float:
        """Move the sandbox clock on, e.g. past a sync; returns the new time (Unix seconds)."""
        return self._core.clock.advance(seconds)

    @property
    def accounts(self) -> Accounts:
        """The portfolios and wallet syncs the API answers from."""
        return self._core.accounts

    def reset(self) -> None:
        """Back to the starting state: credits, no faults, empty log, starting portfolios."""
        self._core.reset()
