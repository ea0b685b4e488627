"""The portfolios, exchange connections and wallet syncs a sandbox holds: one registry, so every
endpoint that names a portfolio or wallet sees the same one.

A sandbox starts with one wallet portfolio and one exchange portfolio (ids derived from its
seed). ``POST /portfolio/wallet``, ``POST /portfolio/exchange`` and ``POST /exchange/balance`` add
more; ``DELETE /portfolio/{id}`` removes one. A sync (``PATCH …/sync``, ``PATCH
/wallet/transactions``, a new connection) reads ``syncing`` for :data:`SYNC_SECONDS` of the
sandbox clock, then ``synced``.
"""

from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airflow_provider_coinstats.testing.sandbox import data
from airflow_provider_coinstats.testing.sandbox.request import ApiError

if TYPE_CHECKING:
    from airflow_provider_coinstats.testing.sandbox.clock import SandboxClock

#: How long a sync takes, in seconds of the sandbox clock.
SYNC_SECONDS = 30.0

EXCHANGES = (  # connectionId, name, the coins an account there holds
    ("binance", "Binance", ("bitcoin", "ethereum", "binance-coin", "tether")),
    ("coinbase", "Coinbase", ("bitcoin", "ethereum", "solana", "usd-coin")),
    ("kraken", "Kraken", ("bitcoin", "ripple", "cardano", "tether")),
    ("okx", "OKX", ("bitcoin", "ethereum", "the-open-network", "tether")),
)
EXCHANGE_FIELDS = {
    "okx": (("API Key", "apiKey"), ("API Secret", "apiSecret"), ("Passphrase", "passphrase")),
}
DEFAULT_FIELDS = (("API Key", "apiKey"), ("API Secret", "apiSecret"))
DEFAULT_WALLET = ("0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045", "ethereum")


@dataclass(slots=True)
class Portfolio:
    """One API-connected portfolio.

    :param kind: ``wallet`` or ``exchange``.
    :param identity: the wallet address, or a digest of the exchange credentials.
    :param added: transactions added with ``POST /portfolio/transaction``, newest last.
    """

    id: str
    name: str
    kind: str
    connection_id: str
    identity: str
    sync_started: float | None = None
    added: list[dict[str, object]] = field(default_factory=list)

    @property
    def address(self) -> str | None:
        return self.identity if self.kind == "wallet" else None


class Accounts:
    """Every portfolio and wallet sync of one sandbox; safe to use from several threads."""

    def __init__(self, seed: str, clock: SandboxClock, sync_seconds: float = SYNC_SECONDS) -> None:
        self.seed = seed
        self.clock = clock
        self.sync_seconds = sync_seconds
        self._lock = threading.RLock()
        self._portfolios: dict[str, Portfolio] = {}
        self._wallet_syncs: dict[tuple[str, str], float] = {}
        self.reset()

    def reset(self) -> None:
        """Back to the starting portfolios, nothing syncing."""
        with self._lock:
            self._portfolios.clear()
            self._wallet_syncs.clear()
            address, connection = DEFAULT_WALLET
            self._add("wallet", connection, address, "Sandbox Ethereum Wallet", syncing=False)
            self._add("exchange", "binance", "sandbox", "Sandbox Binance", syncing=False)

    def _add(
        self, kind: str, connection_id: str, identity: str, name: str, *, syncing: bool
    ) -> tuple[Portfolio, bool]:
        digest = hashlib.sha256(f"{self.seed}:{kind}:{connection_id}:{identity}".encode())
        portfolio_id = digest.hexdigest()[:24]
        existing = self._portfolios.get(portfolio_id)
        if existing is not None:
            return existing, False
        portfolio = Portfolio(
            portfolio_id,
            name,
            kind,
            connection_id,
            identity,
            sync_started=self.clock.now() if syncing else None,
        )
        self._portfolios[portfolio_id] = portfolio
        return portfolio, True

    def connect_wallet(
        self, address: str, connection_id: str, name: str | None
    ) -> tuple[Portfolio, bool]:
        """The wallet's portfolio, and whether it is new (a new one starts syncing)."""
        with self._lock:
            label = name or f"{connection_id} {address[:8]}"
            return self._add("wallet", connection_id, address, label, syncing=True)

    def connect_exchange(
        self, connection_id: str, fields: dict[str, object], name: str | None
    ) -> tuple[Portfolio, bool]:
        if connection_id not in {row[0] for row in EXCHANGES}:
            raise ApiError(400, f"Unsupported exchange {connection_id!r}; see /exchange/support")
        # The credentials identify the account; only a digest is kept, never the secret.
        identity = hashlib.sha256(repr(sorted(fields.items())).encode()).hexdigest()[:16]
        with self._lock:
            label = name or f"{exchange_name(connection_id)} portfolio"
            return self._add("exchange", connection_id, identity, label, syncing=True)

    def get(self, portfolio_id: str, kind: str | None = None) -> Portfolio:
        """:raises ApiError: 404 when no such portfolio (of that kind) exists."""
        with self._lock:
            portfolio = self._portfolios.get(portfolio_id)
        if portfolio is None or (kind is not None and portfolio.kind != kind):
            raise ApiError(404, f"Portfolio {portfolio_id} not found; see /portfolio/list")
        return portfolio

    def all(self) -> list[Portfolio]:
        with self._lock:
            return list(self._portfolios.values())

    def selected(self, portfolio_id: str) -> list[Portfolio]:
        """One portfolio by id, or every one when no id is given (what CoinStats aggregates)."""
        return [self.get(portfolio_id)] if portfolio_id else self.all()

    def delete(self, portfolio_id: str) -> None:
        with self._lock:
            self.get(portfolio_id)
            del self._portfolios[portfolio_id]

    def sync(self, portfolios: list[Portfolio]) -> None:
        now = self.clock.now()
        with self._lock:
            for portfolio in portfolios:
                portfolio.sync_started = now

    def status(self, portfolio: Portfolio) -> str:
        return self._status(portfolio.sync_started)

    def sync_wallet(self, address: str, connection_id: str) -> None:
        with self._lock:
            self._wallet_syncs[(address.lower(), connection_id)] = self.clock.now()

    def wallet_status(self, address: str, connection_id: str) -> str:
        with self._lock:
            started = self._wallet_syncs.get((address.lower(), connection_id))
        return self._status(started)

    def _status(self, started: float | None) -> str:
        if started is None or self.clock.now() >= started + self.sync_seconds:
            return "synced"
        return "syncing"

    def holdings(self, portfolio: Portfolio) -> dict[str, float]:
        """coinId -> amount: the wallet's balance or the exchange account's, plus added trades."""
        amounts: dict[str, float] = {}
        if portfolio.kind == "wallet":
            for item in data.wallet_balance(portfolio.identity, portfolio.connection_id):
                amounts[str(item["coinId"])] = data.num(item["amount"])
        else:
            rng = random.Random(f"{self.seed}:exchange:{portfolio.id}")
            coins = next(
                (row[2] for row in EXCHANGES if row[0] == portfolio.connection_id),
                ("bitcoin", "ethereum", "solana"),  # a shared portfolio
            )
            for coin_id in coins:
                usd = rng.uniform(200, 20_000)
                amounts[coin_id] = data.sig(usd / data.price_of(coin_id))
        with self._lock:
            for trade in portfolio.added:
                coin_id = str(trade["coinId"])
                amounts[coin_id] = amounts.get(coin_id, 0.0) + data.num(trade["count"])
        return {coin: amount for coin, amount in amounts.items() if amount > 0}

    def add_transaction(self, portfolio: Portfolio, trade: dict[str, object]) -> None:
        with self._lock:
            portfolio.added.append(trade)


def exchange_name(connection_id: str) -> str:
    return next((row[1] for row in EXCHANGES if row[0] == connection_id), connection_id)
