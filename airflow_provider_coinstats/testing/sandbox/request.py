"""What an endpoint handler receives (:class:`ApiRequest`), how it refuses (:class:`ApiError`),
and the parsing of pages, lists and currencies that handlers share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_coinstats.testing.sandbox import data

if TYPE_CHECKING:
    from collections.abc import Mapping


class ApiError(Exception):
    """A refused request: the status and CoinStats-style message to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """What a handler sees.

    :param path_params: values from the path template, e.g. ``{"coinId": "bitcoin"}``.
    :param query: query parameters; a repeated one is joined with commas, as CoinStats reads it.
    :param body: the parsed JSON body, or None.
    :param headers: request headers a handler may read (``sharetoken``, ``passcode``), lower-case.
    """

    path_params: Mapping[str, str]
    query: Mapping[str, str]
    body: object = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def required(self, name: str) -> str:
        value = self.query.get(name, "").strip()
        if not value:
            raise ApiError(400, f"{name} should not be empty")
        return value

    def text(self, name: str, default: str = "") -> str:
        """A query parameter, stripped; ``default`` when absent or blank."""
        return self.query.get(name, "").strip() or default

    def body_field(self, name: str) -> object:
        """A field of the JSON body, or None."""
        return self.body.get(name) if isinstance(self.body, dict) else None


MAX_LIMIT = 1_000  # PageMetaDto's documented maximum


def ids(value: str) -> list[str]:
    """The items of a comma-separated value, stripped, blanks dropped."""
    return [part.strip() for part in value.split(",") if part.strip()]


def positive_int(request: ApiRequest, name: str, default: int) -> int:
    raw = request.query.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(float(raw))
    except ValueError:
        raise ApiError(400, f"{name} must be a positive integer, got {raw!r}") from None
    if value < 1 or value != float(raw):
        raise ApiError(400, f"{name} must be a positive integer, got {raw!r}")
    return value


def page_of(
    request: ApiRequest, items: list[Any], max_limit: int = MAX_LIMIT
) -> tuple[list[Any], dict[str, object]]:
    """The requested page (1-based ``page``, ``limit`` default 20) and CoinStats' PageMetaDto."""
    page = positive_int(request, "page", 1)
    limit = positive_int(request, "limit", 20)
    if limit > max_limit:
        raise ApiError(400, f"limit must not be greater than {max_limit}")
    page_count = math.ceil(len(items) / limit)
    meta: dict[str, object] = {
        "page": page,
        "limit": limit,
        "itemCount": len(items),
        "pageCount": page_count,
        "hasPreviousPage": page > 1,
        "hasNextPage": page < page_count,
    }
    return list(items[(page - 1) * limit : page * limit]), meta


def currency_rate(request: ApiRequest, name: str = "currency") -> tuple[str, float]:
    """The requested fiat (default USD) and its ``/fiats`` rate (units per USD).

    :raises ApiError: 400 for a currency ``/fiats`` does not list.
    """
    currency = request.text(name, "USD").upper()
    try:
        return currency, data.fiat_rate(currency)
    except KeyError:
        known = ", ".join(data.fiat_names())
        raise ApiError(400, f"{name} {currency!r} is not supported; use one of {known}") from None


def when(request: ApiRequest, name: str) -> float:
    """A date parameter (ISO 8601, or Unix seconds or milliseconds) as Unix seconds."""
    raw = request.text(name)
    try:
        number = float(raw)
        return number / 1000 if number > 1e11 else number
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ApiError(400, f"{name} must be an ISO 8601 date, got {raw!r}") from None


def history_window(request: ApiRequest) -> tuple[str, float, float]:
    """A P/L history's span: ``range`` (a chart period, default 1m) or ``from``/``to`` dates.

    :returns: (label, start, end) in Unix seconds, ending no later than the sandbox's today.
    :raises ApiError: 400 for an unknown range or a start after the end.
    """
    if request.text("from") or request.text("to"):
        end = when(request, "to") if request.text("to") else data.ANCHOR
        start = when(request, "from") if request.text("from") else end - data.PERIODS["1m"]
        if start > end:
            raise ApiError(400, "from must not be after to")
        return "custom", start, min(end, data.ANCHOR)
    label = request.text("range", "1m")
    if label not in data.PERIODS:
        raise ApiError(400, f"range must be one of the following values: {', '.join(data.PERIODS)}")
    return label, data.ANCHOR - data.PERIODS[label], data.ANCHOR
