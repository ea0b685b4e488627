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

Where CoinStats' sources disagree, this list follows the one that costs more, so an estimate never
falls short of a charge (each case is in :data:`DEVIATIONS`, which the contract test reads):

- ``GET /wallet/defi``: the spec multiplies by ``connectionId`` only; the official MCP server's
  tool description (2026) says ``blockchain`` values multiply too, and ``all`` costs 4000 for
  either. Both multiply here.
- ``PATCH /portfolio/sync``: the spec says 30; the MCP server says 10x without ``portfolioId``
  (it syncs every portfolio). 300 without it here.
- ``GET /coins/charts``: neither source gives ``coinIds=all`` a meaning; an ``all`` item counts
  10 like everywhere else (the multipliers page's general rule).
- ``GET /wallet/balances`` without ``networks``, ``blockchain`` or ``wallets``: the spec's
  default is ``blockchain=all``, which it prices 400; so the absent parameter costs 10x.

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
    :param defaults: values assumed for multiplier parameters when none of ``per_item`` is
        given, e.g. ``{"blockchain": "all"}`` (the spec's default for ``/wallet/balances``).
    :param source: where the figure comes from when it is not the spec's ``x-mint`` note.
    """

    credits: int | float
    per_item: tuple[str, ...] = ()
    if_absent: Mapping[str, int] = field(default_factory=dict)
    defaults: Mapping[str, str] = field(default_factory=dict)
    source: str = "spec"


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
    "GET /wallet/balances": Price(
        40, per_item=("networks", "blockchain", "wallets"), defaults={"blockchain": "all"}
    ),
    "GET /wallet/status": Price(3),
    "GET /wallet/transactions": Price(40, per_item=("wallets",)),
    "PATCH /wallet/transactions": Price(50, per_item=("connectionId", "blockchain", "wallets")),
    "GET /wallet/chart": Price(40, per_item=("connectionId", "blockchain")),
    "GET /wallet/charts": Price(40, per_item=("wallets",)),
    "GET /wallet/defi": Price(400, per_item=("connectionId", "blockchain")),
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
    # Newer than the snapshot: the official MCP server calls them, no official page prices them.
    # 25 is a third party's figure (simon-per/ibkr-portfolio-tracker, "checked 2026-09-27").
    "GET /portfolio/pl/history": Price(25, source="third party"),
    # Guesses, priced like their nearest documented sibling; override them once CoinStats says.
    "GET /portfolio/list": Price(1, source="guess: like GET /exchange/support"),
    "GET /wallet/pl/history": Price(
        40, per_item=("connectionId", "blockchain"), source="guess: like GET /wallet/chart"
    ),
    "GET /exchange/pl/history": Price(25, source="guess: like GET /portfolio/pl/history"),
    # Market Insights
    "GET /insights/btc-dominance": Price(50),
    "GET /insights/fear-and-greed": Price(50),
    "GET /insights/fear-and-greed/chart": Price(50),
    "GET /insights/rainbow-chart/{coinId}": Price(50),
    # Usage
    "GET /usage/credits": Price(0, source="no x-mint note; measured free by a third party"),
}

#: Where :data:`PRICES` knowingly differs from the spec's ``x-mint`` note, and why (see above).
DEVIATIONS: dict[str, str] = {
    "GET /wallet/defi": "blockchain multiplies too (official MCP server, newer than the spec)",
    "PATCH /portfolio/sync": "10x without portfolioId (official MCP server, newer than the spec)",
    "GET /wallet/balances": "absent networks/blockchain/wallets means the spec's default, all",
}
