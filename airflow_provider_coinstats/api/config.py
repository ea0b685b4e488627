"""Client settings: defaults, and validation of what a connection supplies.

Pure Python, no Airflow: the hook reads the Airflow connection and hands its fields here, so the
rules (and their error messages) are the same for the UI, the CLI and ``AIRFLOW_CONN_*``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_coinstats.api.exceptions import KEYS_URL, CoinStatsConfigError

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
        if not password:
            raise CoinStatsConfigError(
                f"Connection {conn_id!r} has no CoinStats API key: put the key in the "
                f"connection's password field (get one at {KEYS_URL})."
            )

        def extra_value(name: str) -> Any:
            # The Airflow 3 form stores plain names; older forms used extra__<type>__<name>.
            for key in (name, f"extra__coinstats__{name}"):
                if extra.get(key) not in (None, ""):
                    return extra[key]
            return None

        where = f"connection {conn_id!r} extra"
        auth_type = str(extra_value("auth_type") or "api_key").strip().lower()
        if auth_type not in AUTH_TYPES:
            raise CoinStatsConfigError(
                f"{where} 'auth_type' must be one of {', '.join(AUTH_TYPES)}, got {auth_type!r}"
            )
        return cls(
            api_key=password.strip(),
            base_url=normalize_base_url(host, port=port, path=schema, conn_id=conn_id),
            auth_type=auth_type,
            timeout=_positive_number(extra_value("timeout"), DEFAULT_TIMEOUT, where, "timeout"),
            max_retries=_retries(extra_value("max_retries"), where),
            requests_per_second=_positive_number(
                extra_value("requests_per_second"),
                DEFAULT_REQUESTS_PER_SECOND,
                where,
                "requests_per_second",
            ),
            conn_id=conn_id,
        )


def normalize_base_url(
    host: str | None,
    *,
    port: int | None = None,
    path: str | None = None,
    conn_id: str | None = None,
) -> str:
    """Turn a connection's host (plus port and schema, which a connection URI such as
    ``coinstats://:KEY@http://127.0.0.1:8765/v1`` fills) into an API root.

    Empty means the default; no scheme means https; trailing slashes go. A root with or without
    ``/v1`` is kept as given: CoinStats answers both forms, and paths are joined unprefixed.
    """
    raw = (host or "").strip()
    if not raw:
        return DEFAULT_BASE_URL
    if "://" not in raw:
        raw = "https://" + raw
    if port:
        scheme, rest = raw.split("://", 1)
        netloc, slash, tail = rest.partition("/")
        if ":" not in netloc.rsplit("@", 1)[-1]:
            raw = f"{scheme}://{netloc}:{port}{slash}{tail}"
    if path and path.strip("/"):
        raw = raw.rstrip("/") + "/" + path.strip("/")
    parts = urlsplit(raw)
    owner = f"Connection {conn_id!r} host" if conn_id else "Base URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CoinStatsConfigError(
            f"{owner} {host!r} is not an http(s) URL; leave it empty for {DEFAULT_BASE_URL}"
        )
    if parts.query or parts.fragment:
        raise CoinStatsConfigError(f"{owner} {host!r} must not carry a query or fragment")
    return raw.rstrip("/")


def _positive_number(value: Any, default: float, where: str, name: str) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number <= 0:
        raise CoinStatsConfigError(f"{where} {name!r} must be a positive number, got {value!r}")
    return number


def _retries(value: Any, where: str) -> int:
    if value is None:
        return DEFAULT_MAX_RETRIES
    try:
        number = int(str(value).strip())
    except ValueError:
        number = -1
    if isinstance(value, bool) or not 0 <= number <= 20:
        raise CoinStatsConfigError(
            f"{where} 'max_retries' must be a whole number from 0 to 20, got {value!r}"
        )
    return number
