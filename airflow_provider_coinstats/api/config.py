"""Client settings: defaults, and validation of what a connection supplies.

Pure Python, no Airflow: the hook reads the Airflow connection and hands its fields here, so the
rules (and their error messages) are the same for the UI, the CLI and ``AIRFLOW_CONN_*``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

from airflow_provider_coinstats.api.exceptions import KEYS_URL, CoinStatsConfigError
from airflow_provider_coinstats.api.validation import boolean, choice, header_problem, number

DEFAULT_BASE_URL = "https://openapiv1.coinstats.app/v1"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 3
# CoinStats documents 2 requests/second on the free plan, and a third party measured 429s at
# 0.6 s spacing; 1/s keeps unattended DAGs clear of both. Paid plans may raise it.
DEFAULT_REQUESTS_PER_SECOND = 1.0
#: The whole call, retries and the waits between them included, ends by this deadline.
DEFAULT_TOTAL_TIMEOUT = 120.0
#: The most decoded bytes one answer may have; /usage/credits is ~100 bytes, a /coins page ~60 KB.
DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
#: The connection id hooks, operators and sensors use unless told otherwise.
DEFAULT_CONN_ID = "coinstats_default"
AUTH_TYPES = ("api_key", "bearer")

# The ranges a connection's extras must fall in: wide enough for any real use, narrow enough
# that no figure overflows the clock or the token bucket. 100,000 requests/s is "no pacing" (the
# benchmarks use it against the local sandbox); a millisecond-slow call never reaches it.
MAX_TIMEOUT = 3600.0
MAX_TOTAL_TIMEOUT = 86400.0
MAX_RETRIES = 20
MIN_REQUESTS_PER_SECOND = 0.001
MAX_REQUESTS_PER_SECOND = 100_000.0
MIN_RESPONSE_BYTES = 1024
MAX_RESPONSE_BYTES = 1024**3


@dataclass(frozen=True)
class ClientConfig:
    """Everything a :class:`~airflow_provider_coinstats.api.client.CoinStatsClient` needs.

    :param api_key: the CoinStats key (or OAuth token); never shown in the repr.
    :param base_url: API root, normalised by :func:`normalize_base_url`.
    :param auth_type: ``api_key`` (``X-API-KEY`` header) or ``bearer``.
    :param timeout: wall-clock bound of each attempt, from connect to the last body byte, in
        seconds.
    :param max_retries: retries after transient failures.
    :param requests_per_second: client-side pace for this connection.
    :param total_timeout: wall-clock bound of a whole call: every attempt, and the waits between
        them.
    :param max_response_bytes: the most (decoded) bytes an answer may have.
    :param allow_insecure_http: send the key over plain http to a host that is not loopback.
    :param conn_id: the Airflow connection id, named in error messages.
    """

    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    auth_type: str = "api_key"
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND
    conn_id: str | None = None
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    allow_insecure_http: bool = False

    @classmethod
    def from_connection_fields(
        cls,
        conn_id: str,
        *,
        host: str | None,
        password: str | None,
        extra: Mapping[str, Any],
        port: int | None = None,
        schema: str | None = None,
    ) -> ClientConfig:
        """Validate an Airflow connection's fields; errors name the connection and the field."""
        if not password or not password.strip():
            raise CoinStatsConfigError(
                f"Connection {conn_id!r} has no CoinStats API key: put the key in the "
                f"connection's password field (get one at {KEYS_URL})."
            )

        def raw(name: str) -> Any:
            # The Airflow 3 form stores plain names; older forms used extra__<type>__<name>.
            for key in (name, f"extra__coinstats__{name}"):
                if extra.get(key) not in (None, ""):
                    return extra[key]
            return None

        def extra_number(name: str, default: float, **rule: Any) -> int | float:
            value = raw(name)
            if value is None:
                return default
            return number(f"connection {conn_id!r} extra {name!r}", value, strings=True, **rule)

        seconds = {"above": 0, "unit": "seconds"}
        timeout = float(extra_number("timeout", DEFAULT_TIMEOUT, maximum=MAX_TIMEOUT, **seconds))
        # Unset, the whole-call bound grows with a long per-attempt timeout rather than refuse it.
        total_timeout = float(
            extra_number(
                "total_timeout",
                max(DEFAULT_TOTAL_TIMEOUT, timeout),
                maximum=MAX_TOTAL_TIMEOUT,
                **seconds,
            )
        )
        if total_timeout < timeout:
            raise CoinStatsConfigError(
                f"connection {conn_id!r} extra 'total_timeout' must be at least its 'timeout' "
                f"({timeout:g} s), got {raw('total_timeout')!r}: it bounds the whole call, "
                "every attempt and the waits between them"
            )
        auth_type = raw("auth_type")
        api_key = password.strip()
        problem = header_problem(api_key)
        if problem is not None:
            raise CoinStatsConfigError(
                f"The API key of connection {conn_id!r} cannot be sent in an HTTP header, which "
                f"takes printable ASCII only: it {problem}. Paste the key again (get one at "
                f"{KEYS_URL})."
            )
        base_url = normalize_base_url(host, port=port, path=schema, conn_id=conn_id)
        allow_insecure_http = raw("allow_insecure_http") is not None and boolean(
            f"connection {conn_id!r} extra 'allow_insecure_http'",
            raw("allow_insecure_http"),
            loose=True,
        )
        parts = urlsplit(base_url)
        if parts.scheme == "http" and not allow_insecure_http and not is_loopback(parts):
            raise CoinStatsConfigError(
                f"Base URL {base_url!r} of connection {conn_id!r} is plain http to "
                f"{parts.hostname}, which is not this machine, so the API key would cross the "
                "network unencrypted. Use https://, or set the connection extra "
                '"allow_insecure_http": true if that network is trusted.'
            )
        return cls(
            api_key=api_key,
            base_url=base_url,
            auth_type="api_key"
            if auth_type is None
            else choice(f"connection {conn_id!r} extra 'auth_type'", auth_type, AUTH_TYPES),
            timeout=timeout,
            max_retries=int(
                extra_number(
                    "max_retries", DEFAULT_MAX_RETRIES, minimum=0, maximum=MAX_RETRIES, whole=True
                )
            ),
            requests_per_second=float(
                extra_number(
                    "requests_per_second",
                    DEFAULT_REQUESTS_PER_SECOND,
                    minimum=MIN_REQUESTS_PER_SECOND,
                    maximum=MAX_REQUESTS_PER_SECOND,
                )
            ),
            conn_id=conn_id,
            total_timeout=total_timeout,
            max_response_bytes=int(
                extra_number(
                    "max_response_bytes",
                    DEFAULT_MAX_RESPONSE_BYTES,
                    minimum=MIN_RESPONSE_BYTES,
                    maximum=MAX_RESPONSE_BYTES,
                    whole=True,
                    unit="bytes",
                )
            ),
            allow_insecure_http=allow_insecure_http,
        )


def is_loopback(url: SplitResult) -> bool:
    """Whether ``url`` points at this machine: ``localhost``, 127.0.0.0/8 or ``::1``."""
    host = (url.hostname or "").rstrip(".")
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def normalize_base_url(
    host: str | None,
    *,
    port: int | None = None,
    path: str | None = None,
    conn_id: str | None = None,
) -> str:
    """Turn a connection's host (plus port and schema, which a connection URI such as
    ``coinstats://:KEY@http://127.0.0.1:8765/v1`` fills) into an API root.

    Empty means the default. No scheme means https, except for this machine (``localhost``,
    127.0.0.0/8, ``::1``), where it means http: a host and port given apart, as in
    ``--conn-host 127.0.0.1 --conn-port 8765``, should reach a local server such as the sandbox,
    not fail in a TLS handshake. Trailing slashes go. A root with or without ``/v1`` is kept as
    given: CoinStats answers both forms, and paths are joined unprefixed.
    """
    raw = (host or "").strip()
    if not raw:
        return DEFAULT_BASE_URL
    owner = f"Connection {conn_id!r} host" if conn_id else "Base URL"
    if "://" not in raw:
        raw = ("http://" if is_loopback(_split("//" + raw, owner, host)) else "https://") + raw
    if port:
        scheme, rest = raw.split("://", 1)
        netloc, slash, tail = rest.partition("/")
        if not _has_port(netloc):
            raw = f"{scheme}://{netloc}:{port}{slash}{tail}"
    if path and path.strip("/"):
        raw = raw.rstrip("/") + "/" + path.strip("/")
    parts = _split(raw, owner, host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CoinStatsConfigError(
            f"{owner} {host!r} is not an http(s) URL; leave it empty for {DEFAULT_BASE_URL}"
        )
    if parts.query or parts.fragment:
        raise CoinStatsConfigError(f"{owner} {host!r} must not carry a query or fragment")
    try:
        parts.port  # noqa: B018  # urlsplit checks the port only when asked
    except ValueError:
        raise CoinStatsConfigError(
            f"{owner} {host!r} has an invalid port (with port {port!r}); a port is a whole "
            "number from 1 to 65535, e.g. http://127.0.0.1:8765"
        ) from None
    return raw.rstrip("/")


def _split(url: str, owner: str, given: str | None) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError:  # e.g. "Invalid IPv6 URL" for an unbalanced "["
        raise CoinStatsConfigError(
            f"{owner} {given!r} is not an http(s) URL; leave it empty for {DEFAULT_BASE_URL}"
        ) from None


def _has_port(netloc: str) -> bool:
    address = netloc.rsplit("@", 1)[-1]
    if address.startswith("["):  # [::1]:8765
        return "]:" in address
    return ":" in address
