"""Synthetic but plausible CoinStats data, the same on every run.

Numbers come from :class:`random.Random` seeded with strings (stable across processes, unlike
``hash()``), and timestamps count back from a fixed moment rather than the clock, so a test can
assert on exact values. Field names follow the official OpenAPI snapshot's response schemas.
"""

from __future__ import annotations

import hashlib
import math
import random

#: 2026-01-01T00:00:00Z. Fixed, so no answer depends on when the sandbox runs.
ANCHOR = 1_767_225_600
ASSETS_URL = "https://sandbox.coinstats.invalid"
UNIVERSE_SIZE = 250
NEWS_SIZE = 60

# The head of the coin list: real ids (as CoinStats spells them), rough prices in USD.
_TOP_COINS = (
    ("bitcoin", "Bitcoin", "BTC", 97_250.0),
    ("ethereum", "Ethereum", "ETH", 3_420.5),
    ("tether", "Tether", "USDT", 1.0),
    ("ripple", "XRP", "XRP", 2.31),
    ("binance-coin", "BNB", "BNB", 695.2),
    ("solana", "Solana", "SOL", 198.4),
    ("usd-coin", "USDC", "USDC", 1.0),
    ("dogecoin", "Dogecoin", "DOGE", 0.32),
    ("cardano", "Cardano", "ADA", 0.94),
    ("tron", "TRON", "TRX", 0.25),
    ("avalanche-2", "Avalanche", "AVAX", 38.6),
    ("chainlink", "Chainlink", "LINK", 21.7),
    ("the-open-network", "Toncoin", "TON", 5.4),
    ("shiba-inu", "Shiba Inu", "SHIB", 0.0000215),
    ("stellar", "Stellar", "XLM", 0.41),
    ("polkadot", "Polkadot", "DOT", 7.1),
    ("bitcoin-cash", "Bitcoin Cash", "BCH", 455.0),
    ("litecoin", "Litecoin", "LTC", 104.3),
    ("matic-network", "Polygon", "POL", 0.47),
    ("uniswap", "Uniswap", "UNI", 13.2),
    ("near", "NEAR Protocol", "NEAR", 5.2),
    ("aptos", "Aptos", "APT", 9.1),
    ("monero", "Monero", "XMR", 196.0),
    ("ethereum-classic", "Ethereum Classic", "ETC", 27.4),
    ("cosmos", "Cosmos Hub", "ATOM", 6.6),
    ("filecoin", "Filecoin", "FIL", 5.1),
)

STABLECOINS = ("tether", "usd-coin")

# ERC-20 contracts of the head coins (real addresses), for /coins?contractAddresses=.
CONTRACTS = {
    "tether": "0xdac17f958d2ee523a2206206994597c13d831ec7",
    "usd-coin": "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48",
    "chainlink": "0x514910771af9ca656af840dff83e8264ecf986ca",
    "uniswap": "0x1f9840a85d5af5bf1d1762f920d2f3fd8cf6462e",
    "shiba-inu": "0x95ad61b0a150d79219dcf64e1e6cc01f0b64c4ce",
    "matic-network": "0x455e53cbb86018ac2b8092fdcd39d8444affc3f6",
}

#: The categories /coins?categories= filters on (CoinStats' names); sandbox tokens are "defi".
CATEGORIES = {
    "stablecoins": ("tether", "usd-coin"),
    "layer-1": (
        "bitcoin",
        "ethereum",
        "solana",
        "cardano",
        "avalanche-2",
        "the-open-network",
        "tron",
        "polkadot",
        "near",
        "aptos",
        "cosmos",
        "litecoin",
        "bitcoin-cash",
        "stellar",
        "monero",
        "ethereum-classic",
        "ripple",
        "binance-coin",
    ),
    "layer-2": ("matic-network",),
    "memecoins": ("dogecoin", "shiba-inu"),
    "defi": ("uniswap", "chainlink"),
    "storage": ("filecoin",),
}

#: Chart periods CoinStats accepts, and the span each covers in seconds.
PERIODS = {
    "24h": 86_400,
    "1w": 7 * 86_400,
    "1m": 30 * 86_400,
    "3m": 90 * 86_400,
    "6m": 182 * 86_400,
    "1y": 365 * 86_400,
    "all": 8 * 365 * 86_400,
}

# name, connectionId, chain, the coin its balances are held in.
_BLOCKCHAINS = (
    ("Ethereum", "ethereum", "ethereum", "ethereum"),
    ("Bitcoin", "bitcoin", "bitcoin", "bitcoin"),
    ("Solana", "solana", "solana", "solana"),
    ("Polygon", "polygon", "polygon", "matic-network"),
    ("BNB Smart Chain", "binancesmartchain", "binance_smart", "binance-coin"),
    ("Base", "base-wallet", "base", "ethereum"),
    ("Arbitrum", "arbitrum-one", "arbitrum", "ethereum"),
    ("Optimism", "optimism", "optimism", "ethereum"),
    ("Avalanche C-Chain", "avalanche", "avalanche", "avalanche-2"),
    ("Tron", "tron", "tron", "tron"),
)

_FIATS = (  # name, symbol, units per USD
    ("USD", "$", 1.0),
    ("EUR", "€", 0.92),
    ("GBP", "£", 0.79),
    ("JPY", "¥", 151.4),
    ("CHF", "CHF", 0.88),
    ("CAD", "CA$", 1.37),
    ("AUD", "A$", 1.53),
    ("CNY", "CN¥", 7.24),
    ("INR", "₹", 83.2),
    ("BRL", "R$", 5.06),
    ("KRW", "₩", 1_352.0),
    ("AMD", "֏", 387.5),
)

_NEWS_SOURCES = (  # name, site
    ("CoinDesk", "https://www.coindesk.com"),
    ("Cointelegraph", "https://cointelegraph.com"),
    ("Decrypt", "https://decrypt.co"),
    ("The Block", "https://www.theblock.co"),
    ("CoinGape", "https://coingape.com"),
    ("Bitcoin Magazine", "https://bitcoinmagazine.com"),
)

_HEADLINES = (
    "{name} holds steady as traders wait for the next macro print",
    "{name} ({symbol}) volume climbs as exchanges report fresh inflows",
    "Analysts split on where {name} heads after a quiet week",
    "{name} developers ship a long-awaited network upgrade",
    "Why {symbol} outpaced the market today",
)


def _sig(value: float, digits: int = 6) -> float:
    """Round to significant digits, so tiny prices keep their precision."""
    if value == 0:
        return 0.0
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def _coin(rank: int, coin_id: str, name: str, symbol: str, price: float) -> dict[str, object]:
    rng = random.Random(f"coin:{coin_id}")
    market_cap = 1.9e12 / rank**1.35  # Bitcoin-sized at rank 1, falling off like a real list
    available = market_cap / price
    total = available * rng.uniform(1.0, 1.5)
    return {
        "id": coin_id,
        "icon": f"{ASSETS_URL}/coins/{coin_id}.png",
        "name": name,
        "symbol": symbol,
        "rank": rank,
        "price": price,
        "priceBtc": _sig(price / _TOP_COINS[0][3]),
        "volume": round(market_cap * rng.uniform(0.02, 0.15)),
        "marketCap": round(market_cap),
        "availableSupply": round(available),
        "totalSupply": round(total),
        "fullyDilutedValuation": round(total * price),
        "priceChange1h": round(rng.uniform(-1.5, 1.5), 2),
        "priceChange1d": round(rng.uniform(-6.0, 6.0), 2),
        "priceChange1w": round(rng.uniform(-15.0, 15.0), 2),
        "websiteUrl": f"{ASSETS_URL}/projects/{coin_id}",
        "redditUrl": f"https://reddit.com/r/{coin_id}",
        "twitterUrl": f"https://twitter.com/{coin_id}",
        "explorers": [f"{ASSETS_URL}/explorer/{coin_id}"],
        "slug": coin_id,
    } | _contract(coin_id)


def _contract(coin_id: str) -> dict[str, object]:
    address = CONTRACTS.get(coin_id)
    if address is None:
        return {}
    return {
        "contractAddress": address,
        "contractAddresses": [{"blockchain": "ethereum", "contractAddress": address}],
        "decimals": 6 if coin_id in ("tether", "usd-coin") else 18,
    }


def categories_of(coin_id: str) -> set[str]:
    found = {name for name, members in CATEGORIES.items() if coin_id in members}
    return found or ({"defi"} if coin_id.startswith("sandbox-token") else set())


def _universe() -> tuple[dict[str, object], ...]:
    coins = [_coin(rank, *row) for rank, row in enumerate(_TOP_COINS, start=1)]
    for rank in range(len(coins) + 1, UNIVERSE_SIZE + 1):
        price = _sig(10 ** random.Random(f"price:{rank}").uniform(-4, 2.5))
        coins.append(
            _coin(rank, f"sandbox-token-{rank}", f"Sandbox Token {rank}", f"SBX{rank}", price)
        )
    return tuple(coins)


COINS = _universe()
COINS_BY_ID = {str(coin["id"]): coin for coin in COINS}


def _number(coin_id: str, field: str) -> float:
    value = COINS_BY_ID[coin_id][field]
    assert isinstance(value, int | float)
    return float(value)


def _price(coin_id: str) -> float:
    return _number(coin_id, "price")


def chart(coin_id: str, period: str) -> list[list[float]]:
    """24 points ``[timestamp, USD, BTC, ETH]`` across ``period``, ending at :data:`ANCHOR`."""
    rng = random.Random(f"chart:{coin_id}:{period}")
    step = PERIODS[period] // 24
    price = _price(coin_id)
    points = []
    for index in range(24):
        # A gentle wave plus noise, landing exactly on today's price at the last point.
        swing = 0.001 if coin_id in STABLECOINS else 0.04  # a stablecoin barely moves
        wave = swing * math.sin(index / 3) + rng.uniform(-swing, swing) / 4
        drift = 1.0 if index == 23 else 1 + wave
        usd = _sig(price * drift)
        timestamp = ANCHOR - (23 - index) * step
        btc = _sig(usd / _price("bitcoin"))
        eth = _sig(usd / _price("ethereum"))
        points.append([timestamp, usd, btc, eth])
    return points


def markets() -> dict[str, object]:
    total = sum(_number(coin_id, "marketCap") for coin_id in COINS_BY_ID)
    volume = sum(_number(coin_id, "volume") for coin_id in COINS_BY_ID)
    bitcoin = _number("bitcoin", "marketCap")
    rng = random.Random("markets")
    return {
        "marketCap": round(total),
        "volume": round(volume),
        "btcDominance": round(100 * bitcoin / total, 2),
        "marketCapChange": round(rng.uniform(-3, 3), 2),
        "volumeChange": round(rng.uniform(-10, 10), 2),
        "btcDominanceChange": round(rng.uniform(-1, 1), 2),
    }


def fiats() -> list[dict[str, object]]:
    return [
        {"name": name, "rate": rate, "symbol": symbol, "imageUrl": f"{ASSETS_URL}/flags/{name}.png"}
        for name, symbol, rate in _FIATS
    ]


def blockchains() -> list[dict[str, object]]:
    return [
        {
            "name": name,
            "connectionId": connection_id,
            "chain": chain,
            "icon": f"{ASSETS_URL}/blockchains/{connection_id}.png",
        }
        for name, connection_id, chain, _ in _BLOCKCHAINS
    ]


def find_blockchain(value: str) -> str | None:
    """The connectionId for a connectionId or chain name (``binance_smart``), else None."""
    for _, connection_id, chain, _ in _BLOCKCHAINS:
        if value in (connection_id, chain):
            return connection_id
    return None


def connection_ids() -> list[str]:
    return [row[1] for row in _BLOCKCHAINS]


def wallet_balance(address: str, connection_id: str) -> list[dict[str, object]]:
    """What a wallet holds on one blockchain: its native coin and, off Bitcoin, two stablecoins."""
    row = next(row for row in _BLOCKCHAINS if row[1] == connection_id)
    chain, native = row[2], row[3]
    rng = random.Random(f"wallet:{address.lower()}:{connection_id}")
    holdings = [(native, _sig(rng.uniform(0.05, 25.0) * 1000 / _price(native)))]
    if connection_id != "bitcoin":
        holdings += [
            (stable, round(rng.uniform(10, 5_000), 2)) for stable in ("tether", "usd-coin")
        ]
    balances = []
    for coin_id, amount in holdings:
        coin = COINS_BY_ID[coin_id]
        balances.append(
            {
                "chain": chain,
                "coinId": coin_id,
                "amount": amount,
                "name": coin["name"],
                "symbol": coin["symbol"],
                "price": coin["price"],
                "priceBtc": coin["priceBtc"],
                "imgUrl": coin["icon"],
                "pCh24h": coin["priceChange1d"],
                "rank": coin["rank"],
                "volume": coin["volume"],
            }
        )
    return balances


def _news_item(index: int) -> dict[str, object]:
    coin = COINS[index % 12]
    source, site = _NEWS_SOURCES[index % len(_NEWS_SOURCES)]
    title = _HEADLINES[index % len(_HEADLINES)].format(name=coin["name"], symbol=coin["symbol"])
    news_id = hashlib.sha256(f"sandbox-news-{index}".encode()).hexdigest()
    slug = "-".join(title.lower().replace("(", "").replace(")", "").split())
    return {
        "id": news_id,
        "searchKeyWords": [str(coin["symbol"]).lower(), coin["symbol"]],
        "feedDate": (ANCHOR - index * 3_600) * 1_000,  # milliseconds, newest first
        "source": source,
        "title": title,
        "isFeatured": index % 7 == 0,
        "description": f"{site.split('//')[1]}.",
        "link": f"{site}/news/{slug}",
        "sourceLink": f"{site}/",
        "imgUrl": f"{ASSETS_URL}/news/{news_id[:12]}.webp",
        "reactionsCount": {},
        "reactions": [],
        "shareURL": f"{ASSETS_URL}/news/{news_id}_{slug}",
        "relatedCoins": [coin["id"]],
        "content": True,
        "bigImg": False,
    }


NEWS = tuple(_news_item(index) for index in range(NEWS_SIZE))
NEWS_BY_ID = {str(item["id"]): item for item in NEWS}


def news_sources() -> list[dict[str, object]]:
    return [
        {
            "sourcename": name,
            "logo": f"{name.lower().replace(' ', '')}.png",
            "sourceImg": f"{ASSETS_URL}/news/source/{name.lower().replace(' ', '')}.png",
            "weburl": site,
            "feedurl": f"{site}/feed/",
            "_created_at": "2018-04-25T13:06:47.850Z",
            "_updated_at": "2025-12-01T09:00:00.000Z",
        }
        for name, site in _NEWS_SOURCES
    ]


# Public names for the other generator modules.
sig = _sig
price_of = _price


def fiat_rate(currency: str) -> float:
    """Units of ``currency`` per USD, from the ``/fiats`` rates; None-safe for USD."""
    for name, _, rate in _FIATS:
        if name == currency.upper():
            return rate
    raise KeyError(currency)


def fiat_names() -> list[str]:
    return [row[0] for row in _FIATS]


def blockchain_row(connection_id: str) -> tuple[str, str, str, str]:
    """(name, connectionId, chain, native coin) of a connectionId from :func:`find_blockchain`."""
    return next(row for row in _BLOCKCHAINS if row[1] == connection_id)


def num(value: object) -> float:
    """A JSON number field as a float (the generators build these dicts themselves)."""
    if not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def risk_scores(coin_id: str) -> dict[str, float]:
    """The risk fields ``includeRiskScore=true`` adds (deterministic per coin)."""
    rng = random.Random(f"risk:{coin_id}")
    rank = int(num(COINS_BY_ID[coin_id]["rank"]))
    liquidity = max(5.0, 100 - rank * 0.35 - rng.uniform(0, 5))
    volatility = rng.uniform(2, 12) + rank * 0.05
    market_cap = max(1.0, 100 - rank * 0.38)
    return {
        "liquidityScore": round(liquidity, 4),
        "volatilityScore": round(volatility, 4),
        "marketCapScore": round(market_cap, 4),
        "riskScore": round(min(100.0, volatility * 100 / (liquidity + market_cap) * 5), 4),
        "avgChange": round(rng.uniform(-3, 3), 4),
    }
