"""What each CoinStats endpoint costs, in credits per request. Data only: the arithmetic lives in
:mod:`airflow_provider_coinstats.credits`.

Sources:

- base costs and multiplier parameters: the ``x-mint`` note ("**N** credits per request" and its
  "Multipliers" accordion) on every operation of the official OpenAPI snapshot bundled with
  CoinStats' CLI (``openapi/coinstats-public-api.json``, server ``https://openapiv1.coinstats.app``);
- the rules for combining them: the CoinStats "Credit Multipliers" page
  (https://coinstats.app/docs/multipliers): a list or comma-separated value costs base x count,
  and an ``all`` item counts 10;
- ``GET /usage/credits`` has no credit note in the spec; official clients use it to check a key
  and a third party measured it at 0 credits, so it is priced 0 here.

A price change is a one-line edit of :data:`PRICES`. Keys are ``"METHOD /path-template"`` with
the path as the spec writes it (no ``/v1`` prefix); ``{name}`` marks a path parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

#: What one ``all`` item counts for in a multiplier parameter (multipliers page: "10x").
ALL_MULTIPLIER = 10


@dataclass(frozen=True, slots=True)
class Price:
    """The price of one endpoint.

    :param credits: base credits per request.
    :param per_item: query or body parameters whose value multiplies the cost by its number of
        items (comma-separated or a list); an ``all`` item counts :data:`ALL_MULTIPLIER`.
    :param if_absent: parameters whose absence multiplies the cost, e.g. ``{"portfolioId": 10}``
        (syncing every portfolio instead of one).
    """

    credits: int | float
    per_item: tuple[str, ...] = ()
    if_absent: Mapping[str, int] = field(default_factory=dict)


PRICES: dict[str, Price] = {
    # Market Data
    "GET /coins": Price(2),
    "GET /coins/charts": Price(3, per_item=("coinIds",)),
    "GET /coins/{coinId}": Price(1),
    "GET /coins/{coinId}/charts": Price(3),
    "GET /coins/price/avg": Price(4),
    "GET /coins/price/exchange": Price(5),
    "GET /tickers/exchanges": Price(2),
    "GET /tickers/markets": Price(3),
    "GET /fiats": Price(1),
    "GET /markets": Price(1),
    "GET /currencies": Price(1),
    # Wallet Data
    "GET /wallet/blockchains": Price(1),
    "GET /wallet/balance": Price(40),
    "GET /wallet/balances": Price(40, per_item=("networks", "blockchain", "wallets")),
    "GET /wallet/status": Price(3),
    "GET /wallet/transactions": Price(40, per_item=("wallets",)),
    "PATCH /wallet/transactions": Price(50, per_item=("connectionId", "blockchain", "wallets")),
    "GET /wallet/chart": Price(40, per_item=("connectionId", "blockchain")),
    "GET /wallet/charts": Price(40, per_item=("wallets",)),
    "GET /wallet/defi": Price(400, per_item=("connectionId",)),
    # Exchange Connection
    "GET /exchange/support": Price(1),
    "POST /exchange/balance": Price(10),
    "GET /exchange/status": Price(3),
    "GET /exchange/transactions": Price(4),
    "GET /exchange/chart": Price(50),
    "PATCH /exchange/sync": Price(20),
    # NFTs
    "GET /nft/trending": Price(2),
    "GET /nft/wallet/{address}/assets": Price(40),
    "GET /nft/collection/{collectionAddress}": Price(3),
    "GET /nft/{collectionAddress}/assets": Price(8),
    "GET /nft/{collectionAddress}/asset/{tokenId}": Price(5),
    # News
    "GET /news/sources": Price(2),
    "GET /news": Price(5),
    "GET /news/type/{type}": Price(5),
    "GET /news/{id}": Price(1),
    # Portfolio
    "POST /portfolio/wallet": Price(40),
    "POST /portfolio/exchange": Price(10),
    "GET /portfolio/value": Price(10),
    "GET /portfolio/coins": Price(8),
    "GET /portfolio/chart": Price(10),
    "GET /portfolio/transactions": Price(4),
    "POST /portfolio/transaction": Price(4),
    "GET /portfolio/defi": Price(400),
    "GET /portfolio/snapshot/items": Price(500),
    "GET /portfolio/status": Price(3),
    "PATCH /portfolio/sync": Price(30, if_absent={"portfolioId": 10}),
    "DELETE /portfolio/{portfolioId}": Price(10),
    # Newer than the snapshot; cost from a third party's notes (simon-per/ibkr-portfolio-tracker,
    # "checked 2026-09-27"), not an official page. Other newer endpoints have no known cost.
    "GET /portfolio/pl/history": Price(25),
    # Market Insights
    "GET /insights/btc-dominance": Price(50),
    "GET /insights/fear-and-greed": Price(50),
    "GET /insights/fear-and-greed/chart": Price(50),
    "GET /insights/rainbow-chart/{coinId}": Price(50),
    # Usage
    "GET /usage/credits": Price(0),
}
