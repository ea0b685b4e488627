"""Money views derived from holdings (``coinId -> amount``): value, chart, transactions, P/L.

A wallet's or portfolio's balance, its transactions and its chart are all computed from the same
holdings and the same coin charts, so they agree: the transactions add up to the holdings, and a
chart's last point is the current value.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime

from airflow_provider_coinstats.testing.sandbox import data

Holdings = dict[str, float]


def iso(timestamp: float) -> str:
    """``2026-01-01T00:00:00.000Z`` for a Unix timestamp in seconds."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def triple(usd: float) -> dict[str, float]:
    """``{USD, BTC, ETH}`` of a USD amount."""
    return {
        "USD": round(usd, 2),
        "BTC": data.sig(usd / data.price_of("bitcoin")),
        "ETH": data.sig(usd / data.price_of("ethereum")),
    }


def value(holdings: Holdings) -> float:
    return sum(amount * data.price_of(coin) for coin, amount in holdings.items())


def chart(holdings: Holdings, period: str, rate: float = 1.0) -> list[list[float]]:
    """24 points ``[ms, value, BTC, ETH]`` across ``period``: holdings x each coin's chart."""
    charts = {coin: data.chart(coin, period) for coin in holdings}
    points = []
    for index in range(24):
        usd = sum(amount * charts[coin][index][1] for coin, amount in holdings.items())
        timestamp = int(data.ANCHOR - (23 - index) * (data.PERIODS[period] // 24))
        points.append(
            [
                timestamp * 1000,
                round(usd * rate, 2),
                data.sig(usd / data.price_of("bitcoin")),
                data.sig(usd / data.price_of("ethereum")),
            ]
        )
    return points


def buys(holdings: Holdings, key: str) -> list[dict[str, object]]:
    """The deposits that built ``holdings``, newest first: 1-3 per coin over the past year.

    Each has ``coinId``, ``count``, ``price`` (USD at the time, from the coin's 1y chart),
    ``date`` (seconds) and ``hash``; the counts of a coin add up to its holding.
    """
    trades = []
    for coin_id, amount in sorted(holdings.items()):
        rng = random.Random(f"buys:{key}:{coin_id}")
        pieces = rng.randint(1, 3)
        shares = [rng.uniform(0.2, 1.0) for _ in range(pieces)]
        history = data.chart(coin_id, "1y")
        for share in shares:
            index = rng.randrange(0, 23)
            count = data.sig(amount * share / sum(shares))
            trades.append(
                {
                    "coinId": coin_id,
                    "count": count,
                    "price": history[index][1],
                    "date": history[index][0] + rng.randrange(0, 3_600),
                    "hash": "0x" + hashlib.sha256(f"{key}:{coin_id}:{share}".encode()).hexdigest(),
                }
            )
    return sorted(trades, key=lambda trade: -data.num(trade["date"]))


def cost(holdings: Holdings, key: str) -> float:
    return sum(data.num(t["count"]) * data.num(t["price"]) for t in buys(holdings, key))


def coin_ref(coin_id: str) -> dict[str, object]:
    """``{id, name, symbol, icon}`` (TransactionItemCoinData)."""
    coin = data.COINS_BY_ID[coin_id]
    return {"id": coin_id, "name": coin["name"], "symbol": coin["symbol"], "icon": coin["icon"]}


def coin_dto(coin_id: str) -> dict[str, object]:
    """A portfolio's CoinDto."""
    coin = data.COINS_BY_ID[coin_id]
    return {
        "rank": coin["rank"],
        "identifier": coin_id,
        "symbol": coin["symbol"],
        "name": coin["name"],
        "icon": coin["icon"],
        "isFake": False,
        "isFiat": False,
        "priceChange24h": coin["priceChange1d"],
        "priceChange1h": coin["priceChange1h"],
        "priceChange7d": coin["priceChange1w"],
        "volume": coin["volume"],
    }


def pl_history(
    holdings: Holdings, key: str, window: tuple[str, float, float], interval: str, rate: float
) -> dict[str, object]:
    """Profit and loss across ``window`` (label, start, end in Unix seconds): value minus cost at
    each point of the chart that covers it."""
    label, start, end = window
    span = data.ANCHOR - start
    period = next((name for name, seconds in data.PERIODS.items() if seconds >= span), "all")
    invested = cost(holdings, key)
    points = []
    for timestamp, worth, _, _ in chart(holdings, period):
        if not start <= timestamp / 1000 <= end:
            continue
        profit = worth - invested
        points.append(
            {
                "date": iso(timestamp / 1000),
                "value": round(worth * rate, 2),
                "profitLoss": round(profit * rate, 2),
                "profitLossPercent": round(100 * profit / invested, 2) if invested else 0.0,
            }
        )
    return {"interval": interval, "range": label, "result": points}
