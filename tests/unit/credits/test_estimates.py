"""The credit price list and the estimate rules (CoinStats spec x-mint notes, multipliers page)."""

from __future__ import annotations

import re

import pytest

from airflow_provider_coinstats.credits.estimates import (
    estimate_credits,
    estimate_plan,
    normalize_path,
    resolve_endpoint,
)
from airflow_provider_coinstats.credits.prices import PRICES, Price
from airflow_provider_coinstats.exceptions import CoinStatsConfigError


@pytest.mark.parametrize(
    ("method", "path", "params", "expected"),
    [
        ("GET", "/coins", None, 2),
        ("GET", "/coins/bitcoin", None, 1),
        ("GET", "/coins/bitcoin/charts", {"period": "24h"}, 3),
        ("GET", "/wallet/balance", {"address": "0xabc", "connectionId": "ethereum"}, 40),
        ("GET", "/wallet/balances", {"address": "0xabc", "networks": "ethereum"}, 40),
        ("GET", "/wallet/balances", {"address": "0xabc", "networks": "ethereum,polygon"}, 80),
        ("GET", "/wallet/balances", {"address": "0xabc", "networks": "all"}, 400),
        ("GET", "/wallet/defi", {"address": "0xabc", "connectionId": "ethereum"}, 400),
        ("GET", "/wallet/defi", {"address": "0xabc", "connectionId": "all"}, 4000),
        ("PATCH", "/wallet/transactions", {"address": "0xabc", "connectionId": "base"}, 50),
        ("PATCH", "/wallet/transactions", {"address": "0xabc", "connectionId": "all"}, 500),
        ("GET", "/wallet/charts", {"wallets": "ethereum:0x1,polygon:0x2", "type": "1w"}, 80),
        ("PATCH", "/portfolio/sync", {"portfolioId": "abc"}, 30),
        ("PATCH", "/portfolio/sync", None, 300),
        ("DELETE", "/portfolio/abc123", None, 10),
        ("GET", "/news", {"page": 2}, 5),
        ("GET", "/news/0f3a", None, 1),
        ("GET", "/insights/fear-and-greed", None, 50),
        ("GET", "/portfolio/snapshot/items", None, 500),
        ("GET", "/usage/credits", None, 0),
        # The spec's default for /wallet/balances is blockchain=all, which it prices at 400.
        ("GET", "/wallet/balances", {"address": "0xabc"}, 400),
        ("GET", "/wallet/balances", {"address": "0xabc", "blockchain": "ethereum,base"}, 80),
        # The MCP server (newer than the spec): blockchain multiplies /wallet/defi too.
        ("GET", "/wallet/defi", {"address": "0xabc", "blockchain": "ethereum,polygon"}, 800),
        ("GET", "/wallet/defi", {"address": "0xabc", "blockchain": "all"}, 4000),
        ("GET", "/portfolio/list", None, 1),
        ("GET", "/portfolio/pl/history", {"interval": "daily"}, 25),
        ("GET", "/exchange/pl/history", {"portfolioId": "p", "interval": "daily"}, 25),
        ("GET", "/wallet/pl/history", {"address": "0xabc", "connectionId": "all"}, 400),
    ],
)
def test_documented_prices(
    method: str, path: str, params: dict[str, object] | None, expected: int
) -> None:
    assert estimate_credits(method, path, params) == expected


def test_price_list_covers_the_spec_snapshot_and_is_well_formed() -> None:
    # 52 operations in the official snapshot, plus the four newer ones CoinStats' MCP server
    # calls (/portfolio/list and the three pl/history endpoints), each saying where its cost is
    # from when that is not the spec.
    assert len(PRICES) == 56
    newer = {"GET /portfolio/list", "GET /portfolio/pl/history", "GET /wallet/pl/history"}
    newer.add("GET /exchange/pl/history")
    assert {
        key for key, price in PRICES.items() if price.source.startswith(("guess", "third"))
    } == newer
    for key, price in PRICES.items():
        method, path = key.split(" ", 1)
        assert method in {"GET", "POST", "PATCH", "DELETE"}, key
        assert path.startswith("/") and not path.startswith("/v1"), key
        assert isinstance(price.credits, int) and price.credits >= 0, key


def test_a_price_change_is_one_edit_of_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PRICES, "GET /coins", Price(7))
    assert estimate_credits("GET", "/coins") == 7


def test_all_counts_ten_in_a_comma_separated_value() -> None:
    # The multipliers page's example: base 4, [ethereum, all] costs 4 + 40 = 44.
    overrides = {"GET /wallet/balances": 4}
    cost = estimate_credits(
        "GET", "/wallet/balances", {"networks": "ethereum,all"}, price_overrides=overrides
    )
    assert cost == 44


def test_all_counts_ten_in_a_list_value() -> None:
    overrides = {"GET /wallet/balances": 4}
    cost = estimate_credits(
        "GET", "/wallet/balances", {"networks": ["ethereum", "all"]}, price_overrides=overrides
    )
    assert cost == 44


def test_nested_body_items_count_by_their_connection_id() -> None:
    body = {
        "wallets": [
            {"address": "0x123", "connectionId": "ethereum"},
            {"address": "0x456", "connectionId": "all"},
        ]
    }
    overrides = {"PATCH /wallet/transactions": 4}
    assert (
        estimate_credits("PATCH", "/wallet/transactions", json=body, price_overrides=overrides)
        == 44
    )
    assert estimate_credits("PATCH", "/wallet/transactions", json=body) == 50 * 11


def test_wallets_items_count_by_their_connection_prefix() -> None:
    params = {"wallets": "ethereum:0x1234,all:0x4567"}
    assert estimate_credits("GET", "/wallet/transactions", params) == 40 * 11


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (None, 3),
        ({"period": "24h", "coinIds": "bitcoin"}, 3),
        ({"period": "24h", "coinIds": "bitcoin,ethereum,solana"}, 9),
        ({"period": "24h", "coinIds": ["bitcoin", "ethereum"]}, 6),
        ({"period": "24h", "coinIds": " bitcoin , ,ethereum, "}, 6),
    ],
)
def test_coins_charts_cost_scales_with_coin_ids(
    params: dict[str, object] | None, expected: int
) -> None:
    assert estimate_credits("GET", "/coins/charts", params) == expected


def test_a_query_string_in_the_path_counts_and_params_win_over_it() -> None:
    assert estimate_credits("GET", "/coins/charts?coinIds=a&coinIds=b&period=1w") == 6
    assert estimate_credits("GET", "/coins/charts?coinIds=a,b", {"coinIds": "a"}) == 3


def test_several_multiplier_parameters_multiply() -> None:
    params = {"networks": "ethereum,polygon", "wallets": "ethereum:0x1,base:0x2,solana:0x3"}
    assert estimate_credits("GET", "/wallet/balances", params) == 40 * 2 * 3


def test_multiplier_parameters_are_read_from_the_body_too() -> None:
    assert estimate_credits("PATCH", "/portfolio/sync", json={"portfolioId": "abc"}) == 30


@pytest.mark.parametrize(
    "path",
    [
        "/coins/bitcoin",
        "coins/bitcoin",
        "/coins/bitcoin/",
        "/v1/coins/bitcoin",
        "v1/coins/bitcoin/",
        "https://openapiv1.coinstats.app/v1/coins/bitcoin?currency=EUR",
    ],
)
def test_path_spellings_resolve_to_the_same_endpoint(path: str) -> None:
    assert normalize_path(path) == "/coins/bitcoin"
    endpoint = resolve_endpoint("get", path)
    assert endpoint is not None
    assert endpoint.key == "GET /coins/{coinId}"
    assert endpoint.path_params == {"coinId": "bitcoin"}
    assert estimate_credits("get", path) == 1


def test_literal_segments_win_over_placeholders() -> None:
    charts = resolve_endpoint("GET", "/coins/charts")
    assert charts is not None and charts.template == "/coins/charts"
    avg = resolve_endpoint("GET", "/v1/coins/price/avg")
    assert avg is not None and avg.template == "/coins/price/avg"
    # Both templates fit; the one whose literal comes first wins.
    collection = resolve_endpoint("GET", "/nft/collection/assets")
    assert collection is not None
    assert collection.template == "/nft/collection/{collectionAddress}"
    assert resolve_endpoint("GET", "/nft/0xbc4c/assets") == (
        "GET",
        "/nft/{collectionAddress}/assets",
        {"collectionAddress": "0xbc4c"},
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/wallet/pl/forecast"), ("POST", "/coins"), ("GET", "/coins/bitcoin/extra")],
)
def test_unknown_endpoint_says_how_to_price_it(method: str, path: str) -> None:
    with pytest.raises(CoinStatsConfigError) as caught:
        estimate_credits(method, path)
    message = str(caught.value)
    assert f"{method} {path}" in message
    assert "price_overrides=" in message


def test_overrides_price_unknown_endpoints_by_literal_path_or_template() -> None:
    assert (
        estimate_credits(
            "GET", "/wallet/pl/history", price_overrides={"GET /wallet/pl/history": 25}
        )
        == 25
    )
    overrides = {"get /v1/exchange/pl/history/": 2.5}  # any case, /v1, trailing slash
    assert estimate_credits("GET", "/exchange/pl/history", price_overrides=overrides) == 2.5
    templated = {"GET /things/{thingId}": 6}
    assert estimate_credits("GET", "/v1/things/42", price_overrides=templated) == 6


def test_overrides_win_over_the_table_and_keep_its_multipliers() -> None:
    assert estimate_credits("GET", "/coins", price_overrides={"GET /coins": 9}) == 9
    assert estimate_credits("GET", "/coins/bitcoin", price_overrides={"GET /coins/bitcoin": 3}) == 3
    overrides = {"GET /coins/charts": 5}
    assert (
        estimate_credits("GET", "/coins/charts", {"coinIds": "a,b"}, price_overrides=overrides)
        == 10
    )
    # An override for another endpoint changes nothing here.
    assert estimate_credits("GET", "/coins", price_overrides={"GET /markets": 100}) == 2


@pytest.mark.parametrize(
    "overrides",
    [{"/coins": 1}, {"GET": 1}, {"GET /coins": -1}, {"GET /coins": True}, {"GET /coins": "2"}],
)
def test_malformed_overrides_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(CoinStatsConfigError, match="price_overrides"):
        estimate_credits("GET", "/coins", price_overrides=overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("credits", "shown"),
    [(-1, "-1"), (10**400, "an integer of about 401 digits"), (float("inf"), "inf")],
)
def test_override_prices_are_credit_figures_in_range(credits: object, shown: str) -> None:
    with pytest.raises(CoinStatsConfigError) as raised:
        estimate_credits("GET", "/coins", price_overrides={"GET /coins": credits})  # type: ignore[dict-item]
    assert str(raised.value) == (
        "price_overrides['GET /coins'] must be a number of credits from 0 to "
        f"1,000,000,000,000,000, got {shown}"
    )


def test_whole_results_are_ints() -> None:
    cost = estimate_credits("GET", "/coins", price_overrides={"GET /coins": 2.0})
    assert cost == 2 and isinstance(cost, int)


def test_estimate_plan_sums_calls_and_times() -> None:
    plan: list[dict[str, object]] = [
        {"path": "/coins", "times": 3},  # 6
        {"method": "patch", "path": "/portfolio/sync"},  # 300
        {"path": "/coins/charts", "params": {"coinIds": "bitcoin,ethereum"}},  # 6
        {"method": "PATCH", "path": "/wallet/transactions", "json": {"wallets": ["all"]}},  # 500
        {"path": "/usage/credits", "times": 100},  # 0
    ]
    assert estimate_plan(plan) == 812
    assert estimate_plan([]) == 0
    assert (
        estimate_plan(iter([{"path": "/wallet/pl/history"}]), {"GET /wallet/pl/history": 25}) == 25
    )


@pytest.mark.parametrize(
    ("calls", "expected"),
    [
        (
            [{"path": "/coins"}, {"path": "/coins", "count": 2}],
            r"calls\[1\] has unknown key\(s\) \['count'\]",
        ),
        (
            [{"path": "/coins", "times": 0}],
            r"calls\[0\]: 'times' must be a positive integer up to 1,000,000, got 0$",
        ),
        (
            [{"path": "/coins", "times": 10**400}],
            r"calls\[0\]: 'times' .* got an integer of about 401 digits$",
        ),
        ([{"path": "/coins", "times": -2}], r"calls\[0\]: 'times' must be a positive integer"),
        ([{"path": "/coins", "times": 1.5}], r"calls\[0\]: 'times' must be a positive integer"),
        ([{"path": "/coins", "times": True}], r"calls\[0\]: 'times' must be a positive integer"),
        (
            [{"path": "/coins"}, {"method": "GET"}],
            r"calls\[1\]: 'path' must be a non-empty string such as '/coins', got None",
        ),
        ([{"path": ""}], r"calls\[0\]: 'path' must be a non-empty string"),
        (["/coins"], r"calls\[0\] must be a mapping such as \{'path'.*, got the string '/coins'"),
        (
            [{"path": "/coins"}, {"path": "/nope"}],
            r"calls\[1\]: No credit price is known for GET /nope",
        ),
        (
            [{"path": "/coins", "method": None}],
            r"calls\[0\]: method must be a non-empty string such as 'GET', got None",
        ),
        ({"path": "/coins"}, "list of calls"),
        (5, "list of calls.*not 5"),
    ],
)
def test_estimate_plan_names_the_bad_call(calls: object, expected: str) -> None:
    with pytest.raises(CoinStatsConfigError, match=expected):
        estimate_plan(calls)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [(None, "/coins", None), ("GET", "", None), ("GET", "/coins", ["page", 1])],
)
def test_malformed_arguments_are_refused(method: object, path: object, params: object) -> None:
    with pytest.raises(CoinStatsConfigError):
        estimate_credits(method, path, params)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "path", "meant"),
    [
        ("GET", "/coinz", "GET /coins"),
        ("POST", "/coins", "GET /coins"),  # the path is right, the method is not
        ("GET", "/coins/bitcoin/chartz", "GET /coins/{coinId}/charts"),
        ("GET", "/v1/walet/balances", "GET /wallet/balances"),
    ],
)
def test_an_unknown_endpoint_suggests_the_likely_one(method: str, path: str, meant: str) -> None:
    with pytest.raises(
        CoinStatsConfigError, match=re.escape(f"Did you mean {meant}? If not, pass")
    ):
        estimate_credits(method, path)


def test_an_endpoint_like_no_other_gets_no_guess() -> None:
    with pytest.raises(CoinStatsConfigError) as caught:
        estimate_credits("GET", "/totally/else")
    assert "Did you mean" not in str(caught.value)
    assert 'price_overrides={"GET /totally/else": <credits per call>}' in str(caught.value)
