"""The API endpoints the sandbox answers with data, keyed like the price list.

Each handler takes the parsed request and returns the JSON body, or raises :class:`ApiError`
for a 400 or 404. Priced endpoints without a handler answer ``{"result": []}``, so every
endpoint in the price list is served and charged. ``/usage/credits`` reads the account, so the
server answers it itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_coinstats.testing.sandbox import data

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

MAX_LIMIT = 1_000  # PageMetaDto's documented maximum


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
    """

    path_params: Mapping[str, str]
    query: Mapping[str, str]
    body: object = None

    def required(self, name: str) -> str:
        value = self.query.get(name, "").strip()
        if not value:
            raise ApiError(400, f"{name} should not be empty")
        return value


def answer(key: str, request: ApiRequest) -> object:
    """The body for the endpoint ``key`` (e.g. ``GET /coins``)."""
    handler = ROUTES.get(key)
    return handler(request) if handler is not None else {"result": []}


def _page(
    request: ApiRequest, items: list[dict[str, object]]
) -> tuple[list[object], dict[str, object]]:
    """The requested page (1-based ``page``, ``limit``) of ``items``, and CoinStats' page meta."""
    page = _positive_int(request, "page", 1)
    limit = _positive_int(request, "limit", 20)
    if limit > MAX_LIMIT:
        raise ApiError(400, f"limit must not be greater than {MAX_LIMIT}")
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


def _positive_int(request: ApiRequest, name: str, default: int) -> int:
    raw = request.query.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ApiError(400, f"{name} must be a positive integer, got {raw!r}")
    return value


def _period(request: ApiRequest) -> str:
    period = request.required("period")
    if period not in data.PERIODS:
        raise ApiError(400, f"period must be one of: {', '.join(data.PERIODS)}")
    return period


def _ids(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _coins(request: ApiRequest) -> object:
    coins = list(data.COINS)
    if request.query.get("coinIds"):
        wanted = set(_ids(request.query["coinIds"]))
        coins = [coin for coin in coins if coin["id"] in wanted]
    if request.query.get("symbol"):
        symbol = request.query["symbol"].upper()
        coins = [coin for coin in coins if coin["symbol"] == symbol]
    if request.query.get("name"):
        name = request.query["name"].lower()
        coins = [coin for coin in coins if name in str(coin["name"]).lower()]
    result, meta = _page(request, coins)
    return {"meta": meta, "result": result}


def _coin(request: ApiRequest) -> object:
    coin_id = request.path_params["coinId"]
    if coin_id not in data.COINS_BY_ID:
        raise ApiError(404, f"Coin {coin_id} not found")
    return data.COINS_BY_ID[coin_id]


def _coin_chart(request: ApiRequest) -> object:
    period = _period(request)
    coin = _coin(request)
    assert isinstance(coin, dict)
    return data.chart(str(coin["id"]), period)


def _coins_charts(request: ApiRequest) -> object:
    period = _period(request)
    charts: list[dict[str, object]] = []
    for coin_id in _ids(request.required("coinIds")):
        if coin_id in data.COINS_BY_ID:
            charts.append({"coinId": coin_id, "chart": data.chart(coin_id, period)})
        else:
            # CoinStats answers the coins it knows and flags the rest (CoinsChartsResponseDto).
            charts.append(
                {"coinId": coin_id, "chart": [], "errorMessage": "ERR_COIN_CHART_NOT_FOUND"}
            )
    return charts


def _connection(value: str) -> str:
    connection_id = data.find_blockchain(value)
    if connection_id is None:
        raise ApiError(400, f"Unsupported blockchain {value!r}; see /wallet/blockchains")
    return connection_id


def _wallet_balance(request: ApiRequest) -> object:
    address = request.required("address")
    chosen = request.query.get("connectionId") or request.query.get("blockchain")
    if not chosen:
        raise ApiError(400, "Either connectionId or blockchain must be provided")
    return data.wallet_balance(address, _connection(chosen))


def _wallet_balances(request: ApiRequest) -> object:
    # Either wallets=connectionId:address,... or one address across networks (or blockchain).
    # The sandbox asks for the networks explicitly instead of defaulting to "all" (400 credits).
    if request.query.get("wallets"):
        pairs = [item.partition(":") for item in _ids(request.query["wallets"])]
        if any(not address for _, _, address in pairs):
            raise ApiError(400, "wallets items should read connectionId:address")
        wallets = [(connection, address) for connection, _, address in pairs]
    else:
        address = request.required("address")
        networks = request.query.get("networks") or request.query.get("blockchain")
        if not networks:
            raise ApiError(400, "networks should not be empty (e.g. ethereum,polygon or all)")
        wallets = [(network, address) for network in _ids(networks)]
    result: list[dict[str, object]] = []
    for network, address in wallets:
        ids = data.connection_ids() if network == "all" else [_connection(network)]
        result.extend(
            {
                "blockchain": connection_id,
                "address": address,
                "connectionId": connection_id,
                "balances": data.wallet_balance(address, connection_id),
            }
            for connection_id in ids
        )
    return result


def _news(request: ApiRequest) -> object:
    # CoinStats' NewsListResponseDto has no meta: a short page is the last one.
    result, _ = _page(request, list(data.NEWS))
    return {"result": result}


def _news_item(request: ApiRequest) -> object:
    news_id = request.path_params["id"]
    if news_id not in data.NEWS_BY_ID:
        raise ApiError(404, f"News {news_id} not found")
    return data.NEWS_BY_ID[news_id]


ROUTES: dict[str, Callable[[ApiRequest], object]] = {
    "GET /coins": _coins,
    "GET /coins/{coinId}": _coin,
    "GET /coins/{coinId}/charts": _coin_chart,
    "GET /coins/charts": _coins_charts,
    "GET /markets": lambda _: data.markets(),
    "GET /fiats": lambda _: data.fiats(),
    "GET /wallet/blockchains": lambda _: data.blockchains(),
    "GET /wallet/balance": _wallet_balance,
    "GET /wallet/balances": _wallet_balances,
    "GET /news": _news,
    "GET /news/sources": lambda _: data.news_sources(),
    "GET /news/{id}": _news_item,
}
