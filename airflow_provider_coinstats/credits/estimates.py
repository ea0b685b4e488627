"""Estimate what CoinStats calls cost, in credits, before making them.

The prices are in :mod:`airflow_provider_coinstats.credits.prices`; this module applies
CoinStats' rules ("Credit Multipliers" page) to one call:

- cost = base credits x the multiplier of every multiplier parameter present (they multiply);
- a multiplier parameter's value counts its items: ``"ethereum,polygon"`` or ``["ethereum",
  "polygon"]`` count 2, and an ``all`` item counts 10, so ``ethereum,all`` counts 1 + 10 = 11;
- a nested body item such as ``{"address": ..., "connectionId": "all"}`` counts by its
  ``connectionId`` (else ``blockchain``), and a ``"connectionId:address"`` string by its prefix;
- some endpoints cost more when a parameter is missing (``PATCH /portfolio/sync`` without
  ``portfolioId`` syncs every portfolio: 10x; ``/wallet/balances`` without a network list means
  the spec's default ``blockchain=all``: 10x).

Paths may carry the ``/v1`` prefix, a query string, or a trailing slash; path parameters are
matched against the templates (``/coins/bitcoin`` is ``/coins/{coinId}``), literal segments
winning (``/coins/charts`` is not a coin id). The sandbox charges with this same function, so an
estimate and a sandbox charge cannot drift apart.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, NamedTuple, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from airflow_provider_coinstats.api.exceptions import CoinStatsConfigError
from airflow_provider_coinstats.api.models import whole
from airflow_provider_coinstats.api.validation import MAX_CREDITS, mapping, number, show, text
from airflow_provider_coinstats.credits.prices import ALL_MULTIPLIER, PRICES, Price

if TYPE_CHECKING:
    from airflow_provider_coinstats.api.models import Credits

PLAN_KEYS = ("method", "path", "params", "json", "times")
#: The most repetitions one planned call may state (a paginated pull's ``max_pages``).
MAX_TIMES = 1_000_000


class Endpoint(NamedTuple):
    """The price-list entry a concrete request resolved to.

    :param method: upper-case HTTP method, e.g. ``GET``.
    :param template: the path template, e.g. ``/coins/{coinId}``.
    :param path_params: the values taken from the path, e.g. ``{"coinId": "bitcoin"}``.
    """

    method: str
    template: str
    path_params: dict[str, str]

    @property
    def key(self) -> str:
        """The price-list key, e.g. ``GET /coins/{coinId}``."""
        return f"{self.method} {self.template}"


def normalize_path(path: str) -> str:
    """The API path as the price list writes it: ``/v1/coins/bitcoin/?a=1`` -> ``/coins/bitcoin``.

    Drops any scheme and host, the query string, a leading ``/v1`` and the trailing slash.
    """
    trimmed = "/" + urlsplit(path.strip()).path.strip("/")
    if trimmed == "/v1" or trimmed.startswith("/v1/"):
        trimmed = trimmed[len("/v1") :] or "/"
    return trimmed


def resolve_endpoint(method: str, path: str) -> Endpoint | None:
    """The price-list entry for ``method`` and a concrete ``path``, or None when none matches."""
    match = _best_match(method.strip().upper(), normalize_path(path), PRICES)
    if match is None:
        return None
    key, path_params = match
    key_method, template = key.split(" ", 1)
    return Endpoint(key_method, template, path_params)


def likely_endpoint(method: str, path: str) -> str | None:
    """The price-list entry ``METHOD /path`` most likely meant by an unknown one, or None.

    A mistyped path (``/coinz``) or the right path with the wrong method (``POST /coins``). Each
    template is compared with its parameters filled from the given path's own segments, so
    ``/coins/bitcoin/chartz`` is close to ``/coins/{coinId}/charts``.
    """
    asked = f"{method.strip().upper()} {normalize_path(path)}"
    for other in sorted({key.split(" ", 1)[0] for key in PRICES}):
        endpoint = resolve_endpoint(other, path)
        if endpoint is not None:
            return endpoint.key  # the path is right, the method is not
    segments = normalize_path(path).strip("/").split("/")
    filled: dict[str, str] = {}
    for key in PRICES:
        key_method, template = key.split(" ", 1)
        parts = template.strip("/").split("/")
        concrete = [
            segments[i] if part.startswith("{") and i < len(segments) else part
            for i, part in enumerate(parts)
        ]
        filled[f"{key_method} /{'/'.join(concrete)}"] = key
    close = difflib.get_close_matches(asked, filled, n=1, cutoff=0.8)
    return filled[close[0]] if close else None


def estimate_credits(
    method: str,
    path: str,
    params: Mapping[str, object] | None = None,
    json: object = None,
    *,
    price_overrides: Mapping[str, float] | None = None,
) -> Credits:
    """Credits one call costs.

    :param method: HTTP method, any case.
    :param path: API path, e.g. ``/coins/bitcoin``, ``/v1/coins`` or ``coins?page=2``.
    :param params: query parameters; a value may be a string, a list, or a number.
    :param json: the JSON body, for POST and PATCH calls whose body carries multipliers.
    :param price_overrides: base credits keyed ``"METHOD /path"`` (a template or a literal path),
        e.g. ``{"GET /wallet/pl/history": 25}``. They win over the price list; the price list's
        multiplier rules still apply to an endpoint it knows.
    :raises CoinStatsConfigError: the endpoint is not in the price list nor in the overrides,
        or an argument is malformed.
    """
    method = text("method", method, example="GET").upper()
    api_path = normalize_path(text("path", path, example="/coins"))
    if params is not None:
        mapping("params", params, example="{'limit': 100}")

    endpoint = resolve_endpoint(method, api_path)
    overrides = _parse_overrides(price_overrides)
    override = _best_match(method, api_path, overrides)
    if override is not None:
        base = overrides[override[0]]
    elif endpoint is not None:
        base = PRICES[endpoint.key].credits
    else:
        likely = likely_endpoint(method, api_path)
        typo = f"Did you mean {likely}? If not, pass " if likely else "Pass "
        raise CoinStatsConfigError(
            f"No credit price is known for {method} {api_path}. {typo}"
            f'price_overrides={{"{method} {api_path}": <credits per call>}} to price it.'
        )

    # A query string inside ``path`` counts too; explicit ``params`` win over it.
    query: dict[str, object] = dict(_query_in(path))
    query.update(params or {})
    rules = PRICES[endpoint.key] if endpoint is not None else Price(base)
    return whole(base * _multiplier(rules, query, json))


def estimate_plan(
    calls: Iterable[Mapping[str, object]],
    price_overrides: Mapping[str, float] | None = None,
) -> Credits:
    """Credits a list of planned calls costs in total.

    Each call is a mapping ``{"method": "GET", "path": "/coins", "params": {...}, "json": ...,
    "times": 1}``; only ``path`` is required, ``method`` defaults to GET and ``times`` to 1.

    :raises CoinStatsConfigError: a call is malformed or unpriced; the message names its index.
    """
    if isinstance(calls, Mapping | str | bytes) or not isinstance(calls, Iterable):
        raise CoinStatsConfigError(
            "estimate_plan takes a list of calls, e.g. [{'path': '/coins', 'times': 3}], "
            f"not {show(calls)}"
        )
    total: Credits = 0
    for index, call in enumerate(calls):
        where = f"calls[{index}]"
        mapping(where, call, example="{'path': '/coins', 'times': 3}")
        unknown = sorted(str(key) for key in call if key not in PLAN_KEYS)
        if unknown:
            raise CoinStatsConfigError(
                f"{where} has unknown key(s) {unknown}; allowed keys: {', '.join(PLAN_KEYS)}"
            )
        path = text(f"{where}: 'path'", call.get("path"), example="/coins")
        times = number(
            f"{where}: 'times'", call.get("times", 1), minimum=1, maximum=MAX_TIMES, whole=True
        )
        # estimate_credits validates method and params itself.
        method = cast("str", call.get("method", "GET"))
        params = cast("Mapping[str, object] | None", call.get("params"))
        try:
            cost = estimate_credits(
                method, path, params, call.get("json"), price_overrides=price_overrides
            )
        except CoinStatsConfigError as error:
            raise CoinStatsConfigError(f"{where}: {error.message}") from error
        total += cost * times
    return whole(total)


def _segments(path: str) -> list[str]:
    return [unquote(part) for part in path.strip("/").split("/")] if path.strip("/") else []


def _best_match(
    method: str, api_path: str, keys: Iterable[str]
) -> tuple[str, dict[str, str]] | None:
    """The key matching the path, preferring literal segments from the left; with its params."""
    segments = _segments(api_path)
    best: tuple[tuple[bool, ...], str, dict[str, str]] | None = None
    for key in keys:
        key_method, template = key.split(" ", 1)
        pattern = _segments(template)
        if key_method != method or len(pattern) != len(segments):
            continue
        path_params: dict[str, str] = {}
        for expected, actual in zip(pattern, segments, strict=True):
            if expected.startswith("{") and expected.endswith("}"):
                if not actual:
                    break
                path_params[expected[1:-1]] = actual
            elif expected != actual:
                break
        else:
            # (True, True) for /coins/charts beats (True, False) for /coins/{coinId}.
            score = tuple(not part.startswith("{") for part in pattern)
            if best is None or score > best[0]:
                best = (score, key, path_params)
    return None if best is None else (best[1], best[2])


def _parse_overrides(overrides: Mapping[str, float] | None) -> dict[str, Credits]:
    """Overrides keyed like the price list (upper-case method, normalised path)."""
    if overrides is None:
        return {}
    parsed: dict[str, Credits] = {}
    for key, credits in mapping("price_overrides", overrides, example='{"GET /coins": 2}').items():
        parts = key.split(None, 1) if isinstance(key, str) else []
        if len(parts) != 2 or not parts[0].isalpha():
            raise CoinStatsConfigError(
                f"price_overrides key {show(key, strings_expected=True)} must read "
                "'METHOD /path', e.g. 'GET /coins/{coinId}'"
            )
        parsed[f"{parts[0].upper()} {normalize_path(parts[1])}"] = number(
            f"price_overrides[{key!r}]", credits, minimum=0, maximum=MAX_CREDITS, unit="credits"
        )
    return parsed


def _query_in(path: str) -> dict[str, list[str]]:
    query: dict[str, list[str]] = {}
    for name, value in parse_qsl(urlsplit(path.strip()).query, keep_blank_values=True):
        query.setdefault(name, []).append(value)
    return query


def _multiplier(price: Price, query: Mapping[str, object], body: object) -> int:
    factor = 1
    given = {name: _items(_lookup(name, query, body)) for name in price.per_item}
    if not any(given.values()):
        # None of the alternatives given: the API applies its default (e.g. blockchain=all).
        given |= {name: _items(value) for name, value in price.defaults.items()}
    for items in given.values():
        if items:
            factor *= sum(_weight(item) for item in items)
    for name, times in price.if_absent.items():
        if not _items(_lookup(name, query, body)):
            factor *= times
    return factor


def _lookup(name: str, query: Mapping[str, object], body: object) -> object:
    if query.get(name) is not None:
        return query[name]
    return body.get(name) if isinstance(body, Mapping) else None


def _items(value: object) -> list[object]:
    """The items a parameter value counts as: split strings on commas, flatten lists."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple | set | frozenset):
        return [item for element in value for item in _items(element)]
    return [value]


def _weight(item: object) -> int:
    if isinstance(item, Mapping):
        # "If both are provided, connectionId will be used" (spec, WalletItemDto).
        connection = item.get("connectionId") or item.get("blockchain")
    else:
        # ``wallets`` items read "connectionId:address"; a bare network has no colon.
        connection = str(item).split(":", 1)[0]
    return ALL_MULTIPLIER if str(connection).strip().lower() == "all" else 1
