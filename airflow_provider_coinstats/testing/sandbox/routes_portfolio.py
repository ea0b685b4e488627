"""The exchange and portfolio endpoints, answered from the sandbox's :class:`Accounts`: a
portfolio connected with ``POST /portfolio/wallet`` or ``POST /portfolio/exchange`` is listed by
``/portfolio/list``, valued by ``/portfolio/value``, charted, synced and deleted by id.

Without ``portfolioId`` the portfolio reads aggregate every portfolio (as CoinStats does); with a
``sharetoken`` header they read a shared portfolio, which needs the Degen plan (403 otherwise).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from airflow_provider_coinstats.testing.sandbox import data, ledger
from airflow_provider_coinstats.testing.sandbox.accounts import (
    DEFAULT_FIELDS,
    EXCHANGE_FIELDS,
    EXCHANGES,
    Portfolio,
)
from airflow_provider_coinstats.testing.sandbox.request import (
    ApiError,
    ApiRequest,
    currency_rate,
    history_window,
    ids,
    page_of,
    when,
)
from airflow_provider_coinstats.testing.sandbox.routes_wallet import (
    TRANSACTIONS_MAX_LIMIT,
    connection,
    defi,
    defi_total,
    transaction,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_coinstats.testing.sandbox.endpoints import World


def _degen_only(world: World) -> None:
    if world.plan().strip().upper() != "DEGEN":
        raise ApiError(403, "Forbidden resource: this endpoint needs the Degen plan")


def _targets(request: ApiRequest, world: World) -> list[Portfolio]:
    # The spec sends it as a header; CoinStats' MCP server as a query parameter. Both work.
    token = request.headers.get("sharetoken", "").strip() or request.text("shareToken")
    if token:
        _degen_only(world)
        digest = hashlib.sha256(f"share:{token}".encode()).hexdigest()[:24]
        return [Portfolio(digest, "Shared portfolio", "shared", "shared", token)]
    return world.accounts.selected(request.text("portfolioId"))


def _combined(portfolios: list[Portfolio], world: World) -> ledger.Holdings:
    total: ledger.Holdings = {}
    for portfolio in portfolios:
        for coin, amount in world.accounts.holdings(portfolio).items():
            total[coin] = total.get(coin, 0.0) + amount
    return total


def _key(portfolios: list[Portfolio]) -> str:
    return "portfolio:" + ",".join(sorted(p.id for p in portfolios))


def _summary(portfolio: Portfolio, world: World) -> dict[str, object]:
    return {
        "id": portfolio.id,
        "name": portfolio.name,
        "connectionId": portfolio.connection_id,
        "status": world.accounts.status(portfolio),
    }


# ---------------------------------------------------------------- exchanges


def _support(_: ApiRequest, __: World) -> object:
    return [
        {
            "connectionId": connection_id,
            "name": name,
            "icon": f"{data.ASSETS_URL}/portfolio_images/{connection_id}_dark.png",
            "connectionFields": [
                {"name": label, "key": key}
                for label, key in EXCHANGE_FIELDS.get(connection_id, DEFAULT_FIELDS)
            ],
        }
        for connection_id, name, _ in EXCHANGES
    ]


def _connect_exchange(request: ApiRequest, world: World) -> tuple[Portfolio, bool]:
    connection_id = str(request.body_field("connectionId"))
    fields = request.body_field("connectionFields")
    assert isinstance(fields, dict)  # params.check made sure
    needed = [key for _, key in EXCHANGE_FIELDS.get(connection_id, DEFAULT_FIELDS)]
    missing = [key for key in needed if not fields.get(key)]
    if connection_id in {row[0] for row in EXCHANGES} and missing:
        raise ApiError(400, f"connectionFields.{missing[0]} should not be empty")
    name = request.body_field("name")
    return world.accounts.connect_exchange(connection_id, fields, str(name) if name else None)


def _exchange_balance(request: ApiRequest, world: World) -> object:
    portfolio, _ = _connect_exchange(request, world)
    balances = [
        {
            "coinId": coin,
            "amount": amount,
            "price": data.price_of(coin),
            "priceBtc": data.COINS_BY_ID[coin]["priceBtc"],
        }
        for coin, amount in world.accounts.holdings(portfolio).items()
    ]
    return {"balances": balances, "portfolio": _summary(portfolio, world)}


def _exchange(request: ApiRequest, world: World) -> Portfolio:
    return world.accounts.get(request.required("portfolioId"), kind="exchange")


def _exchange_status(request: ApiRequest, world: World) -> object:
    return {"status": world.accounts.status(_exchange(request, world))}


def _exchange_sync(request: ApiRequest, world: World) -> object:
    world.accounts.sync([_exchange(request, world)])
    return {"success": True}


def _exchange_transactions(request: ApiRequest, world: World) -> object:
    portfolio = _exchange(request, world)
    rate = currency_rate(request)[1]
    rows = [
        transaction(trade, portfolio.connection_id, "ethereum", rate)
        for trade in ledger.buys(world.accounts.holdings(portfolio), f"exchange:{portfolio.id}")
    ]
    if request.text("types"):
        rows = [row for row in rows if row["type"] in set(ids(request.query["types"]))]
    result, meta = page_of(request, rows, TRANSACTIONS_MAX_LIMIT)
    return {"meta": {"page": meta["page"], "limit": meta["limit"]}, "result": result}


def _exchange_chart(request: ApiRequest, world: World) -> object:
    portfolio = _exchange(request, world)
    return {"result": ledger.chart(world.accounts.holdings(portfolio), request.query["type"])}


def _exchange_pl(request: ApiRequest, world: World) -> object:
    portfolio = _exchange(request, world)
    rate = currency_rate(request)[1]
    return ledger.pl_history(
        world.accounts.holdings(portfolio),
        f"exchange:{portfolio.id}",
        history_window(request),
        request.text("interval"),
        rate,
    )


# ---------------------------------------------------------------- portfolios


def _connect_wallet(request: ApiRequest, world: World) -> object:
    address = str(request.body_field("address"))
    connection_id = connection(str(request.body_field("connectionId")))
    name = request.body_field("name")
    portfolio, new = world.accounts.connect_wallet(
        address, connection_id, str(name) if name else None
    )
    status = "connected" if new else "existing"
    return {"portfolioId": portfolio.id, "connectionId": connection_id, "status": status}


def _connect_portfolio_exchange(request: ApiRequest, world: World) -> object:
    portfolio, new = _connect_exchange(request, world)
    status = "connected" if new else "existing"
    return {
        "portfolioId": portfolio.id,
        "connectionId": portfolio.connection_id,
        "status": status,
    }


def _list(_: ApiRequest, world: World) -> object:
    return {"result": [_summary(portfolio, world) for portfolio in world.accounts.all()]}


def _value(request: ApiRequest, world: World) -> object:
    rate = currency_rate(request)[1]
    portfolios = _targets(request, world)
    holdings = _combined(portfolios, world)
    worth = ledger.value(holdings)
    invested = ledger.cost(holdings, _key(portfolios))
    defi_value = sum(
        defi_total(p.identity, [p.connection_id]) for p in portfolios if p.kind == "wallet"
    )
    unrealized = worth - invested
    realized = 0.0  # the sandbox's portfolios only ever bought
    return {
        "totalValue": round(worth * rate, 2),
        "defiValue": round(defi_value * rate, 2),
        "totalCost": round(invested * rate, 2),
        "unrealizedProfitLoss": round(unrealized * rate, 2),
        "unrealizedProfitLossPercent": round(100 * unrealized / invested, 2) if invested else 0.0,
        "realizedProfitLoss": realized,
        "realizedProfitLossPercent": 0.0,
        "allTimeProfitLoss": round((unrealized + realized) * rate, 2),
        "allTimeProfitLossPercent": round(100 * unrealized / invested, 2) if invested else 0.0,
    }


def _coins(request: ApiRequest, world: World) -> object:
    portfolios = _targets(request, world)
    holdings = _combined(portfolios, world)
    trades = ledger.buys(holdings, _key(portfolios))
    items = []
    for coin_id, count in sorted(holdings.items(), key=lambda kv: -kv[1] * data.price_of(kv[0])):
        paid = sum(
            data.num(t["count"]) * data.num(t["price"]) for t in trades if t["coinId"] == coin_id
        )
        worth = count * data.price_of(coin_id)
        day = worth * data.num(data.COINS_BY_ID[coin_id]["priceChange1d"]) / 100
        profit = {
            "allTime": ledger.triple(worth - paid),
            "hour24": ledger.triple(day),
            "lastTrade": ledger.triple(0.0),
            "unrealized": ledger.triple(worth - paid),
            "realized": ledger.triple(0.0),
        }
        percent = {
            name: ledger.triple(100 * (worth - paid) / paid if paid else 0.0) for name in profit
        }
        item: dict[str, object] = {
            "count": count,
            "coin": ledger.coin_dto(coin_id),
            "price": ledger.triple(data.price_of(coin_id)),
            "profit": profit,
            "averageBuy": {"allTime": ledger.triple(paid / count if count else 0.0)},
            "profitPercent": percent,
        }
        if request.text("includeRiskScore") == "true":
            item |= data.risk_scores(coin_id)
        items.append(item)
    result = page_of(request, items)[0]
    return {"result": result}


def _chart(request: ApiRequest, world: World) -> object:
    holdings = _combined(_targets(request, world), world)
    return {"result": ledger.chart(holdings, request.query["type"].strip())}


def _info(portfolio: Portfolio) -> dict[str, object]:
    return {
        "name": portfolio.name,
        "icon": f"{data.ASSETS_URL}/portfolio_images/{portfolio.connection_id}.png",
    }


def _item(
    trade: dict[str, object], portfolio: Portfolio, rate: float, note: str = ""
) -> dict[str, object]:
    """One TransactionItemDto: a buy of ``trade``'s coin in ``portfolio``."""
    coin_id = str(trade["coinId"])
    count = data.num(trade["count"])
    price = data.num(trade["price"])
    now = count * data.price_of(coin_id)
    fee_coin = "ethereum"
    item: dict[str, object] = {
        "transactionType": "Buy" if count >= 0 else "Sell",
        "date": ledger.iso(data.num(trade["date"])),
        "coinData": {
            "identifier": coin_id,
            "count": count,
            "symbol": data.COINS_BY_ID[coin_id]["symbol"],
            "totalWorth": round(count * price * rate, 2),
            "currentValue": round(now * rate, 2),
        },
        "profitLoss": {
            "profit": round((now - count * price) * rate, 2),
            "profitPercent": round(100 * (data.price_of(coin_id) - price) / price, 2)
            if price
            else 0.0,
            "currentValue": round(now * rate, 2),
        },
        "fee": {
            "coin": ledger.coin_dto(fee_coin),
            "count": 0.0,
            "totalWorth": 0.0,
            "price": data.price_of(fee_coin),
        },
        "transfers": [
            {
                "transferType": "Received" if count >= 0 else "Sent",
                "items": [
                    {
                        "coin": ledger.coin_dto(coin_id),
                        "count": count,
                        "totalWorth": round(count * price * rate, 2),
                        "price": price,
                    }
                ],
            }
        ],
        "portfolioInfo": _info(portfolio),
    }
    if note:
        item["note"] = {"name": note, "icon": ""}
    return item


def _transactions(request: ApiRequest, world: World) -> object:
    rate = currency_rate(request)[1]
    rows = []
    for portfolio in _targets(request, world):
        trades = ledger.buys(world.accounts.holdings(portfolio), _key([portfolio]))
        for trade in trades:
            if request.text("coinId") and trade["coinId"] != request.text("coinId"):
                continue
            rows.append(_item(trade, portfolio, rate))
    rows.sort(key=lambda row: str(row["date"]), reverse=True)
    result, meta = page_of(request, rows)
    return {"data": result, "meta": {"page": meta["page"], "limit": meta["limit"]}}


def _add_transaction(request: ApiRequest, world: World) -> object:
    _degen_only(world)
    coin_id = str(request.body_field("coinId"))
    if coin_id not in data.COINS_BY_ID:
        raise ApiError(400, f"coinId {coin_id!r} is not a known coin; see /coins")
    portfolio_id = str(request.body_field("portfolioId") or "")
    portfolio = (
        world.accounts.selected(portfolio_id)[0] if portfolio_id else world.accounts.all()[0]
    )
    _, rate = currency_rate(
        ApiRequest({}, {"currency": str(request.body_field("currency") or "USD")})
    )
    price = request.body_field("price")
    date = request.body_field("date")
    trade: dict[str, object] = {
        "coinId": coin_id,
        "count": request.body_field("count"),
        "price": float(price) / rate if isinstance(price, int | float) else data.price_of(coin_id),
        "date": float(date) / 1000 if isinstance(date, int | float) else world.accounts.clock.now(),
        "hash": hashlib.sha256(repr(request.body).encode()).hexdigest(),
    }
    world.accounts.add_transaction(portfolio, trade)
    return _item(trade, portfolio, rate, note=str(request.body_field("notes") or ""))


def _portfolio_defi(request: ApiRequest, world: World) -> object:
    wallets = [p for p in _targets(request, world) if p.kind == "wallet"]
    protocols: list[object] = []
    total = 0.0
    for portfolio in wallets:
        answer = defi(portfolio.identity, [portfolio.connection_id])
        assert isinstance(answer["protocols"], list)
        protocols.extend(answer["protocols"])
        total += defi_total(portfolio.identity, [portfolio.connection_id])
    return {"totalAssets": ledger.triple(total), "protocols": protocols}


def _snapshots(request: ApiRequest, world: World) -> object:
    holdings = _combined(_targets(request, world), world)
    if request.text("coinIds"):
        wanted = set(ids(request.query["coinIds"]))
        holdings = {coin: amount for coin, amount in holdings.items() if coin in wanted}
    end = when(request, "to") if request.text("to") else data.ANCHOR
    start = when(request, "from") if request.text("from") else end - 29 * 86_400
    if start > end:
        raise ApiError(400, "from must not be after to")
    charts = {coin: data.chart(coin, "1m") for coin in holdings}
    days: list[dict[str, object]] = []
    previous: dict[str, float] = {}
    day = start - start % 86_400
    while day <= min(end, data.ANCHOR) and len(days) < 366:
        index = max(0, min(23, 23 - int((data.ANCHOR - day) // (30 * 86_400 // 24))))
        balances = []
        for coin, amount in sorted(holdings.items()):
            price = charts[coin][index][1]
            worth = amount * price
            balances.append(
                {
                    "symbol": data.COINS_BY_ID[coin]["symbol"],
                    "icon": data.COINS_BY_ID[coin]["icon"],
                    "quantity": amount,
                    "balance": round(worth, 6),
                    "quantityChange": 0,
                    "balanceChange": round(worth - previous.get(coin, worth), 6),
                    "pricePerUnit": price,
                    "pricePercentChange": round(100 * (worth - previous[coin]) / previous[coin], 4)
                    if previous.get(coin)
                    else 0,
                }
            )
            previous[coin] = worth
        total = sum(data.num(b["balance"]) for b in balances)
        before = days[-1]["totalBalance"] if days else total
        change = total - data.num(before)
        days.append(
            {
                "date": ledger.iso(day),
                "coinBalances": balances,
                "totalBalance": round(total, 6),
                "totalBalanceChange": round(change, 6),
                "totalBalancePercentChange": round(100 * change / data.num(before), 6)
                if before
                else 0,
            }
        )
        day += 86_400
    result = page_of(request, list(reversed(days)))[0]
    return {"result": result}


def _status(request: ApiRequest, world: World) -> object:
    return {"status": world.accounts.status(world.accounts.get(request.required("portfolioId")))}


def _sync(request: ApiRequest, world: World) -> object:
    # Without portfolioId every portfolio syncs (and it costs 10x).
    world.accounts.sync(world.accounts.selected(request.text("portfolioId")))
    return {"success": True}


def _delete(request: ApiRequest, world: World) -> object:
    world.accounts.delete(request.path_params["portfolioId"])
    return {"success": True}


def _pl(request: ApiRequest, world: World) -> object:
    portfolios = _targets(request, world)
    rate = currency_rate(request)[1]
    return ledger.pl_history(
        _combined(portfolios, world),
        _key(portfolios),
        history_window(request),
        request.text("interval"),
        rate,
    )


PORTFOLIO_ROUTES: dict[str, Callable[[ApiRequest, World], object]] = {
    "GET /exchange/support": _support,
    "POST /exchange/balance": _exchange_balance,
    "GET /exchange/status": _exchange_status,
    "GET /exchange/transactions": _exchange_transactions,
    "GET /exchange/chart": _exchange_chart,
    "PATCH /exchange/sync": _exchange_sync,
    "GET /exchange/pl/history": _exchange_pl,
    "POST /portfolio/wallet": _connect_wallet,
    "POST /portfolio/exchange": _connect_portfolio_exchange,
    "GET /portfolio/list": _list,
    "GET /portfolio/value": _value,
    "GET /portfolio/coins": _coins,
    "GET /portfolio/chart": _chart,
    "GET /portfolio/transactions": _transactions,
    "POST /portfolio/transaction": _add_transaction,
    "GET /portfolio/defi": _portfolio_defi,
    "GET /portfolio/snapshot/items": _snapshots,
    "GET /portfolio/status": _status,
    "PATCH /portfolio/sync": _sync,
    "DELETE /portfolio/{portfolioId}": _delete,
    "GET /portfolio/pl/history": _pl,
}
