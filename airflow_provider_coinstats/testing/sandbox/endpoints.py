"""What the API endpoints answer: the market, news, NFT and insight endpoints live here, the
wallet and portfolio ones in :mod:`.routes_wallet` and :mod:`.routes_portfolio`.

Each handler takes the parsed request and the sandbox's :class:`World`, and returns the JSON body
or raises :class:`ApiError` (refunded). Parameters were already checked against
:mod:`.params` when a handler runs. ``/usage/credits`` reads the account, so the server answers it.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_coinstats.testing.sandbox import data, market, nfts
from airflow_provider_coinstats.testing.sandbox.params import FILTER_FIELDS
from airflow_provider_coinstats.testing.sandbox.request import (
    MAX_LIMIT,
    ApiError,
    ApiRequest,
    currency_rate,
    ids,
    page_of,
    when,
)
from airflow_provider_coinstats.testing.sandbox.routes_portfolio import PORTFOLIO_ROUTES
from airflow_provider_coinstats.testing.sandbox.routes_wallet import WALLET_ROUTES

if TYPE_CHECKING:
    from airflow_provider_coinstats.testing.sandbox.accounts import Accounts

__all__ = ["MAX_LIMIT", "ROUTES", "ApiError", "ApiRequest", "World", "answer"]


@dataclass(frozen=True, slots=True)
class World:
    """The per-sandbox state handlers read: portfolios and syncs, and the plan's name."""

    accounts: Accounts
    plan: Callable[[], str]


def answer(key: str, request: ApiRequest, world: World) -> object:
    """The body for the endpoint ``key`` (e.g. ``GET /coins``)."""
    handler = ROUTES.get(key) or WALLET_ROUTES.get(key) or PORTFOLIO_ROUTES.get(key)
    if handler is None:  # a priced endpoint nobody wrote a handler for: a sandbox bug
        raise ApiError(501, f"the sandbox does not implement {key}")
    return handler(request, world)


# ---------------------------------------------------------------- coins

# The /coins filter names that differ from the coin's field name.
_FIELD_OF = {"priceChange7d": "priceChange1w"}
_MONEY_FIELDS = ("price", "volume", "marketCap", "fullyDilutedValuation")


def _coin_value(coin: dict[str, object], field: str) -> float:
    if field == "riskScore":
        return data.risk_scores(str(coin["id"]))["riskScore"]
    return data.num(coin[_FIELD_OF.get(field, field)])


def _filtered(request: ApiRequest) -> list[dict[str, object]]:
    coins = list(data.COINS)
    if request.text("coinIds"):
        wanted = set(ids(request.query["coinIds"]))
        coins = [coin for coin in coins if coin["id"] in wanted]
    if request.text("symbol"):
        symbol = request.query["symbol"].strip().upper()
        coins = [coin for coin in coins if coin["symbol"] == symbol]
    if request.text("name"):
        name = request.query["name"].strip().lower()
        coins = [coin for coin in coins if name in str(coin["name"]).lower()]
    if request.text("blockchains"):
        chains = {chain.lower() for chain in ids(request.query["blockchains"])}
        coins = [coin for coin in coins if _chains_of(coin) & chains]
    if request.text("contractAddresses"):
        wanted = {address.lower() for address in ids(request.query["contractAddresses"])}
        coins = [coin for coin in coins if str(coin.get("contractAddress", "")) in wanted]
    if request.text("categories"):
        picked = {name.lower() for name in ids(request.query["categories"])}
        coins = [coin for coin in coins if data.categories_of(str(coin["id"])) & picked]
    for field in FILTER_FIELDS:
        for name, keep in _OPERATORS.items():
            raw = request.text(f"{field}~{name}")
            if raw:
                limit = float(raw)  # params.check made sure it is a number
                coins = [c for c in coins if keep(_coin_value(c, field), limit)]
    return coins


_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "greaterThan": operator.gt,
    "equals": operator.eq,
    "lessThan": operator.lt,
}


def _chains_of(coin: dict[str, object]) -> set[str]:
    """The chains a coin lives on: its own (a layer 1), else Ethereum (tokens)."""
    coin_id = str(coin["id"])
    native = {"binance-coin": "binance-smart-chain", "avalanche-2": "avalanche"}.get(coin_id)
    if "layer-1" in data.categories_of(coin_id):
        return {native or coin_id}
    return {"ethereum"}


def _sorted(request: ApiRequest, coins: list[dict[str, object]]) -> list[dict[str, object]]:
    sort_by = request.text("sortBy")
    direction = request.text(
        "sortDir", "asc" if sort_by in ("", "rank", "name", "symbol") else "desc"
    )
    if not sort_by:
        sort_by = "rank"
    if sort_by in ("name", "symbol"):
        return sorted(coins, key=lambda c: str(c[sort_by]).lower(), reverse=direction == "desc")
    return sorted(coins, key=lambda c: _coin_value(c, sort_by), reverse=direction == "desc")


def _present(coin: dict[str, object], rate: float, with_risk: bool) -> dict[str, object]:
    shown = dict(coin)
    if rate != 1.0:
        for field in _MONEY_FIELDS:
            shown[field] = data.sig(float(coin[field]) * rate)  # type: ignore[arg-type]
    if with_risk:
        shown |= data.risk_scores(str(coin["id"]))
    return shown


def _coins(request: ApiRequest, _: World) -> object:
    rate = currency_rate(request)[1]
    with_risk = request.text("includeRiskScore") == "true"
    coins = _sorted(request, _filtered(request))
    result, meta = page_of(request, coins)
    return {"meta": meta, "result": [_present(coin, rate, with_risk) for coin in result]}


def _find_coin(coin_id: str) -> dict[str, object]:
    if coin_id not in data.COINS_BY_ID:
        raise ApiError(404, f"Coin {coin_id} not found")
    return data.COINS_BY_ID[coin_id]


def _coin(request: ApiRequest, _: World) -> object:
    rate = currency_rate(request)[1]
    return _present(_find_coin(request.path_params["coinId"]), rate, with_risk=False)


def _coin_chart(request: ApiRequest, _: World) -> object:
    coin = _find_coin(request.path_params["coinId"])
    return data.chart(str(coin["id"]), request.query["period"].strip())


def _coins_charts(request: ApiRequest, _: World) -> object:
    period = request.query["period"].strip()
    wanted = ids(request.query["coinIds"])
    if "all" in wanted:  # CoinStats' "all": the top coins (each all counts 10 credits)
        wanted = [str(coin["id"]) for coin in data.COINS[:10]] + [w for w in wanted if w != "all"]
    charts: list[dict[str, object]] = []
    for coin_id in wanted:
        if coin_id in data.COINS_BY_ID:
            charts.append({"coinId": coin_id, "chart": data.chart(coin_id, period)})
        else:
            # CoinStats answers the coins it knows and flags the rest (CoinsChartsResponseDto).
            charts.append(
                {"coinId": coin_id, "chart": [], "errorMessage": "ERR_COIN_CHART_NOT_FOUND"}
            )
    return charts


def _avg_price(request: ApiRequest, _: World) -> object:
    coin = _find_coin(request.query["coinId"].strip())
    timestamp = float(request.query["timestamp"])
    usd = market.price_at(str(coin["id"]), timestamp)
    return {
        "USD": usd,
        "BTC": data.sig(usd / market.price_at("bitcoin", timestamp)),
        "ETH": data.sig(usd / market.price_at("ethereum", timestamp)),
    }


def _symbol_coin(symbol: str) -> str:
    for coin in data.COINS:
        if str(coin["symbol"]).upper() == symbol.upper():
            return str(coin["id"])
    if symbol.upper() in data.fiat_names():
        return symbol.upper()
    raise ApiError(404, f"Coin with symbol {symbol} not found")


def _exchange_price(request: ApiRequest, _: World) -> object:
    exchange = request.query["exchange"].strip()
    if exchange.lower() not in {row[0] for row in market.TICKER_EXCHANGES}:
        raise ApiError(400, f"Unsupported exchange {exchange!r}; see /tickers/exchanges")
    timestamp = float(request.query["timestamp"])

    def usd(symbol: str) -> float:
        coin = _symbol_coin(symbol)
        return (
            1 / data.fiat_rate(coin)
            if coin in data.fiat_names()
            else market.price_at(coin, timestamp)
        )

    return {"price": data.sig(usd(request.query["from"]) / usd(request.query["to"]))}


def _tickers(request: ApiRequest, _: World) -> object:
    rows = market.tickers()
    exchange = request.text("exchange").lower()
    if exchange:
        rows = [row for row in rows if str(row["exchange"]).lower() == exchange]
    for name, field in (("fromCoin", "from"), ("toCoin", "to")):
        if request.text(name):
            rows = [row for row in rows if str(row[field]).upper() == request.text(name).upper()]
    if request.text("coinId"):
        rows = [row for row in rows if row["coinId"] == request.text("coinId")]
    if request.text("onlyVerified") == "true":
        rows = [row for row in rows if row["verified"]]
    result, meta = page_of(request, rows)
    # The spec's TickerMarketListResponseDto is a one-element list around the page.
    return [{"meta": meta, "result": result}]


# ---------------------------------------------------------------- news


def _is_trending(item: dict[str, object]) -> bool:
    return int(hashlib.sha256(str(item["id"]).encode()).hexdigest(), 16) % 3 == 0


def _title_has(*words: str) -> Callable[[dict[str, object]], bool]:
    return lambda item: any(word in str(item["title"]) for word in words)


_NEWS_TYPES: dict[str, Callable[[dict[str, object]], bool]] = {
    "handpicked": lambda item: bool(item["isFeatured"]),
    "trending": _is_trending,
    "latest": lambda item: True,
    "bullish": _title_has("climbs", "outpaced", "ships"),
    "bearish": _title_has("steady", "split"),
}


def _news(request: ApiRequest, _: World) -> object:
    items = list(data.NEWS)
    bounds: dict[str, Callable[[float, float], bool]] = {"from": operator.ge, "to": operator.le}
    for name, keep in bounds.items():
        if request.text(name):
            limit = when(request, name)
            items = [item for item in items if keep(data.num(item["feedDate"]) / 1000, limit)]
    # CoinStats' NewsListResponseDto has no meta: a short page is the last one.
    result = page_of(request, items)[0]
    return {"result": result}


def _news_by_type(request: ApiRequest, _: World) -> object:
    keep = _NEWS_TYPES[request.path_params["type"]]
    result = page_of(request, [item for item in data.NEWS if keep(item)])[0]
    return result


def _news_item(request: ApiRequest, _: World) -> object:
    news_id = request.path_params["id"]
    if news_id not in data.NEWS_BY_ID:
        raise ApiError(404, f"News {news_id} not found")
    return data.NEWS_BY_ID[news_id]


# ---------------------------------------------------------------- NFTs


def _collection_address(request: ApiRequest) -> str:
    address = request.path_params["collectionAddress"]
    if nfts.find(address) is None:
        raise ApiError(404, f"NFT collection {address} not found")
    return address.lower()


def _nft_page(request: ApiRequest, items: list[dict[str, object]]) -> object:
    result, meta = page_of(request, items)
    return {"meta": meta, "data": result}


def _nft_assets(request: ApiRequest, _: World) -> object:
    items = nfts.assets(_collection_address(request))
    if request.text("type") == "listed":
        items = [item for item in items if "listPrice" in item]
    return _nft_page(request, items)


def _nft_asset(request: ApiRequest, _: World) -> object:
    address = _collection_address(request)
    token_id = request.path_params["tokenId"]
    supply = nfts.BY_ADDRESS[address][3]
    if not token_id.isdigit() or int(token_id) >= supply:
        raise ApiError(404, f"Token {token_id} of collection {address} not found")
    return nfts.asset(address, token_id)


ROUTES: dict[str, Callable[[ApiRequest, World], object]] = {
    "GET /coins": _coins,
    "GET /coins/{coinId}": _coin,
    "GET /coins/{coinId}/charts": _coin_chart,
    "GET /coins/charts": _coins_charts,
    "GET /coins/price/avg": _avg_price,
    "GET /coins/price/exchange": _exchange_price,
    "GET /tickers/exchanges": lambda _, __: market.ticker_exchanges(),
    "GET /tickers/markets": _tickers,
    "GET /markets": lambda _, __: data.markets(),
    "GET /fiats": lambda _, __: data.fiats(),
    "GET /currencies": lambda _, __: {"result": market.currencies()},
    "GET /news": _news,
    "GET /news/sources": lambda _, __: data.news_sources(),
    "GET /news/type/{type}": _news_by_type,
    "GET /news/{id}": _news_item,
    "GET /nft/trending": lambda request, _: _nft_page(request, nfts.trending()),
    "GET /nft/wallet/{address}/assets": lambda request, _: _nft_page(
        request, nfts.wallet_assets(request.path_params["address"])
    ),
    "GET /nft/collection/{collectionAddress}": lambda request, _: nfts.collection(
        _collection_address(request)
    ),
    "GET /nft/{collectionAddress}/assets": _nft_assets,
    "GET /nft/{collectionAddress}/asset/{tokenId}": _nft_asset,
    "GET /insights/btc-dominance": lambda request, _: {
        "data": market.btc_dominance(request.query["type"].strip())
    },
    "GET /insights/fear-and-greed": lambda _, __: market.fear_and_greed(),
    "GET /insights/fear-and-greed/chart": lambda _, __: market.fear_and_greed_chart(),
    "GET /insights/rainbow-chart/{coinId}": lambda request, _: market.rainbow_chart(
        request.path_params["coinId"]
    ),
}
