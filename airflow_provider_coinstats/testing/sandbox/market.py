"""Market data beyond the coin list: exchanges and tickers, historical prices, currencies and
the market insights (BTC dominance, fear and greed, rainbow chart). Deterministic, anchored at
:data:`~airflow_provider_coinstats.testing.sandbox.data.ANCHOR` like the rest.
"""

from __future__ import annotations

import math
import random

from airflow_provider_coinstats.testing.sandbox import data

TICKER_EXCHANGES = (  # id, name, rank, 24h volume in USD
    ("binance", "Binance", 1, 12.5e9),
    ("coinbase", "Coinbase", 2, 3.1e9),
    ("okx", "OKX", 3, 2.4e9),
    ("bybit", "Bybit", 4, 2.0e9),
    ("kraken", "Kraken", 5, 1.2e9),
    ("kucoin", "KuCoin", 6, 0.9e9),
)
_QUOTES = ("USDT", "USD", "BTC", "ETH")
_FEAR_GREED = (
    (25, "Extreme fear"),
    (45, "Fear"),
    (55, "Neutral"),
    (75, "Greed"),
    (101, "Extreme greed"),
)


def ticker_exchanges() -> list[dict[str, object]]:
    rows = []
    for exchange_id, name, rank, volume in TICKER_EXCHANGES:
        rng = random.Random(f"exchange:{exchange_id}")
        rows.append(
            {
                "id": exchange_id,
                "name": name,
                "icon": f"{data.ASSETS_URL}/exchanges/{exchange_id}.png",
                "rank": rank,
                "change24h": round(rng.uniform(-8, 8), 2),
                "url": f"https://www.{exchange_id}.com",
                "volume24h": round(volume),
                "volume7d": round(volume * rng.uniform(6.5, 7.5)),
                "volume1m": round(volume * rng.uniform(28, 32)),
            }
        )
    return rows


def tickers() -> list[dict[str, object]]:
    """Every market (exchange x top coin x quote) the sandbox knows, by volume."""
    rows = []
    for exchange_id, name, rank, exchange_volume in TICKER_EXCHANGES:
        for coin in data.COINS[:12]:
            for quote in _QUOTES:
                if coin["symbol"] == quote or (quote == "USD" and rank > 2):
                    continue
                rng = random.Random(f"ticker:{exchange_id}:{coin['id']}:{quote}")
                usd = data.sig(data.price_of(str(coin["id"])) * rng.uniform(0.998, 1.002))
                quote_usd = {"USDT": 1.0, "USD": 1.0}.get(quote) or data.price_of(
                    "bitcoin" if quote == "BTC" else "ethereum"
                )
                volume = exchange_volume / (rank * 40) * rng.uniform(0.2, 2.0)
                rows.append(
                    {
                        "price": usd,
                        "_created_at": "2023-04-13T07:34:24.442Z",
                        "_updated_at": "2025-12-31T23:59:00.000Z",
                        "exchange": name,
                        "pair": f"{coin['symbol']}/{quote}",
                        "from": coin["symbol"],
                        "to": quote,
                        "pairPrice": data.sig(usd / quote_usd),
                        "pairVolume": data.sig(volume / usd),
                        "volume": round(volume),
                        "coinId": coin["id"],
                        "verified": rank <= 4,
                    }
                )
    return sorted(rows, key=lambda row: -float(row["volume"]))  # type: ignore[arg-type]


def price_at(coin_id: str, timestamp: float) -> float:
    """The USD price at ``timestamp`` (seconds; milliseconds are accepted too)."""
    if timestamp > 1e11:
        timestamp /= 1000
    age = max(0.0, data.ANCHOR - timestamp)
    # Older moments sit further from today's price, on a smooth, seeded wave.
    rng = random.Random(f"avg:{coin_id}:{int(timestamp // 86_400)}")
    drift = 1 - min(age / (8 * 365 * 86_400), 0.95) * 0.6 + 0.05 * math.sin(age / 2e6)
    return data.sig(data.price_of(coin_id) * drift * rng.uniform(0.99, 1.01))


def currencies() -> dict[str, float]:
    return {name: data.fiat_rate(name) for name in data.fiat_names()}


def btc_dominance(period: str) -> list[list[float]]:
    rng = random.Random(f"dominance:{period}")
    step = data.PERIODS[period] // 24
    base = data.num(data.markets()["btcDominance"])
    return [
        [
            data.ANCHOR - (23 - index) * step,
            round(base + (0 if index == 23 else rng.uniform(-2, 2)), 2),
        ]
        for index in range(24)
    ]


def _classify(value: int) -> str:
    return next(label for limit, label in _FEAR_GREED if value < limit)


def fear_and_greed_value(days_ago: int) -> dict[str, object]:
    value = int(50 + 30 * math.sin(days_ago / 9) + random.Random(f"fng:{days_ago}").uniform(-8, 8))
    value = max(0, min(100, value))
    return {
        "value": value,
        "value_classification": _classify(value),
        "timestamp": data.ANCHOR - days_ago * 86_400,
    }


def fear_and_greed() -> dict[str, object]:
    now = fear_and_greed_value(0) | {"update_time": "2025-12-31T23:55:00.000Z"}
    return {
        "name": "Fear and Greed Index",
        "now": now,
        "yesterday": fear_and_greed_value(1),
        "lastWeek": fear_and_greed_value(7),
    }


def fear_and_greed_chart() -> dict[str, object]:
    points = []
    for days_ago in range(89, -1, -1):
        point = fear_and_greed_value(days_ago)
        points.append(point | {"timestamp": str(point["timestamp"])})
    return {"name": "Fear and Greed Index", "data": points}


def rainbow_chart(coin_id: str) -> list[dict[str, str]]:
    """Monthly closes from the coin's start to today, as CoinStats lists them (strings)."""
    first = 2010 * 12 + 6 if coin_id == "bitcoin" else 2015 * 12 + 7  # July 2010, August 2015
    months = 2025 * 12 + 11 - first  # through December 2025
    start_price = 0.06 if coin_id == "bitcoin" else 0.7
    today = data.price_of(coin_id)
    rows = []
    for month in range(months + 1):
        year, index = divmod(first + month, 12)
        share = month / months
        wave = 1 + 0.3 * math.sin(month / 7)
        price = start_price * (today / start_price) ** share * (wave if month < months else 1)
        rows.append({"price": f"{data.sig(price, 4)}", "time": f"{year}-{index + 1:02d}-01"})
    return rows
