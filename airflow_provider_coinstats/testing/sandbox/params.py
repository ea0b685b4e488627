"""Which parameters each endpoint takes, as CoinStats' OpenAPI description states them, and the
check every request passes before it is charged.

The table is written in a compact form, one string per location: ``name`` is an optional
string, ``name!`` a required one; ``:number``, ``:boolean``, ``:object`` or ``:array`` give a
type, ``:a|b|c`` an enum; ``=value`` a default. The sandbox ships without the spec, so the rules
live here; the contract test (``tests/unit/testing/test_openapi_contract.py``) checks this table
against the spec, parameter by parameter.

A missing required parameter or a value of the wrong type or outside its enum answers 400 with
CoinStats' error body, naming the parameter (the wording of CoinStats' NestJS validation), and
charges nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_provider_coinstats.api.validation import is_number
from airflow_provider_coinstats.testing.sandbox.request import ApiError

if TYPE_CHECKING:
    from collections.abc import Mapping

PERIOD = "all|24h|1w|1m|3m|6m|1y"
CHART_TYPE = "24h|1w|1m|3m|6m|1y|all"
PAGE = "page:number limit:number"
SHARED = "sharetoken passcode"  # a shared portfolio's headers (Degen plan)
PL_HISTORY = "range from to interval! currency"  # the MCP server's pl/history parameters

# /coins filters: every field takes ~greaterThan, ~equals and ~lessThan.
FILTER_FIELDS = (
    "marketCap",
    "fullyDilutedValuation",
    "volume",
    "priceChange1h",
    "priceChange1d",
    "priceChange7d",
    "availableSupply",
    "totalSupply",
    "rank",
    "price",
    "riskScore",
)
FILTER_OPERATORS = ("greaterThan", "equals", "lessThan")
_FILTERS = " ".join(
    f"{field}~{operator}:number" for field in FILTER_FIELDS for operator in FILTER_OPERATORS
)
_COIN_SORT = "rank|marketCap|price|volume|priceChange1h|priceChange1d|priceChange7d|name|symbol"
_WALLET = "address! connectionId blockchain"


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter: where it goes, whether it is required, its type, enum and default."""

    name: str
    location: str  # "path", "query", "header" or "body"
    required: bool = False
    kind: str = "string"  # "string", "number", "boolean", "object" or "array"
    enum: tuple[str, ...] = ()
    default: str | None = None


def _parse(location: str, spec: str) -> tuple[Param, ...]:
    params = []
    for token in spec.split():
        token, _, default = token.partition("=")
        token, _, kind = token.partition(":")
        required = token.endswith("!")
        name = token.rstrip("!")
        enum = tuple(kind.split("|")) if "|" in kind else ()
        params.append(
            Param(
                name=name,
                location=location,
                required=required or location == "path",
                kind="string" if enum or not kind else kind,
                enum=enum,
                default=default or None,
            )
        )
    return tuple(params)


def _rules(path: str = "", query: str = "", header: str = "", body: str = "") -> tuple[Param, ...]:
    return (
        _parse("path", path)
        + _parse("query", query)
        + _parse("header", header)
        + _parse("body", body)
    )


#: Every endpoint's parameters, keyed like the price list.
PARAMETERS: dict[str, tuple[Param, ...]] = {
    # Market Data
    "GET /coins": _rules(
        query=f"{PAGE} coinIds currency name symbol contractAddresses blockchains "
        f"includeRiskScore categories sortBy:{_COIN_SORT} sortDir:asc|desc {_FILTERS}"
    ),
    "GET /coins/charts": _rules(query=f"period!:{PERIOD} coinIds!"),
    "GET /coins/{coinId}": _rules(path="coinId", query="currency=USD"),
    "GET /coins/{coinId}/charts": _rules(path="coinId", query=f"period!:{PERIOD}"),
    "GET /coins/price/avg": _rules(query="coinId! timestamp!:number"),
    "GET /coins/price/exchange": _rules(query="exchange! from! to! timestamp!:number"),
    "GET /tickers/exchanges": _rules(),
    "GET /tickers/markets": _rules(
        query=f"{PAGE} exchange fromCoin toCoin coinId onlyVerified:boolean"
    ),
    "GET /fiats": _rules(),
    "GET /markets": _rules(),
    "GET /currencies": _rules(),
    # Wallet Data
    "GET /wallet/blockchains": _rules(),
    "GET /wallet/balance": _rules(query=_WALLET),
    "GET /wallet/balances": _rules(query="address networks blockchain=all wallets"),
    "GET /wallet/status": _rules(query=_WALLET),
    "GET /wallet/transactions": _rules(
        query=f"{PAGE} from to currency types address connectionId blockchain txId coinId wallets"
    ),
    "PATCH /wallet/transactions": _rules(
        query="address connectionId blockchain", body="wallets:array"
    ),
    "GET /wallet/chart": _rules(query=f"type!:{CHART_TYPE} {_WALLET}"),
    "GET /wallet/charts": _rules(query=f"type!:{CHART_TYPE} wallets! aggregated:true|false=true"),
    "GET /wallet/defi": _rules(query=_WALLET),
    "GET /wallet/pl/history": _rules(query=f"{_WALLET} {PL_HISTORY}"),
    # Exchange Connection
    "GET /exchange/support": _rules(),
    "POST /exchange/balance": _rules(body="connectionFields!:object connectionId! name"),
    "GET /exchange/status": _rules(query="portfolioId!"),
    "GET /exchange/transactions": _rules(query=f"{PAGE} from to currency types portfolioId!"),
    "GET /exchange/chart": _rules(query=f"portfolioId! type!:{CHART_TYPE}"),
    "PATCH /exchange/sync": _rules(query="portfolioId!"),
    "GET /exchange/pl/history": _rules(query=f"portfolioId! {PL_HISTORY}"),
    # NFTs
    "GET /nft/trending": _rules(query=PAGE),
    "GET /nft/wallet/{address}/assets": _rules(path="address", query=PAGE),
    "GET /nft/collection/{collectionAddress}": _rules(path="collectionAddress"),
    "GET /nft/{collectionAddress}/assets": _rules(
        path="collectionAddress", query=f"{PAGE} type:listed|all"
    ),
    "GET /nft/{collectionAddress}/asset/{tokenId}": _rules(path="collectionAddress tokenId"),
    # News
    "GET /news/sources": _rules(),
    "GET /news": _rules(query=f"{PAGE} from to"),
    "GET /news/type/{type}": _rules(
        path="type:handpicked|trending|latest|bullish|bearish", query=PAGE
    ),
    "GET /news/{id}": _rules(path="id"),
    # Portfolio
    "POST /portfolio/wallet": _rules(body="address! connectionId! name"),
    "POST /portfolio/exchange": _rules(body="connectionId! connectionFields!:object name"),
    "GET /portfolio/list": _rules(),
    "GET /portfolio/value": _rules(header=SHARED, query="currency=USD portfolioId"),
    "GET /portfolio/coins": _rules(
        header=SHARED, query=f"{PAGE} includeRiskScore:true|false=false portfolioId"
    ),
    "GET /portfolio/chart": _rules(header=SHARED, query=f"type!:{CHART_TYPE} portfolioId"),
    "GET /portfolio/transactions": _rules(
        header=SHARED, query=f"{PAGE} currency! coinId portfolioId"
    ),
    "POST /portfolio/transaction": _rules(
        header=SHARED,
        body="coinId! count!:number date:number price:number portfolioId currency notes",
    ),
    "GET /portfolio/defi": _rules(header=SHARED, query="portfolioId"),
    "GET /portfolio/snapshot/items": _rules(
        header=SHARED, query=f"{PAGE} portfolioId from to coinIds"
    ),
    "GET /portfolio/status": _rules(query="portfolioId!"),
    "PATCH /portfolio/sync": _rules(query="portfolioId"),
    "DELETE /portfolio/{portfolioId}": _rules(path="portfolioId"),
    "GET /portfolio/pl/history": _rules(header=SHARED, query=f"portfolioId {PL_HISTORY}"),
    # Market Insights
    "GET /insights/btc-dominance": _rules(query=f"type!:{CHART_TYPE}"),
    "GET /insights/fear-and-greed": _rules(),
    "GET /insights/fear-and-greed/chart": _rules(),
    "GET /insights/rainbow-chart/{coinId}": _rules(path="coinId:bitcoin|ethereum"),
    # Usage
    "GET /usage/credits": _rules(),
}


def check(key: str, path_params: Mapping[str, str], query: Mapping[str, str], body: object) -> None:
    """Refuse a request whose parameters break ``key``'s rules.

    :raises ApiError: 400, naming the first parameter at fault.
    """
    params = PARAMETERS.get(key, ())
    body_params = [param for param in params if param.location == "body"]
    if body_params and body is not None and not isinstance(body, dict):
        raise ApiError(400, f"the request body should be a JSON object, got {type(body).__name__}")
    fields = body if isinstance(body, dict) else {}
    for param in params:
        if param.location == "header":
            continue
        if param.location == "body":
            _check_field(param, fields.get(param.name))
            continue
        source = path_params if param.location == "path" else query
        value = source.get(param.name)
        if value is None or not value.strip():
            if param.required:
                raise ApiError(400, f"{param.name} should not be empty")
            continue
        _check_text(param, value.strip())


def _check_text(param: Param, value: str) -> None:
    if param.enum and value not in param.enum:
        raise ApiError(
            400, f"{param.name} must be one of the following values: {', '.join(param.enum)}"
        )
    if param.kind == "number":
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ApiError(400, f"{param.name} must be a number, got {value!r}")
    if param.kind == "boolean" and value not in ("true", "false"):
        raise ApiError(400, f"{param.name} must be a boolean value (true or false), got {value!r}")


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def _check_field(param: Param, value: object) -> None:
    if value is None or value == "":
        if param.required:
            raise ApiError(400, f"{param.name} should not be empty")
        return
    wrong = not isinstance(value, _JSON_TYPES[param.kind]) or (
        param.kind == "number" and not is_number(value)
    )
    if wrong:
        raise ApiError(400, f"{param.name} must be a {param.kind}, got {value!r}")
