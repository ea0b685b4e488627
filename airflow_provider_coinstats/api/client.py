"""CoinStatsClient: the only code that speaks HTTP to CoinStats. Imports nothing from Airflow.

It owns the base URL, the auth header, the deadlines, the size cap, pacing, retries and the
mapping of every failure to one class of :mod:`airflow_provider_coinstats.exceptions`. Callers
get parsed JSON or a typed model back, never a ``requests.Response``, and never a traceback from
inside requests. Everything CoinStats sends back is scrubbed of the key before it is returned,
quoted or logged.

Proxies: requests honours ``HTTP(S)_PROXY``, ``ALL_PROXY`` and ``NO_PROXY``. Over https a proxy
sees only the host it tunnels to; over plain http it sees every header, the key included.
"""

from __future__ import annotations

import http.client
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import replace
from types import TracebackType
from typing import Any

import requests
import urllib3
from requests.auth import AuthBase

from airflow_provider_coinstats import __version__
from airflow_provider_coinstats.api.config import DEFAULT_BASE_URL, ClientConfig
from airflow_provider_coinstats.api.exceptions import (
    KEYS_URL,
    CoinStatsAuthError,
    CoinStatsConfigError,
    CoinStatsConnectionError,
    CoinStatsCreditsExhaustedError,
    CoinStatsError,
    CoinStatsInconsistentCreditsError,
    CoinStatsRateLimitError,
    CoinStatsRequestError,
    CoinStatsResponseError,
    CoinStatsServerError,
    CoinStatsTimeoutError,
)
from airflow_provider_coinstats.api.models import CreditUsage
from airflow_provider_coinstats.api.pacing import TokenBucket, shared_bucket
from airflow_provider_coinstats.api.parsing import DuplicateKey, RejectedJSON, loads
from airflow_provider_coinstats.api.retry import RetryPolicy, parse_retry_after
from airflow_provider_coinstats.api.scrub import Scrubber
from airflow_provider_coinstats.api.transport import classify
from airflow_provider_coinstats.api.watchdog import DeadlineAdapter, attempt_deadline

logger = logging.getLogger(__name__)

USER_AGENT = f"airflow-provider-coinstats/{__version__} python-requests/{requests.__version__}"
CREDITS_PATH = "/usage/credits"
#: An error body is only quoted (120 characters of it), so no more of it is read.
ERROR_BODY_LIMIT = 64 * 1024
_SNIPPET_CHARS = 120
_CHUNK_BYTES = 64 * 1024
# What sending and streaming can raise; anything else is a bug and is not dressed up.
_TRANSPORT_ERRORS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
    ValueError,
)


class CoinStatsClient:
    """A configured, paced, retrying session for one CoinStats account.

    :param config: key, base URL, auth type, deadlines, size cap, retries and pace.
    :param retry: the retry policy; by default built from ``config.max_retries``.
    :param rate_limiter: the pacing bucket; by default the one shared by ``config.conn_id``.
    :param session: a ``requests.Session`` to reuse (the client closes only its own).
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        retry: RetryPolicy | None = None,
        rate_limiter: TokenBucket | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.config = config
        self.retry = retry or RetryPolicy(max_retries=config.max_retries)
        self.rate_limiter = rate_limiter or shared_bucket(
            config.conn_id or config.base_url, config.requests_per_second
        )
        self._owns_session = session is None
        self.session = session or _deadline_session()
        self._auth = _KeyAuth(config.api_key, bearer=config.auth_type == "bearer")
        self._scrubber = Scrubber(config.api_key)
        conn = f"connection {config.conn_id!r}" if config.conn_id else "the client"
        # Checked here, raised at the first request: requests' own error would quote the key.
        self._key_problem = _header_problem(config.api_key, conn)

    def __repr__(self) -> str:
        return (
            f"CoinStatsClient(base_url={self.config.base_url!r}, conn_id={self.config.conn_id!r})"
        )

    def __enter__(self) -> CoinStatsClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    # -- domain methods ------------------------------------------------------------------------

    def get_credit_usage(self, *, retry: bool = True) -> CreditUsage:
        """Read ``GET /usage/credits`` (free of charge) into a :class:`CreditUsage`.

        :param retry: False sends one attempt only, for a caller that schedules its own next
            try (the deferred trigger's poller does).
        """
        payload = self.request("GET", CREDITS_PATH, retry=retry)
        problem: str | None = None
        error_class: type[CoinStatsResponseError] = CoinStatsResponseError
        try:
            usage = CreditUsage.from_api(payload)
        except CoinStatsResponseError as error:
            # The message quotes what CoinStats sent (a field's value or names); the class says
            # whether a gate waits (inconsistent figures) or fails (a malformed answer).
            problem, error_class = self._scrubber.text(error.message), type(error)
        if problem is not None:
            # Raised out here, so the unscrubbed original is not chained to it as __context__.
            raise error_class(problem, status_code=200)
        # The plan name goes to XCom, events and logs: an echo of the key must not.
        return replace(usage, subscription=self._scrubber.text(usage.subscription))

    # -- transport -----------------------------------------------------------------------------

    def url_for(self, path: str) -> str:
        """Join ``path`` to the base URL; a ``/v1`` already in the base is not repeated."""
        path = "/" + path.lstrip("/")
        base = self.config.base_url
        if base.endswith("/v1") and (path == "/v1" or path.startswith("/v1/")):
            path = path[3:]
        return base + path

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        *,
        retry: bool = True,
    ) -> Any:
        """Send one logical request, with pacing and retries; return the parsed JSON body.

        Each attempt ends within ``config.timeout`` seconds (connect to last body byte), the
        whole call within ``config.total_timeout`` (every attempt and wait included), and no
        answer may exceed ``config.max_response_bytes`` decoded bytes.

        :param retry: False sends one attempt only, whatever the policy's ``max_retries``.
        :raises CoinStatsError: a subclass saying what failed; transient ones only after retries.
        """
        if self._key_problem:
            raise CoinStatsConfigError(self._key_problem)
        method = method.upper()
        url = self.url_for(path)
        deadline = time.monotonic() + self.config.total_timeout
        attempt = 0
        while True:
            final: CoinStatsError | None = None
            try:
                return self._send_once(method, url, path, params, json, deadline)
            except _OutOfTime as out:
                final = out.error
            except CoinStatsError as error:
                if not retry or not self.retry.should_retry(error, method, attempt):
                    raise
                wait = self.retry.delay(error, attempt)
                if time.monotonic() + wait >= deadline:
                    raise  # the wait alone would outlast total_timeout: say what failed now
                logger.warning(
                    "CoinStats %s %s failed (%s); retry %d of %d in %.1f s",
                    method,
                    path,
                    self._what_failed(error),
                    attempt + 1,
                    self.retry.max_retries,
                    wait,
                )
                self.retry.sleep(wait)
                attempt += 1
            if final is not None:
                raise final  # the call's own deadline: no retry can help

    def _what_failed(self, error: CoinStatsError) -> str:
        """A few words for the retry log line: ``HTTP 503``, ``no answer within 30 s``, ``the
        connection was refused``..."""
        if error.status_code:
            return f"HTTP {error.status_code}"
        if isinstance(error, CoinStatsTimeoutError):
            return f"no answer within {self.config.timeout:g} s"
        return error.message.rsplit(": ", 1)[-1]  # the transport failure's words

    def _send_once(
        self,
        method: str,
        url: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Any,
        call_deadline: float,
    ) -> Any:
        if self.rate_limiter.acquire(within=call_deadline - time.monotonic()) is None:
            raise _OutOfTime(
                self._timeout(method, path, "total_timeout", "its turn in the pacing queue")
            )
        start = time.monotonic()
        budget = min(self.config.timeout, call_deadline - start)
        # The bound that ends this attempt: its own, or what is left of the call's.
        bound = "timeout" if budget >= self.config.timeout else "total_timeout"
        if budget <= 0:
            raise _OutOfTime(self._timeout(method, path, bound, "before the attempt started"))
        deadline = start + budget
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        failure: CoinStatsError | None = None
        try:
            with attempt_deadline(deadline):
                response = self.session.request(
                    method,
                    url,
                    params=_query(params),
                    json=body,
                    headers=headers,
                    auth=self._auth,
                    timeout=budget,
                    stream=True,  # the body is read below, against the deadline and the size cap
                    # requests would resend X-API-KEY to wherever a redirect points, another host
                    # included (it strips only Authorization); CoinStats does not redirect its API.
                    allow_redirects=False,
                )
        except _TRANSPORT_ERRORS as exc:
            if time.monotonic() >= deadline:  # the watchdog cut a response head short
                failure = self._timeout(method, path, bound, "while the headers arrived")
            else:
                failure = self._transport_error(exc, method, path, bound)
        # Raised out here, so that requests' exception (which may quote a header) is not
        # chained to it as __context__.
        if failure is not None:
            raise failure
        try:
            status = response.status_code
            content, failure = self._read_body(response, method, path, deadline, bound)
        finally:
            response.close()  # on every path: a half-read connection is dropped, not pooled
        if status >= 300:
            # A broken error body still leaves the status: its class wins (a 503 is retried).
            raise self._error_from_response(status, response.headers, content, method, path)
        if failure is not None:
            raise failure
        return self._parse(content, status, method, path)

    def _read_body(
        self, response: requests.Response, method: str, path: str, deadline: float, bound: str
    ) -> tuple[bytes, CoinStatsError | None]:
        """Read the decoded body in chunks until its end, the attempt's deadline or the size cap.

        Each read returns as soon as any bytes arrive (``read1``), so the clock is checked as
        they trickle in, and the socket waits no longer than the time left, so a silent server
        cannot hold one read past the deadline. Decoding happens chunk by chunk (urllib3 2.6+
        bounds each chunk's output), so a compression bomb is refused at the cap.

        :return: what arrived (scrubbed of the key), and the error that cut it short, if any.
            An error status's body is only quoted, so it is read to a small cap and never fails.
        """
        error_status = response.status_code >= 300
        limit = ERROR_BODY_LIMIT if error_status else self.config.max_response_bytes
        raw = response.raw
        parts: list[bytes] = []
        size = 0
        failure: CoinStatsError | None = None
        transport_error: BaseException | None = None
        # A plain body that announces its excess is refused before a byte of it is read.
        declared = response.headers.get("Content-Length", "")
        plain = not response.headers.get("Content-Encoding")
        if not error_status and plain and declared.isdigit() and int(declared) > limit:
            return b"", self._too_large(response.status_code, method, path)
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    failure = self._timeout(method, path, bound, "while the answer arrived")
                    break
                _set_read_timeout(raw, left)
                chunk = raw.read1(_CHUNK_BYTES, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    parts.append(chunk[: len(chunk) - (size - limit)])
                    if not error_status:
                        failure = self._too_large(response.status_code, method, path)
                    break
                parts.append(chunk)
        except _TRANSPORT_ERRORS as exc:
            transport_error = exc
        if transport_error is not None:
            failure = self._transport_error(transport_error, method, path, bound)
        return self._scrubber.body(b"".join(parts)), failure

    def _parse(self, content: bytes, status: int, method: str, path: str) -> Any:
        if not content.strip():
            return None
        problem: str | None = None
        error_class: type[CoinStatsResponseError] = CoinStatsResponseError
        try:
            return loads(content)
        except RejectedJSON as rejected:
            problem = str(rejected)
            if isinstance(rejected, DuplicateKey) and path == CREDITS_PATH:
                # Two parsers could read two different figures, and a gate decides on them.
                error_class = CoinStatsInconsistentCreditsError
        if b"<html" in content[:500].lower():
            problem = "an HTML page"
        raise error_class(
            f"CoinStats answered {method} {path} (HTTP {status}) with {problem}: "
            f"{self._snippet(content)!r}",
            status_code=status,
        )

    def _timeout(self, method: str, path: str, bound: str, when: str) -> CoinStatsTimeoutError:
        if bound == "timeout":
            return CoinStatsTimeoutError(
                f"CoinStats did not answer {method} {path} within {self.config.timeout:g} s "
                f"({when}); that is the connection's 'timeout' extra, which bounds each attempt "
                f"from connect to the last byte: raise it if CoinStats is this slow"
            )
        return CoinStatsTimeoutError(
            f"CoinStats did not answer {method} {path} within {self.config.total_timeout:g} s "
            f"({when}); that is the connection's 'total_timeout' extra, which bounds the whole "
            f"call, retries and waits included: raise it if CoinStats is this slow"
        )

    def _too_large(self, status: int, method: str, path: str) -> CoinStatsResponseError:
        return CoinStatsResponseError(
            f"CoinStats' answer to {method} {path} is larger than "
            f"{self.config.max_response_bytes:,} bytes (decoded), the most this connection "
            f"accepts; if the endpoint really answers that much, raise the connection's "
            f"'max_response_bytes' extra",
            status_code=status,
        )

    def _transport_error(
        self, exc: BaseException, method: str, path: str, bound: str
    ) -> CoinStatsError:
        failure = classify(exc)
        if failure.kind == "timeout":
            return self._timeout(method, path, bound, failure.words)
        conn = f"connection {self.config.conn_id!r}" if self.config.conn_id else "the client"
        if failure.kind == "config":
            return CoinStatsConfigError(
                f"Could not send {method} {path} for {conn}: {failure.words}; check the "
                f"connection's host and key"
            )
        if failure.kind == "response":
            return CoinStatsResponseError(
                f"CoinStats answered {method} {path}, but {failure.words}"
            )
        return CoinStatsConnectionError(
            f"Could not reach CoinStats at {self.config.base_url} for {method} {path}: "
            f"{failure.words}"
        )

    def _error_from_response(
        self,
        status: int,
        headers: Mapping[str, str],
        content: bytes,
        method: str,
        path: str,
    ) -> CoinStatsError:
        api_message, request_id = self._error_details(content)
        said = f": {api_message}" if api_message else ""
        details: dict[str, Any] = {
            "status_code": status,
            "api_message": api_message,
            "request_id": request_id,
        }
        conn = f"connection {self.config.conn_id!r}" if self.config.conn_id else "the client"
        if status < 400:
            location = self._snippet(headers.get("Location", "").encode())
            return CoinStatsRequestError(
                f"CoinStats redirected {method} {path} to {location or 'nowhere'!r} (HTTP "
                f"{status}); redirects are not followed, so the key never goes elsewhere. If "
                f"that is CoinStats' new address, set it as the host of {conn}.",
                **details,
            )
        if status == 401:
            return CoinStatsAuthError(
                f"CoinStats rejected the API key of {conn} (HTTP 401{said}). "
                f"Check the key, or create a new one at {KEYS_URL}.",
                **details,
            )
        if status == 403:
            return CoinStatsAuthError(
                f"CoinStats refused {method} {path} for {conn} (HTTP 403{said}): the key's plan "
                f"may not include this endpoint; see {KEYS_URL}.",
                **details,
            )
        if status in (402, 406) or (status == 429 and "credit" in (api_message or "").lower()):
            return CoinStatsCreditsExhaustedError(
                f"CoinStats credits are exhausted for {conn} (HTTP {status}{said}). Wait for the "
                f"next billing period or top up at {KEYS_URL}.",
                **details,
            )
        if status == 429:
            retry_after = parse_retry_after(headers.get("Retry-After"))
            return CoinStatsRateLimitError(
                f"CoinStats rate limit hit on {method} {path} (HTTP 429{said}); lower the "
                f"connection's 'requests_per_second' extra if this repeats.",
                retry_after=retry_after,
                **details,
            )
        if status == 404:
            return CoinStatsRequestError(
                f"CoinStats found nothing at {method} {path} (HTTP 404{said}) for {conn}, whose "
                f"Base URL is {self.config.base_url}. Check the Base URL (CoinStats' own is "
                f"{DEFAULT_BASE_URL}) and the path; if both are right, the id in the path does "
                f"not exist.",
                **details,
            )
        if status >= 500:
            return CoinStatsServerError(
                f"CoinStats failed on {method} {path} (HTTP {status}{said})", **details
            )
        return CoinStatsRequestError(
            f"CoinStats refused {method} {path} (HTTP {status}{said})", **details
        )

    def _error_details(self, content: bytes) -> tuple[str | None, str | None]:
        """CoinStats' message and requestId from either error shape:
        ``{statusCode, message, requestId, path}`` or the older ``{error, message}``."""
        try:
            body = loads(content) if content.strip() else None
        except RejectedJSON:
            body = None
        if not isinstance(body, dict):
            # A proxy's HTML page (or a body too deep to parse) says little; quote its start.
            return (self._snippet(content) or None), None
        message = body.get("message") or body.get("error")
        request_id = body.get("requestId")
        return (
            self._snippet(str(message).encode()) if message else None,
            self._scrubber.text(str(request_id))[:64] if request_id else None,
        )

    def _snippet(self, content: bytes) -> str:
        """A short, single-line, printable excerpt of a body, HTML tags dropped, the key
        scrubbed (should a proxy ever echo request headers back)."""
        text = self._scrubber.head(content, 2000)
        text = re.sub(r"<[^>]*>", " ", text)
        text = re.sub(r"\s+", " ", "".join(c if c.isprintable() else " " for c in text)).strip()
        return text[:_SNIPPET_CHARS] + ("..." if len(text) > _SNIPPET_CHARS else "")


class _OutOfTime(Exception):
    """The call's deadline passed outside an attempt (waiting to be paced, say): ``error`` is
    raised without retrying, since every retry would find the same."""

    def __init__(self, error: CoinStatsTimeoutError) -> None:
        super().__init__(error.message)
        self.error = error


class _KeyAuth(AuthBase):
    """Sets the key header on each request as requests prepares it, so that no variable along
    our own call path holds the key: Airflow's DEV-mode tracebacks print every frame's locals.

    :param key: the API key (or OAuth token).
    :param bearer: send ``Authorization: Bearer <key>`` instead of ``X-API-KEY: <key>``.
    """

    def __init__(self, key: str, *, bearer: bool) -> None:
        self._header = "Authorization" if bearer else "X-API-KEY"
        self._value = f"Bearer {key}" if bearer else key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[self._header] = self._value
        return request

    def __repr__(self) -> str:
        return f"_KeyAuth({self._header})"


def _query(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Lists become CoinStats' comma-separated form; booleans become true/false."""
    if params is None:
        return None
    query: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            value = ",".join(str(item) for item in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        query[key] = value
    return query


def _deadline_session() -> requests.Session:
    """A session whose response heads are bounded by the attempt's deadline (see
    :mod:`~airflow_provider_coinstats.api.watchdog`); a session passed in by the caller keeps
    only the per-read socket timeout there."""
    session = requests.Session()
    for prefix in ("http://", "https://"):
        session.mount(prefix, DeadlineAdapter())
    return session


def _set_read_timeout(raw: Any, seconds: float) -> None:
    """Bound the next socket read of a streaming response by ``seconds`` (urllib3 2.x keeps the
    connection on the response while its body is read)."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(max(seconds, 0.001))


def _header_problem(key: str, conn: str) -> str | None:
    """Why ``key`` cannot be sent in an HTTP header, naming the kind of character, never the
    key or any part of it; None when it can."""
    if all(" " <= char <= "~" for char in key):
        return None
    if "\r" in key or "\n" in key:
        kind = "a line break"
    elif all(ord(char) < 128 for char in key):
        kind = "a control character"
    else:
        kind = "a non-ASCII character (copy-paste can add a zero-width space or a byte-order mark)"
    return (
        f"The API key of {conn} contains {kind}, which cannot be sent in an HTTP header. "
        f"Paste the key into the connection's password field again without it; CoinStats keys "
        f"are printable ASCII."
    )
