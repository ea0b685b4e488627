"""CoinStatsClient: the only code that speaks HTTP to CoinStats. Imports nothing from Airflow.

It owns the base URL, the auth header, timeouts, pacing, retries and the mapping of every failure
to one class of :mod:`airflow_provider_coinstats.exceptions`. Callers get parsed JSON or a typed
model back, never a ``requests.Response``, and never a traceback from inside requests.
"""

from __future__ import annotations

import json as jsonlib
import re
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import requests
from requests.auth import AuthBase

from airflow_provider_coinstats import __version__
from airflow_provider_coinstats.api.config import ClientConfig
from airflow_provider_coinstats.api.exceptions import (
    KEYS_URL,
    CoinStatsAuthError,
    CoinStatsConnectionError,
    CoinStatsCreditsExhaustedError,
    CoinStatsError,
    CoinStatsInconsistentCreditsError,
    CoinStatsRateLimitError,
    CoinStatsRequestError,
    CoinStatsResponseError,
    CoinStatsServerError,
)
from airflow_provider_coinstats.api.models import CreditUsage
from airflow_provider_coinstats.api.pacing import TokenBucket, shared_bucket
from airflow_provider_coinstats.api.retry import RetryPolicy, parse_retry_after

USER_AGENT = f"airflow-provider-coinstats/{__version__} python-requests/{requests.__version__}"
CREDITS_PATH = "/usage/credits"
_SNIPPET_CHARS = 120


class CoinStatsClient:
    """A configured, paced, retrying session for one CoinStats account.

    :param config: key, base URL, auth type, timeout, retries and pace.
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
        self.session = session or requests.Session()
        self._auth = _KeyAuth(config.api_key, bearer=config.auth_type == "bearer")

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

        :param retry: ``False`` sends exactly one attempt (a poller that owns its own backoff).
        """
        payload = self.request("GET", CREDITS_PATH, retry=retry)
        try:
            return CreditUsage.from_api(payload)
        except CoinStatsResponseError as error:
            # The message quotes what CoinStats sent (a field's value or names); scrub the key
            # from it, should a broken proxy ever echo request headers into the body.
            problem, error_class = _scrub(error.message, self.config.api_key), type(error)
        # Raised out here, so the unscrubbed original is not chained to it as __context__.
        raise error_class(problem, status_code=200)

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

        :param retry: ``False`` sends exactly one attempt, whatever ``max_retries`` says.
        :raises CoinStatsError: a subclass saying what failed; transient ones only after retries.
        """
        method = method.upper()
        url = self.url_for(path)
        deadline = time.monotonic() + self.retry.total_timeout
        attempt = 0
        while True:
            try:
                return self._send_once(method, url, path, params, json)
            except CoinStatsError as error:
                if not retry or not self.retry.should_retry(error, method, attempt):
                    raise
                wait = self.retry.delay(error, attempt)
                if time.monotonic() + wait > deadline:
                    raise
                self.retry.sleep(wait)
                attempt += 1

    def _send_once(
        self, method: str, url: str, path: str, params: Mapping[str, Any] | None, body: Any
    ) -> Any:
        self.rate_limiter.acquire()
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        try:
            response = self.session.request(
                method,
                url,
                params=_query(params),
                json=body,
                headers=headers,
                auth=self._auth,
                timeout=self.config.timeout,
                # requests would resend X-API-KEY to wherever a redirect points, another host
                # included (it strips only Authorization); CoinStats does not redirect its API.
                allow_redirects=False,
            )
            content = response.content  # read the body here, so a cut-off body is caught here
        except requests.Timeout as exc:
            raise CoinStatsConnectionError(
                f"CoinStats did not answer {method} {path} within {self.config.timeout:g} s "
                f"({type(exc).__name__}); raise the connection's 'timeout' extra if this persists"
            ) from None
        except requests.RequestException as exc:
            raise CoinStatsConnectionError(
                f"Could not reach CoinStats at {self.config.base_url} for {method} {path}: "
                f"{_describe_transport_error(exc)}"
            ) from None
        if response.status_code >= 300:
            raise self._error_from_response(response, method, path)
        return _parse_json(content, response, method, path, self.config.api_key)

    def _error_from_response(
        self, response: requests.Response, method: str, path: str
    ) -> CoinStatsError:
        status = response.status_code
        api_message, request_id = _error_details(response, self.config.api_key)
        said = f": {api_message}" if api_message else ""
        details: dict[str, Any] = {
            "status_code": status,
            "api_message": api_message,
            "request_id": request_id,
        }
        conn = f"connection {self.config.conn_id!r}" if self.config.conn_id else "the client"
        if status < 400:
            location = _snippet(response.headers.get("Location", "").encode(), self.config.api_key)
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
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return CoinStatsRateLimitError(
                f"CoinStats rate limit hit on {method} {path} (HTTP 429{said}); lower the "
                f"connection's 'requests_per_second' extra if this repeats.",
                retry_after=retry_after,
                **details,
            )
        if status >= 500:
            return CoinStatsServerError(
                f"CoinStats failed on {method} {path} (HTTP {status}{said})", **details
            )
        return CoinStatsRequestError(
            f"CoinStats refused {method} {path} (HTTP {status}{said})", **details
        )


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


def _parse_json(
    content: bytes, response: requests.Response, method: str, path: str, secret: str
) -> Any:
    if not content.strip():
        return None
    try:
        return jsonlib.loads(content, object_pairs_hook=_unique_keys)
    except _DuplicateKeyError as duplicate:
        # Two parsers could read two different values; for credit figures that decides a gate.
        error_class = (
            CoinStatsInconsistentCreditsError if path == CREDITS_PATH else CoinStatsResponseError
        )
        raise error_class(
            f"CoinStats answered {method} {path} (HTTP {response.status_code}) with the field "
            f"{_scrub(duplicate.key, secret)[:40]!r} twice in one object; refusing to guess which "
            "value counts",
            status_code=response.status_code,
        ) from None
    except ValueError:
        kind = "an HTML page" if b"<html" in content[:500].lower() else "invalid JSON"
        raise CoinStatsResponseError(
            f"CoinStats answered {method} {path} (HTTP {response.status_code}) with {kind}: "
            f"{_snippet(content, secret)!r}",
            status_code=response.status_code,
        ) from None


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict, refusing a key that appears twice (RFC 8259 leaves it open)."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKeyError(key)
        obj[key] = value
    return obj


def _error_details(response: requests.Response, secret: str) -> tuple[str | None, str | None]:
    """CoinStats' message and requestId from either error shape:
    ``{statusCode, message, requestId, path}`` or the older ``{error, message}``."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        # A proxy's HTML page says nothing useful; quote its first words only.
        return (_snippet(response.content, secret) or None), None
    message = body.get("message") or body.get("error")
    request_id = body.get("requestId")
    return (
        _snippet(str(message).encode(), secret) if message else None,
        _scrub(str(request_id), secret)[:64] if request_id else None,
    )


def _scrub(text: str, secret: str) -> str:
    """``text`` with every occurrence of the key replaced by ``***``."""
    return text.replace(secret, "***") if secret else text


def _snippet(content: bytes, secret: str) -> str:
    """A short, single-line, printable excerpt of a body, HTML tags dropped, the key scrubbed
    (should a proxy ever echo request headers back)."""
    # Scrub before cutting: a cut through the key would leave a prefix the scrub cannot find.
    head = content[: 2000 + len(secret.encode())].decode("utf-8", errors="replace")
    text = _scrub(head, secret)[:2000]
    text = re.sub(r"<[^>]*>", " ", text)
    text = re.sub(r"\s+", " ", "".join(c if c.isprintable() else " " for c in text)).strip()
    return text[:_SNIPPET_CHARS] + ("..." if len(text) > _SNIPPET_CHARS else "")


def _describe_transport_error(exc: requests.RequestException) -> str:
    """Name the failure in a few words instead of urllib3's nested repr."""
    text = str(exc)
    for needle, words in (
        ("Name or service not known", "the host name does not resolve (DNS)"),
        ("nodename nor servname", "the host name does not resolve (DNS)"),
        ("Temporary failure in name resolution", "the host name does not resolve (DNS)"),
        ("Connection refused", "the connection was refused"),
        ("Connection reset", "the connection was reset"),
        ("Connection aborted", "the connection was closed before an answer"),
        ("RemoteDisconnected", "the server closed the connection without answering"),
        ("IncompleteRead", "the answer was cut off mid-transfer"),
        ("InvalidChunkLength", "the answer was cut off mid-transfer"),
        ("SSLError", "the TLS handshake failed"),
        ("certificate verify failed", "the TLS certificate was not trusted"),
    ):
        if needle in text:
            return words
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the answer was cut off mid-transfer"
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return "the base URL is not valid"
    return type(exc).__name__
