"""The sandbox behaves like CoinStats: parameters, shared state, sync over its clock, plans,
the CLI's errors and the control API. Real HTTP on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_coinstats.testing.sandbox import Sandbox, SandboxControl
from airflow_provider_coinstats.testing.sandbox.__main__ import main as cli_main
from airflow_provider_coinstats.testing.sandbox.data import ANCHOR, PERIODS

if TYPE_CHECKING:
    from collections.abc import Iterator

KEY = "fidelity-key"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    # Frozen: sync states change only when a test moves the clock.
    with Sandbox(api_key=KEY, frozen_clock=True) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        session.headers["X-API-KEY"] = KEY
        yield session


def get(http: requests.Session, sandbox: Sandbox, path: str, **params: Any) -> Any:
    response = http.get(sandbox.url + path, params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def send(
    http: requests.Session, sandbox: Sandbox, method: str, path: str, **kwargs: Any
) -> requests.Response:
    return http.request(method, sandbox.url + path, timeout=30, **kwargs)


def used(sandbox: Sandbox) -> Any:
    return sandbox.usage()["usedCredits"]


# ---------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/coins", {"sortBy": "colour"}, "sortBy"),
        ("/coins", {"rank~lessThan": "ten"}, "rank~lessThan"),
        ("/coins/bitcoin/charts", {"period": "2w"}, "period"),
        ("/coins/charts", {"period": "24h"}, "coinIds"),
        ("/coins", {"currency": "XYZ"}, "currency"),
        ("/tickers/markets", {"onlyVerified": "yes"}, "onlyVerified"),
        ("/news/type/spicy", {}, "type"),
        (
            "/wallet/transactions",
            {"address": "0xa", "connectionId": "ethereum", "limit": "101"},
            "limit",
        ),
    ],
)
def test_invalid_values_are_a_400_naming_the_parameter_and_free(
    sandbox: Sandbox, http: requests.Session, path: str, params: dict[str, str], named: str
) -> None:
    response = send(http, sandbox, "GET", path, params=params)
    assert response.status_code == 400
    body = response.json()
    assert named in body["message"]
    assert body["statusCode"] == 400 and body["path"] == path and body["requestId"]
    assert used(sandbox) == 45_000


def test_coins_filters_sorting_currency_and_risk_scores(
    sandbox: Sandbox, http: requests.Session
) -> None:
    top = get(http, sandbox, "/coins", **{"rank~lessThan": 6})
    assert [coin["rank"] for coin in top["result"]] == [1, 2, 3, 4, 5]
    assert top["meta"]["itemCount"] == 5
    cheap = get(http, sandbox, "/coins", sortBy="price", sortDir="asc", limit=50)["result"]
    prices = [coin["price"] for coin in cheap]
    assert prices == sorted(prices)
    big = get(http, sandbox, "/coins", **{"marketCap~greaterThan": 1e11, "sortBy": "marketCap"})
    caps = [coin["marketCap"] for coin in big["result"]]
    assert caps == sorted(caps, reverse=True) and all(cap > 1e11 for cap in caps)
    rate = next(f["rate"] for f in get(http, sandbox, "/fiats") if f["name"] == "EUR")
    usd = get(http, sandbox, "/coins/bitcoin")
    eur = get(http, sandbox, "/coins/bitcoin", currency="EUR")
    assert eur["price"] == pytest.approx(usd["price"] * rate, rel=1e-5)
    assert "riskScore" not in usd
    usdc_usdt = (
        "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48,0xDAC17F958D2EE523A2206206994597C13D831EC7"
    )
    by_contract = get(http, sandbox, "/coins", contractAddresses=usdc_usdt)["result"]
    assert [coin["id"] for coin in by_contract] == ["tether", "usd-coin"]
    memes = get(http, sandbox, "/coins", categories="memecoins")["result"]
    assert [coin["id"] for coin in memes] == ["dogecoin", "shiba-inu"]
    on_solana = get(http, sandbox, "/coins", blockchains="solana")["result"]
    assert [coin["id"] for coin in on_solana] == ["solana"]
    risky = get(http, sandbox, "/coins", coinIds="bitcoin", includeRiskScore="true")
    assert 0 <= risky["result"][0]["riskScore"] <= 100


def test_wallet_networks_take_lists_all_and_forceall(
    sandbox: Sandbox, http: requests.Session
) -> None:
    chains = [chain["connectionId"] for chain in get(http, sandbox, "/wallet/blockchains")]
    one = get(http, sandbox, "/wallet/balance", address="0xA", connectionId="ethereum")
    two = get(http, sandbox, "/wallet/balance", address="0xA", connectionId="ethereum,solana")
    assert two[: len(one)] == one and len(two) > len(one)
    for every in ("all", "forceall"):
        answer = get(http, sandbox, "/wallet/balance", address="0xA", connectionId=every)
        assert {item["chain"] for item in answer} == {
            chain["chain"] for chain in get(http, sandbox, "/wallet/blockchains")
        }
    before = used(sandbox)
    default = get(http, sandbox, "/wallet/balances", address="0xA")  # the spec's blockchain=all
    assert [item["connectionId"] for item in default] == chains
    assert used(sandbox) - before == 400


# ---------------------------------------------------------------- shared state and the clock


def test_a_connected_wallet_is_the_same_portfolio_everywhere(
    sandbox: Sandbox, http: requests.Session
) -> None:
    address = "0x1111111111111111111111111111111111111111"
    body = {"address": address, "connectionId": "polygon", "name": "Mine"}
    connected = send(http, sandbox, "POST", "/portfolio/wallet", json=body).json()
    assert connected["status"] == "connected"
    again = send(http, sandbox, "POST", "/portfolio/wallet", json=body).json()
    assert again == connected | {"status": "existing"}
    pid = connected["portfolioId"]
    listed = {item["id"]: item for item in get(http, sandbox, "/portfolio/list")["result"]}
    assert listed[pid]["name"] == "Mine" and listed[pid]["status"] == "syncing"

    balance = get(http, sandbox, "/wallet/balance", address=address, connectionId="polygon")
    worth = sum(item["amount"] * item["price"] for item in balance)
    value = get(http, sandbox, "/portfolio/value", portfolioId=pid)
    assert value["totalValue"] == pytest.approx(worth, abs=0.01)
    chart = get(http, sandbox, "/portfolio/chart", portfolioId=pid, type="1m")["result"]
    assert chart[-1][1] == pytest.approx(worth, abs=0.01)  # the chart ends at today's value
    wallet_chart = get(
        http, sandbox, "/wallet/chart", address=address, connectionId="polygon", type="1m"
    )
    assert wallet_chart["result"] == chart
    span = (chart[-1][0] - chart[0][0]) / 1000
    assert PERIODS["1m"] * 0.9 <= span <= PERIODS["1m"] and chart[-1][0] == ANCHOR * 1000
    txs = get(
        http, sandbox, "/wallet/transactions", address=address, connectionId="polygon", limit=100
    )["result"]
    received: dict[str, float] = {}
    for tx in txs:
        item = tx["transactions"][0]["items"][0]
        received[item["coin"]["id"]] = received.get(item["coin"]["id"], 0) + item["count"]
    for holding in balance:
        assert received[holding["coinId"]] == pytest.approx(holding["amount"], rel=1e-4)

    assert send(http, sandbox, "DELETE", f"/portfolio/{pid}").status_code == 200
    gone = send(http, sandbox, "GET", "/portfolio/status", params={"portfolioId": pid})
    assert gone.status_code == 404 and pid in gone.json()["message"]


def test_sync_moves_status_along_the_sandbox_clock(
    sandbox: Sandbox, http: requests.Session
) -> None:
    exchange = next(p for p in sandbox.accounts.all() if p.kind == "exchange").id
    assert get(http, sandbox, "/exchange/status", portfolioId=exchange)["status"] == "synced"
    assert send(http, sandbox, "PATCH", "/exchange/sync", params={"portfolioId": exchange}).ok
    assert get(http, sandbox, "/exchange/status", portfolioId=exchange)["status"] == "syncing"
    assert get(http, sandbox, "/portfolio/status", portfolioId=exchange)["status"] == "syncing"
    sandbox.advance_clock(29)
    assert get(http, sandbox, "/exchange/status", portfolioId=exchange)["status"] == "syncing"
    sandbox.advance_clock(1)
    assert get(http, sandbox, "/exchange/status", portfolioId=exchange)["status"] == "synced"

    wallet = {"address": "0xabc", "connectionId": "base-wallet"}
    assert get(http, sandbox, "/wallet/status", **wallet)["status"] == "synced"
    synced = send(http, sandbox, "PATCH", "/wallet/transactions", params=wallet)
    assert synced.json() == {"status": "syncing"}
    assert get(http, sandbox, "/wallet/status", **wallet)["status"] == "syncing"
    assert get(http, sandbox, "/wallet/status", address="0xabc", blockchain="base")["status"] == (
        "syncing"
    )
    SandboxControl(sandbox.url).advance_clock(30)  # the same clock from another process
    assert get(http, sandbox, "/wallet/status", **wallet)["status"] == "synced"


def test_account_data_is_deterministic_per_seed() -> None:
    def ids(seed: str) -> list[str]:
        with Sandbox(seed=seed) as sandbox:
            return [portfolio["id"] for portfolio in SandboxControl(sandbox.url).portfolios()]

    assert ids("a") == ids("a") != ids("b")


# ---------------------------------------------------------------- plans


def test_plan_only_endpoints_answer_403_and_charge_nothing(
    sandbox: Sandbox, http: requests.Session
) -> None:
    trade = {"coinId": "bitcoin", "count": 0.1}
    assert send(http, sandbox, "POST", "/portfolio/transaction", json=trade).status_code == 403
    shared = send(http, sandbox, "GET", "/portfolio/coins", headers={"sharetoken": "abc"})
    assert shared.status_code == 403
    sandbox.set_credits(plan="FREE")
    defi = send(
        http, sandbox, "GET", "/wallet/defi", params={"address": "0xa", "connectionId": "ethereum"}
    )
    assert defi.status_code == 403
    assert used(sandbox) == 45_000
    sandbox.set_credits(plan="DEGEN")
    added = send(http, sandbox, "POST", "/portfolio/transaction", json=trade)
    assert added.status_code == 200 and added.json()["coinData"]["count"] == 0.1
    assert used(sandbox) == 45_004


# ---------------------------------------------------------------- control API


def test_control_api_credits_clock_portfolios_and_reset(
    sandbox: Sandbox, http: requests.Session
) -> None:
    with requests.Session() as raw:
        raw.trust_env = False
        figures = raw.get(sandbox.url + "/_sandbox/credits", timeout=30)
        assert figures.status_code == 200
        assert figures.json() == get(http, sandbox, "/usage/credits")
        clock = raw.post(sandbox.url + "/_sandbox/clock", json={"advance": 60}, timeout=30)
        assert clock.json() == {"now": ANCHOR + 60, "frozen": True}
        bad = raw.post(sandbox.url + "/_sandbox/clock", json={"advance": -1}, timeout=30)
        assert bad.status_code == 400 and "seconds" in bad.json()["message"]
    control = SandboxControl(sandbox.url)
    send(
        http, sandbox, "POST", "/portfolio/wallet", json={"address": "0x9", "connectionId": "tron"}
    )
    get(http, sandbox, "/coins")
    assert len(control.portfolios()) == 3
    state = control.reset()
    assert state["usedCredits"] == 45_000 and state["requestCount"] == 0
    assert len(control.portfolios()) == 2


# ---------------------------------------------------------------- CLI


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--port", "99999"], "99999 is not a port number"),
        (["--port", "x"], "'x' is not a port number"),
        (["--used", "200000"], "--used 200,000 is above --total 100,000"),
        (["--total", "-1"], "-1 is negative"),
        (["--rate-limit", "0"], "above 0"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_cli_refuses_bad_options_in_one_line(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_main(argv)
    assert exited.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert says in error and "Traceback" not in capsys.readouterr().err


def test_cli_names_a_port_in_use_and_suggests_port_0() -> None:
    with Sandbox() as holder:
        port = holder.url.rsplit(":", 1)[1]
        command = [
            sys.executable,
            "-m",
            "airflow_provider_coinstats.testing.sandbox",
            "--port",
            port,
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"port {port}" in result.stderr and "--port 0" in result.stderr


def test_cli_help_shows_defaults_and_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli_main(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "(default: 8765)" in shown and "(default: sandbox-key)" in shown
    assert "(default: 45000)" in shown and "/_sandbox/" in shown


# ---------------------------------------------------------------- the newer endpoints


def test_pl_history_takes_a_range_or_calendar_dates_like_the_mcp_server(
    sandbox: Sandbox, http: requests.Session
) -> None:
    wallet = {"address": "0xabc", "connectionId": "ethereum", "interval": "daily"}
    month = get(http, sandbox, "/wallet/pl/history", range="1m", **wallet)
    assert month["range"] == "1m" and len(month["result"]) == 24
    value = get(http, sandbox, "/portfolio/value")  # every portfolio
    whole = get(http, sandbox, "/portfolio/pl/history", interval="daily")
    assert whole["result"][-1]["value"] == pytest.approx(value["totalValue"], abs=0.05)
    custom = get(
        http, sandbox, "/wallet/pl/history", **wallet, **{"from": "2025-09-01", "to": "2025-10-01"}
    )
    dates = [point["date"] for point in custom["result"]]
    assert custom["range"] == "custom" and dates
    assert all("2025-09-01" <= date <= "2025-10-01T23" for date in dates)
    before = used(sandbox)
    bad = send(http, sandbox, "GET", "/wallet/pl/history", params={**wallet, "range": "2d"})
    assert bad.status_code == 400 and "range" in bad.json()["message"]
    assert used(sandbox) == before
    shared = send(
        http,
        sandbox,
        "GET",
        "/portfolio/pl/history",
        params={"shareToken": "t", "interval": "daily"},
    )
    assert shared.status_code == 403  # a shared portfolio needs the Degen plan
