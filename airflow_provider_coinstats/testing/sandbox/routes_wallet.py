"""The wallet endpoints: balances, sync status, transactions, charts, DeFi and P/L of any
address, all derived from the same holdings (:func:`data.wallet_balance`), so they agree.

``connectionId`` (or ``blockchain``) takes one network, a comma list, ``all`` or ``forceall``
(``/wallet/balance`` and ``/wallet/status``); ``connectionId`` wins when both are given.
"""

from __future__ import annotations

import hashlib
import random
from typing import TYPE_CHECKING

from airflow_provider_coinstats.testing.sandbox import data, ledger
from airflow_provider_coinstats.testing.sandbox.request import (
    ApiError,
    ApiRequest,
    currency_rate,
    history_window,
    ids,
    page_of,
    when,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_coinstats.testing.sandbox.endpoints import World

_EVERY = ("all", "forceall")
TRANSACTIONS_MAX_LIMIT = 100  # "Default is 20, min is 1, max is 100" (spec)


def connection(value: str) -> str:
    """The connectionId of a connectionId or chain name; 400 for an unknown one."""
    connection_id = data.find_blockchain(value)
    if connection_id is None:
        raise ApiError(400, f"Unsupported blockchain {value!r}; see /wallet/blockchains")
    return connection_id


def networks(request: ApiRequest, *, every: bool = True) -> list[str]:
    """The connectionIds a request names through ``connectionId`` or ``blockchain``."""
    chosen = request.text("connectionId") or request.text("blockchain")
    if not chosen:
        raise ApiError(400, "Either connectionId or blockchain must be provided")
    result: list[str] = []
    for item in ids(chosen):
        if item in _EVERY and every:
            result.extend(cid for cid in data.connection_ids() if cid not in result)
        elif item not in _EVERY:
            cid = connection(item)
            if cid not in result:
                result.append(cid)
        else:
            raise ApiError(400, f"{item!r} is not accepted here; name the networks")
    return result


def holdings(address: str, connection_id: str) -> ledger.Holdings:
    return {
        str(item["coinId"]): data.num(item["amount"])
        for item in data.wallet_balance(address, connection_id)
    }


def _balance(request: ApiRequest, _: World) -> object:
    address = request.required("address")
    return [item for cid in networks(request) for item in data.wallet_balance(address, cid)]


def _balances(request: ApiRequest, _: World) -> object:
    if request.text("wallets"):
        pairs = [item.partition(":") for item in ids(request.query["wallets"])]
        if any(not address for _, _, address in pairs):
            raise ApiError(400, "wallets items should read connectionId:address")
        wallets = [(network, address) for network, _, address in pairs]
    else:
        address = request.required("address")
        chosen = request.text("networks") or request.text("blockchain") or "all"  # spec default
        wallets = [(network, address) for network in ids(chosen)]
    result: list[dict[str, object]] = []
    for network, address in wallets:
        chosen_ids = data.connection_ids() if network in _EVERY else [connection(network)]
        result.extend(
            {
                "blockchain": connection_id,
                "address": address,
                "connectionId": connection_id,
                "balances": data.wallet_balance(address, connection_id),
            }
            for connection_id in chosen_ids
        )
    return result


def _status(request: ApiRequest, world: World) -> object:
    address = request.required("address")
    states = {world.accounts.wallet_status(address, cid) for cid in networks(request)}
    return {"status": "syncing" if "syncing" in states else "synced"}


def _sync(request: ApiRequest, world: World) -> object:
    """PATCH /wallet/transactions: one wallet from the query, or the body's ``wallets``."""
    targets: list[tuple[str, str]] = []
    body_wallets = request.body_field("wallets")
    if isinstance(body_wallets, list) and body_wallets:
        for index, item in enumerate(body_wallets):
            if not isinstance(item, dict) or not item.get("address"):
                raise ApiError(400, f"wallets[{index}] should be {{address, connectionId}}")
            chosen = str(item.get("connectionId") or item.get("blockchain") or "")
            if not chosen:
                raise ApiError(400, f"wallets[{index}]: either connectionId or blockchain")
            sub = ApiRequest({}, {"connectionId": chosen})
            targets.extend((str(item["address"]), cid) for cid in networks(sub))
    else:
        if not request.text("address"):
            raise ApiError(
                400,
                "For single wallet sync, both address and connectionId (or blockchain) "
                "must be provided",
            )
        targets = [(request.text("address"), cid) for cid in networks(request)]
    for address, cid in targets:
        world.accounts.sync_wallet(address, cid)
    return {"status": "syncing"}


def _wallets(request: ApiRequest) -> list[tuple[str, str]]:
    """(address, connectionId) pairs from ``wallets`` or from address + network."""
    if request.text("wallets"):
        pairs: list[tuple[str, str]] = []
        for item in ids(request.query["wallets"]):
            network, _, address = item.partition(":")
            if not address:
                raise ApiError(400, "wallets items should read connectionId:address")
            chosen = data.connection_ids() if network in _EVERY else [connection(network)]
            pairs.extend((address, cid) for cid in chosen)
        return pairs
    if not request.text("address"):
        raise ApiError(400, "address should not be empty (or pass wallets)")
    return [(request.text("address"), cid) for cid in networks(request)]


def transaction(
    trade: dict[str, object], address: str, connection_id: str, rate: float
) -> dict[str, object]:
    """One TransactionDto: a deposit of ``trade``'s coin into ``address``."""
    coin_id = str(trade["coinId"])
    count = data.num(trade["count"])
    now = count * data.price_of(coin_id)
    paid = count * data.num(trade["price"])
    native = data.blockchain_row(connection_id)[3]
    fee_count = data.sig(2.0 / data.price_of(native))
    return {
        "type": "deposit",
        "date": ledger.iso(data.num(trade["date"])),
        "mainContent": {
            "coinIcons": [data.COINS_BY_ID[coin_id]["icon"]],
            "coinAssets": [data.COINS_BY_ID[coin_id]["symbol"]],
        },
        "coinData": {
            "count": count,
            "symbol": data.COINS_BY_ID[coin_id]["symbol"],
            "currentValue": round(now * rate, 2),
        },
        "profitLoss": {
            "profit": round((now - paid) * rate, 2),
            "profitPercent": round(100 * (now - paid) / paid, 2) if paid else 0.0,
            "currentValue": round(now * rate, 2),
        },
        "transactions": [
            {
                "action": "Received",
                "items": [
                    {
                        "id": f"{trade['hash']}:0",
                        "coin": ledger.coin_ref(coin_id),
                        "count": count,
                        "totalWorth": round(paid * rate, 2),
                        "fromAddress": "0x" + str(trade["hash"])[-40:],
                        "toAddress": address,
                    }
                ],
            }
        ],
        "fee": {
            "coin": ledger.coin_ref(native),
            "count": fee_count,
            "totalWorth": round(2.0 * rate, 2),
        },
        "hash": {
            "id": trade["hash"],
            "explorerUrl": f"{data.ASSETS_URL}/explorer/{connection_id}/tx/{trade['hash']}",
        },
    }


def _transactions(request: ApiRequest, _: World) -> object:
    rate = currency_rate(request)[1]
    rows: list[dict[str, object]] = []
    for address, cid in _wallets(request):
        for trade in ledger.buys(holdings(address, cid), f"wallet:{address.lower()}:{cid}"):
            if request.text("coinId") and trade["coinId"] != request.text("coinId"):
                continue
            if request.text("txId") and trade["hash"] != request.text("txId"):
                continue
            if request.text("from") and data.num(trade["date"]) < when(request, "from"):
                continue
            if request.text("to") and data.num(trade["date"]) > when(request, "to"):
                continue
            rows.append(transaction(trade, address, cid, rate))
    if request.text("types"):
        wanted = set(ids(request.query["types"]))
        rows = [row for row in rows if row["type"] in wanted]
    rows.sort(key=lambda row: str(row["date"]), reverse=True)
    result, meta = page_of(request, rows, TRANSACTIONS_MAX_LIMIT)
    return {"meta": {"page": meta["page"], "limit": meta["limit"]}, "result": result}


def _chart(request: ApiRequest, _: World) -> object:
    address = request.required("address")
    combined: ledger.Holdings = {}
    for cid in networks(request):
        for coin, amount in holdings(address, cid).items():
            combined[coin] = combined.get(coin, 0.0) + amount
    return {"result": ledger.chart(combined, request.query["type"].strip())}


def _charts(request: ApiRequest, _: World) -> object:
    period = request.query["type"].strip()
    wallets = _wallets(request)
    if request.text("aggregated", "true") == "true":
        combined: ledger.Holdings = {}
        for address, cid in wallets:
            for coin, amount in holdings(address, cid).items():
                combined[coin] = combined.get(coin, 0.0) + amount
        return [{"data": ledger.chart(combined, period)}]
    return [
        {
            "data": ledger.chart(holdings(address, cid), period),
            "walletAddress": address,
            "connectionId": cid,
            "blockchain": data.blockchain_row(cid)[2],
        }
        for address, cid in wallets
    ]


_PROTOCOLS = (  # id, name, investment kind, the pair it holds
    ("uniswap-v3", "Uniswap V3", "liquidity", ("usd-coin", "ethereum")),
    ("aave-v3", "Aave V3", "lending", ("usd-coin",)),
    ("lido", "Lido", "staking", ("ethereum",)),
)


def defi_total(address: str, connection_ids: list[str]) -> float:
    """The USD value of :func:`defi`'s positions."""
    total = defi(address, connection_ids)["totalAssets"]
    assert isinstance(total, dict)
    return data.num(total["USD"])


def defi(address: str, connection_ids: list[str]) -> dict[str, object]:
    """DefiResponseDto: 0-2 protocol positions per network, seeded by the address."""
    protocols = []
    total = 0.0
    for cid in connection_ids:
        rng = random.Random(f"defi:{address.lower()}:{cid}")
        name, _, chain, _ = data.blockchain_row(cid)
        for protocol_id, protocol, kind, coins in rng.sample(_PROTOCOLS, rng.randint(0, 2)):
            assets = []
            worth = 0.0
            for coin_id in coins:
                usd = rng.uniform(100, 5_000)
                worth += usd
                coin = data.COINS_BY_ID[coin_id]
                assets.append(
                    {
                        "address": "0x" + hashlib.sha256(coin_id.encode()).hexdigest()[:40],
                        "title": coin["name"],
                        "coinId": coin_id,
                        "logo": coin["icon"],
                        "amount": data.sig(usd / data.price_of(coin_id)),
                        "symbol": coin["symbol"],
                        "price": ledger.triple(data.price_of(coin_id)),
                    }
                )
            total += worth
            protocols.append(
                {
                    "id": protocol_id,
                    "name": protocol,
                    "logo": f"{data.ASSETS_URL}/defi/{protocol_id}.png",
                    "url": f"https://app.{protocol_id.split('-')[0]}.org",
                    "totalValue": ledger.triple(worth),
                    "blockchain": {
                        "name": name,
                        "icon": f"{data.ASSETS_URL}/blockchains/{cid}.png",
                    },
                    "chain": chain,
                    "investments": [
                        {
                            "id": kind,
                            "name": kind.capitalize(),
                            "value": ledger.triple(worth),
                            "symbols": " + ".join(str(a["symbol"]) for a in assets),
                            "assets": assets,
                        }
                    ],
                    "walletAddress": address,
                }
            )
    return {"totalAssets": ledger.triple(total), "protocols": protocols}


def paid_plan_only(world: World) -> None:
    if world.plan().strip().upper() == "FREE":
        raise ApiError(403, "Forbidden resource: this endpoint needs a paid subscription")


def _defi(request: ApiRequest, world: World) -> object:
    paid_plan_only(world)
    return defi(request.required("address"), networks(request))


def _pl_history(request: ApiRequest, _: World) -> object:
    address = request.required("address")
    combined: ledger.Holdings = {}
    for cid in networks(request):
        for coin, amount in holdings(address, cid).items():
            combined[coin] = combined.get(coin, 0.0) + amount
    rate = currency_rate(request)[1]
    return ledger.pl_history(
        combined,
        f"wallet:{address.lower()}",
        history_window(request),
        request.text("interval"),
        rate,
    )


WALLET_ROUTES: dict[str, Callable[[ApiRequest, World], object]] = {
    "GET /wallet/blockchains": lambda _, __: data.blockchains(),
    "GET /wallet/balance": _balance,
    "GET /wallet/balances": _balances,
    "GET /wallet/status": _status,
    "GET /wallet/transactions": _transactions,
    "PATCH /wallet/transactions": _sync,
    "GET /wallet/chart": _chart,
    "GET /wallet/charts": _charts,
    "GET /wallet/defi": _defi,
    "GET /wallet/pl/history": _pl_history,
}
