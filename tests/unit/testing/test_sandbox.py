"""The offline CoinStats sandbox, observed through real HTTP on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_coinstats.credits.estimates import estimate_credits
from airflow_provider_coinstats.credits.prices import PRICES
from airflow_provider_coinstats.testing.sandbox import Fault, Sandbox, SandboxControl
from airflow_provider_coinstats.testing.sandbox.__main__ import main as cli_main

if TYPE_CHECKING:
    from collections.abc import Iterator

KEY = "test-key-5f2c"
INVALID_KEY_BODY = (
    b'{"statusCode":401,"message":"Your API Key is invalid. Please login to '
    b'https://openapi.coinstats.app and generate your API Key."}'
)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(api_key=KEY) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False  # never route 127.0.0.1 through a proxy from the environment
    session.headers["X-API-KEY"] = KEY
    yield session
    session.close()


def call(
    http: requests.Session, sandbox: Sandbox, path: str, method: str = "GET", **kwargs: Any
) -> requests.Response:
    kwargs.setdefault("timeout", 5)
    return http.request(method, sandbox.url + path, **kwargs)


def used(sandbox: Sandbox) -> Any:
    return sandbox.usage()["usedCredits"]


# ---------------------------------------------------------------- auth and paths


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-KEY": None},
        {"X-API-KEY": "wrong"},
        {"X-API-KEY": None, "Authorization": "Bearer nope"},
    ],
)
def test_a_missing_or_wrong_key_gets_coinstats_exact_401(
    sandbox: Sandbox, http: requests.Session, headers: dict[str, str | None]
) -> None:
    response = call(http, sandbox, "/coins", headers=headers)  # None drops the session's key
    assert response.status_code == 401
    assert response.content == INVALID_KEY_BODY
    assert used(sandbox) == 45_000
    assert sandbox.requests[-1].authenticated is False


def test_a_bearer_token_is_accepted(sandbox: Sandbox, http: requests.Session) -> None:
    headers = {"X-API-KEY": None, "Authorization": f"Bearer {KEY}"}
    assert call(http, sandbox, "/usage/credits", headers=headers).status_code == 200
    assert sandbox.requests[-1].authenticated is True


@pytest.mark.parametrize("path", ["/usage/credits", "/v1/usage/credits", "/v1/usage/credits/"])
def test_api_is_served_with_and_without_v1(
    sandbox: Sandbox, http: requests.Session, path: str
) -> None:
    response = call(http, sandbox, path)
    assert response.status_code == 200
    assert response.json() == {
        "totalCredits": 100_000,
        "usedCredits": 45_000,
        "remainingCredits": 55_000,
        "subscription": "PRO",
    }


def test_unknown_path_is_a_coinstats_shaped_404(sandbox: Sandbox, http: requests.Session) -> None:
    response = call(http, sandbox, "/v1/nope")
    assert response.status_code == 404
    body = response.json()
    assert body["statusCode"] == 404
    assert body["path"] == "/v1/nope"
    assert "GET /v1/nope" in body["message"]
    uuid.UUID(body["requestId"], version=4)
    assert used(sandbox) == 45_000


# ---------------------------------------------------------------- charging

# Path parameters and required query parameters for every priced endpoint; "PID" stands for a
# portfolio that exists in the sandbox's state.
SAMPLE_PATH_VALUES = {
    "coinId": "bitcoin",
    "id": "ignored",  # replaced below by a real news id
    "address": "0xabc",
    "collectionAddress": "0xbc4ca0eda7647a8ab7c2061c2e118a18a936f13d",
    "tokenId": "1029",
    "type": "latest",
    "portfolioId": "PID",
}
_WALLET = {"address": "0xabc", "connectionId": "ethereum"}
SAMPLE_PARAMS: dict[str, dict[str, object]] = {
    "GET /coins/{coinId}/charts": {"period": "1w"},
    "GET /coins/charts": {"period": "24h", "coinIds": "bitcoin,ethereum,solana"},
    "GET /coins/price/avg": {"coinId": "bitcoin", "timestamp": 1_700_000_000},
    "GET /coins/price/exchange": {
        "exchange": "Binance",
        "from": "BTC",
        "to": "ETH",
        "timestamp": 1_700_000_000,
    },
    "GET /wallet/balance": {"address": "0xabc", "blockchain": "ethereum"},
    "GET /wallet/balances": {"address": "0xabc", "networks": "all"},
    "GET /wallet/status": _WALLET,
    "GET /wallet/transactions": _WALLET,
    "PATCH /wallet/transactions": {"address": "0xabc"},
    "GET /wallet/chart": {"type": "1w", **_WALLET},
    "GET /wallet/defi": {"address": "0xabc", "connectionId": "ethereum,polygon"},
    "GET /wallet/charts": {"type": "1m", "wallets": "ethereum:0x1,all:0x2"},
    "GET /wallet/pl/history": {**_WALLET, "range": "1m", "interval": "daily"},
    "GET /exchange/status": {"portfolioId": "PID"},
    "GET /exchange/transactions": {"portfolioId": "PID"},
    "GET /exchange/chart": {"portfolioId": "PID", "type": "24h"},
    "PATCH /exchange/sync": {"portfolioId": "PID"},
    "GET /exchange/pl/history": {"portfolioId": "PID", "interval": "daily"},
    "GET /portfolio/chart": {"type": "1w"},
    "GET /portfolio/transactions": {"currency": "USD"},
    "GET /portfolio/status": {"portfolioId": "PID"},
    "GET /portfolio/pl/history": {"interval": "daily"},
    "GET /insights/btc-dominance": {"type": "1m"},
}
SAMPLE_BODIES: dict[str, object] = {
    "PATCH /wallet/transactions": {
        "wallets": [
            {"address": "0x1", "connectionId": "ethereum"},
            {"address": "0x2", "connectionId": "all"},
        ]
    },
    "POST /exchange/balance": {
        "connectionId": "binance",
        "connectionFields": {"apiKey": "k", "apiSecret": "s"},
    },
    "POST /portfolio/exchange": {
        "connectionId": "kraken",
        "connectionFields": {"apiKey": "k", "apiSecret": "s"},
    },
    "POST /portfolio/wallet": {"address": "0xabc", "connectionId": "ethereum"},
    "POST /portfolio/transaction": {"coinId": "bitcoin", "count": 0.5},
}


def test_every_priced_endpoint_charges_exactly_its_estimate(
    sandbox: Sandbox, http: requests.Session
) -> None:
    sandbox.set_credits(plan="DEGEN")  # POST /portfolio/transaction needs it
    news_id = call(http, sandbox, "/news", params={"limit": 1}).json()["result"][0]["id"]
    mismatches = {}
    for key in PRICES:
        method, template = key.split(" ", 1)
        exchange = next(p for p in sandbox.accounts.all() if p.kind == "exchange").id
        if method == "DELETE":  # a portfolio of its own to delete
            exchange = sandbox.accounts.connect_wallet("0xdoomed", "ethereum", None)[0].id
        values = {**SAMPLE_PATH_VALUES, "id": news_id, "portfolioId": exchange}
        path = re.sub(r"\{(\w+)\}", lambda match: values[match[1]], template)  # noqa: B023
        params = {
            name: exchange if value == "PID" else value
            for name, value in SAMPLE_PARAMS.get(key, {}).items()
        }
        body = SAMPLE_BODIES.get(key)
        before = used(sandbox)
        response = call(http, sandbox, "/v1" + path, method, params=params, json=body)
        charged = used(sandbox) - before
        expected = estimate_credits(method, path, params, body)
        record = sandbox.requests[-1]
        if response.status_code != 200 or charged != expected or record.credits != expected:
            mismatches[key] = (response.status_code, charged, expected, record.credits)
    assert mismatches == {}
    # The multiplier samples really multiplied (9 = 3 x 3 coinIds, 400 = all networks, ...).
    assert sandbox.count("/coins/charts") == 1
    assert [r.credits for r in sandbox.requests if r.endpoint == "GET /coins/charts"] == [9]
    assert [r.credits for r in sandbox.requests if r.endpoint == "GET /wallet/balances"] == [400]
    assert [r.credits for r in sandbox.requests if r.endpoint == "PATCH /portfolio/sync"] == [300]
    assert [r.credits for r in sandbox.requests if r.endpoint == "PATCH /wallet/transactions"] == [
        550
    ]


def test_usage_credits_is_free(sandbox: Sandbox, http: requests.Session) -> None:
    for _ in range(3):
        assert call(http, sandbox, "/usage/credits").json()["usedCredits"] == 45_000


def test_insufficient_credits_is_a_429_without_charge(
    sandbox: Sandbox, http: requests.Session
) -> None:
    sandbox.set_credits(total=100, used=99)
    response = call(http, sandbox, "/coins")  # costs 2, 1 left
    assert response.status_code == 429
    assert response.json()["message"] == "Insufficient credits for this request"
    assert used(sandbox) == 99
    assert call(http, sandbox, "/coins/bitcoin").status_code == 200  # costs 1
    assert call(http, sandbox, "/usage/credits").json()["remainingCredits"] == 0


def test_remaining_credits_never_go_negative(sandbox: Sandbox, http: requests.Session) -> None:
    sandbox.set_credits(total=10, used=25)
    assert call(http, sandbox, "/usage/credits").json()["remainingCredits"] == 0


def test_concurrent_calls_never_overdraw(sandbox: Sandbox) -> None:
    sandbox.set_credits(total=10, used=0)

    def one(_: int) -> int:
        with requests.Session() as session:
            session.trust_env = False
            url = sandbox.url + "/coins/bitcoin"
            return session.get(url, headers={"X-API-KEY": KEY}, timeout=5).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(one, range(20)))
    assert statuses.count(200) == 10
    assert statuses.count(429) == 10
    assert sandbox.usage()["remainingCredits"] == 0


def test_bad_params_are_400_and_free(sandbox: Sandbox, http: requests.Session) -> None:
    response = call(http, sandbox, "/wallet/balance", params={"blockchain": "ethereum"})
    assert response.status_code == 400
    assert response.json()["message"] == "address should not be empty"
    no_network = call(http, sandbox, "/wallet/balance", params={"address": "0xabc"})
    assert no_network.status_code == 400
    assert call(http, sandbox, "/coins/bitcoin/charts").status_code == 400  # no period
    assert call(http, sandbox, "/coins/nope").status_code == 404
    assert used(sandbox) == 45_000


# ---------------------------------------------------------------- changing figures mid-run


def test_set_credits_while_running(sandbox: Sandbox, http: requests.Session) -> None:
    assert call(http, sandbox, "/usage/credits").json()["remainingCredits"] == 55_000
    assert sandbox.set_credits(used=99_990, plan="FREE")["remainingCredits"] == 10
    assert call(http, sandbox, "/usage/credits").json() == {
        "totalCredits": 100_000,
        "usedCredits": 99_990,
        "remainingCredits": 10,
        "subscription": "FREE",
    }
    with pytest.raises(ValueError, match="used"):
        sandbox.set_credits(used=-1)


def test_control_api_drives_the_sandbox_from_outside(
    sandbox: Sandbox, http: requests.Session
) -> None:
    control = SandboxControl(sandbox.url)
    call(http, sandbox, "/coins")
    state = control.state()
    assert state["usedCredits"] == 45_002
    assert state["requestCount"] == 1
    assert control.set_credits(total=500, used=0, plan="DEGEN")["remainingCredits"] == 500
    assert call(http, sandbox, "/usage/credits").json()["subscription"] == "DEGEN"

    assert len(control.inject(Fault("status", status=503), {"kind": "reset", "path": "/news"})) == 2
    assert call(http, sandbox, "/coins").status_code == 503
    control.clear_faults()
    assert call(http, sandbox, "/news").status_code == 200

    control.set_rate_limit(1)
    assert call(http, sandbox, "/usage/credits").status_code == 200
    assert call(http, sandbox, "/usage/credits").status_code == 429
    control.set_rate_limit(None)
    assert call(http, sandbox, "/usage/credits").status_code == 200

    logged = control.requests()
    assert [entry["status"] for entry in logged][-3:] == [200, 429, 200]
    assert all(not entry["path"].startswith("/_sandbox") for entry in logged)
    control.clear_requests()
    assert sandbox.requests == []


def test_control_api_needs_no_key_and_refuses_bad_input(sandbox: Sandbox) -> None:
    with requests.Session() as raw:
        raw.trust_env = False
        posted = raw.post(sandbox.url + "/_sandbox/credits", json={"used": 1}, timeout=5)
        assert posted.status_code == 200
        assert posted.json()["usedCredits"] == 1
        assert (
            raw.post(sandbox.url + "/_sandbox/credits", json={"used": -5}, timeout=5).status_code
            == 400
        )
        assert (
            raw.post(sandbox.url + "/_sandbox/credits", json={"spent": 1}, timeout=5).status_code
            == 400
        )
        assert (
            raw.post(sandbox.url + "/_sandbox/faults", json={"kind": "nope"}, timeout=5).status_code
            == 400
        )
        assert raw.get(sandbox.url + "/_sandbox/nope", timeout=5).status_code == 404
    assert sandbox.requests == []
    with pytest.raises(ValueError, match="loopback"):
        SandboxControl("http://example.com:8765")


# ---------------------------------------------------------------- data


def test_coins_are_paginated_with_coinstats_meta(sandbox: Sandbox, http: requests.Session) -> None:
    first = call(http, sandbox, "/coins").json()
    assert first["meta"] == {
        "page": 1,
        "limit": 20,
        "itemCount": 250,
        "pageCount": 13,
        "hasPreviousPage": False,
        "hasNextPage": True,
    }
    assert [coin["id"] for coin in first["result"][:2]] == ["bitcoin", "ethereum"]
    last = call(http, sandbox, "/coins", params={"page": 13, "limit": 20}).json()
    assert len(last["result"]) == 10
    assert last["meta"]["hasNextPage"] is False and last["meta"]["hasPreviousPage"] is True
    everything = call(http, sandbox, "/coins", params={"limit": 1000}).json()
    assert len({coin["id"] for coin in everything["result"]}) == 250
    beyond = call(http, sandbox, "/coins", params={"page": 99}).json()
    assert beyond["result"] == [] and beyond["meta"]["hasNextPage"] is False
    for bad in ({"page": 0}, {"page": "x"}, {"limit": 1001}):
        assert call(http, sandbox, "/coins", params=bad).status_code == 400
    assert used(sandbox) == 45_000 + 4 * 2  # four good pages, bad ones free


def test_data_is_deterministic_and_filterable(sandbox: Sandbox, http: requests.Session) -> None:
    bitcoin = call(http, sandbox, "/coins/bitcoin").json()
    assert bitcoin["symbol"] == "BTC" and bitcoin["rank"] == 1
    assert call(http, sandbox, "/coins/bitcoin").json() == bitcoin
    picked = call(http, sandbox, "/coins", params={"coinIds": "ethereum,solana"}).json()
    assert [coin["id"] for coin in picked["result"]] == ["ethereum", "solana"]
    chart = call(http, sandbox, "/coins/ethereum/charts", params={"period": "24h"}).json()
    assert len(chart) == 24 and chart[-1][1] == picked["result"][0]["price"]
    charts = call(
        http, sandbox, "/coins/charts", params={"period": "1w", "coinIds": "bitcoin,nope"}
    )
    assert [item.get("errorMessage") for item in charts.json()] == [
        None,
        "ERR_COIN_CHART_NOT_FOUND",
    ]
    assert set(call(http, sandbox, "/markets").json()) >= {"marketCap", "btcDominance"}
    assert call(http, sandbox, "/fiats").json()[0]["name"] == "USD"
    chains = call(http, sandbox, "/wallet/blockchains").json()
    assert {"name", "connectionId", "chain", "icon"} <= set(chains[0])
    balance = call(
        http, sandbox, "/wallet/balance", params={"address": "0xA", "connectionId": "ethereum"}
    )
    assert balance.json()[0]["coinId"] == "ethereum"
    balances = call(
        http, sandbox, "/wallet/balances", params={"address": "0xA", "networks": "ethereum,solana"}
    )
    assert [item["connectionId"] for item in balances.json()] == ["ethereum", "solana"]


def test_news_pages_and_items(sandbox: Sandbox, http: requests.Session) -> None:
    page = call(http, sandbox, "/news", params={"page": 3, "limit": 25}).json()
    assert len(page["result"]) == 10  # 60 items
    first = call(http, sandbox, "/news", params={"limit": 1}).json()["result"][0]
    assert call(http, sandbox, f"/news/{first['id']}").json() == first
    assert call(http, sandbox, "/news/not-an-id").status_code == 404
    assert call(http, sandbox, "/news/sources").json()[0]["sourcename"]


def test_insights_answer_real_shapes(sandbox: Sandbox, http: requests.Session) -> None:
    index = call(http, sandbox, "/insights/fear-and-greed").json()
    assert index["name"] == "Fear and Greed Index"
    assert 0 <= index["now"]["value"] <= 100 and index["now"]["value_classification"]
    chart = call(http, sandbox, "/insights/fear-and-greed/chart").json()
    assert chart["data"][-1]["value"] == index["now"]["value"]  # today ends the chart


# ---------------------------------------------------------------- faults


def test_status_fault_mimics_coinstats_errors(sandbox: Sandbox, http: requests.Session) -> None:
    sandbox.inject(
        Fault("status", status=503, with_request_id=False, retry_after=2),
        Fault("status", status=429, message="Insufficient credits for this request"),
        Fault(
            "status", status=500, retry_after="Wed, 21 Oct 2026 07:28:00 GMT", body={"error": "x"}
        ),
    )
    unavailable = call(http, sandbox, "/coins")
    assert unavailable.status_code == 503
    assert unavailable.json() == {
        "statusCode": 503,
        "message": "Service Unavailable. Please Contact Support",
    }
    assert unavailable.headers["Retry-After"] == "2"
    credits = call(http, sandbox, "/coins").json()
    assert credits["message"] == "Insufficient credits for this request"
    assert credits["path"] == "/coins" and uuid.UUID(credits["requestId"])
    custom = call(http, sandbox, "/coins")
    assert custom.json() == {"error": "x"}
    assert custom.headers["Retry-After"] == "Wed, 21 Oct 2026 07:28:00 GMT"
    assert call(http, sandbox, "/coins").status_code == 200
    assert used(sandbox) == 45_002  # only the last call was charged


def test_delay_fault_outlasts_a_client_timeout(sandbox: Sandbox, http: requests.Session) -> None:
    sandbox.inject(Fault("delay", seconds=1.0))
    with pytest.raises(requests.Timeout):
        call(http, sandbox, "/coins", timeout=0.2)
    sandbox.inject(Fault("delay", seconds=0.05))
    assert call(http, sandbox, "/coins").status_code == 200  # answered normally, late
    assert used(sandbox) == 45_000  # faulted requests are never charged


def test_reset_fault_is_a_connection_error(sandbox: Sandbox, http: requests.Session) -> None:
    sandbox.inject(Fault("reset"))
    with pytest.raises(requests.ConnectionError):
        call(http, sandbox, "/usage/credits")
    assert call(http, sandbox, "/usage/credits").status_code == 200
    assert sandbox.requests[0].status is None and sandbox.requests[0].fault == "reset"


def test_invalid_json_fault(sandbox: Sandbox, http: requests.Session) -> None:
    sandbox.inject(Fault("invalid_json"))
    response = call(http, sandbox, "/usage/credits")
    assert response.status_code == 200
    with pytest.raises(requests.JSONDecodeError):
        response.json()


def test_partial_body_fault_cuts_the_body_short(sandbox: Sandbox, http: requests.Session) -> None:
    sandbox.inject(Fault("partial_body"))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        call(http, sandbox, "/usage/credits")
    assert call(http, sandbox, "/usage/credits").status_code == 200


@pytest.mark.parametrize("status", [502, 200])
def test_html_fault_looks_like_a_proxy_page(
    sandbox: Sandbox, http: requests.Session, status: int
) -> None:
    sandbox.inject(Fault("html", status=status))
    response = call(http, sandbox, "/usage/credits")
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<html>" in response.text


def test_mistyped_fault(sandbox: Sandbox, http: requests.Session) -> None:
    sandbox.inject(Fault("mistyped", path="/usage/credits"))
    body = call(http, sandbox, "/v1/usage/credits").json()
    assert body["remainingCredits"] == "lots"
    assert body["totalCredits"] == 100_000


def test_faults_match_paths_in_fifo_order_for_their_times(
    sandbox: Sandbox, http: requests.Session
) -> None:
    sandbox.inject(Fault("status", status=500, path="/coins", times=2), Fault("status", status=502))
    assert call(http, sandbox, "/usage/credits").status_code == 502  # the first does not match
    assert call(http, sandbox, "/v1/coins/bitcoin").status_code == 500
    assert call(http, sandbox, "/coins").status_code == 500
    assert call(http, sandbox, "/coins").status_code == 200
    sandbox.inject(Fault("status", status=503, times=None))
    assert [call(http, sandbox, "/markets").status_code for _ in range(3)] == [503, 503, 503]
    assert SandboxControl(sandbox.url).state()["pendingFaults"][0]["remaining"] is None
    sandbox.clear_faults()
    assert call(http, sandbox, "/markets").status_code == 200


def test_faults_given_at_start() -> None:
    with (
        Sandbox(api_key=KEY, faults=[Fault("status", status=500)]) as started,
        requests.Session() as session,
    ):
        session.trust_env = False
        url = started.url + "/usage/credits"
        assert session.get(url, headers={"X-API-KEY": KEY}, timeout=5).status_code == 500
        assert session.get(url, headers={"X-API-KEY": KEY}, timeout=5).status_code == 200


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "nope"},
        {"kind": "status"},
        {"kind": "status", "status": 99},
        {"kind": "delay"},
        {"kind": "reset", "times": 0},
        {"kind": "reset", "retry_after": -1},
    ],
)
def test_invalid_faults_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (each case has its own message)
        Fault(**kwargs)


def test_fault_round_trips_through_json() -> None:
    fault = Fault("status", status=503, with_request_id=False, path="/coins", times=None)
    assert Fault.from_dict(json.loads(json.dumps(fault.to_dict()))) == fault
    with pytest.raises(ValueError, match="unknown fault field"):
        Fault.from_dict({"kind": "reset", "colour": "red"})


# ---------------------------------------------------------------- rate limit


def test_rate_limit_answers_429_past_n_a_second() -> None:
    with Sandbox(api_key=KEY, rate_limit_per_second=3) as limited, requests.Session() as session:
        session.trust_env = False
        url = limited.url + "/coins/bitcoin"
        statuses = [
            session.get(url, headers={"X-API-KEY": KEY}, timeout=5).status_code for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        refused = session.get(url, headers={"X-API-KEY": KEY}, timeout=5).json()
        assert refused["message"] == "Rate limit exceeded" and "requestId" in refused
        assert limited.usage()["usedCredits"] == 45_003
        time.sleep(1.05)
        assert session.get(url, headers={"X-API-KEY": KEY}, timeout=5).status_code == 200


# ---------------------------------------------------------------- the request log


def test_the_request_log_never_holds_the_key(sandbox: Sandbox, http: requests.Session) -> None:
    call(http, sandbox, "/coins")
    call(http, sandbox, "/coins", headers={"X-API-KEY": None, "Authorization": f"Bearer {KEY}"})
    call(http, sandbox, "/coins", params={"apiKey": KEY, "coinIds": f"bitcoin,{KEY}"})
    call(http, sandbox, f"/coins/{KEY}")
    assert len(sandbox.requests) == 4
    assert KEY not in repr(sandbox.requests)
    assert KEY not in json.dumps(SandboxControl(sandbox.url).requests())
    assert KEY not in repr(sandbox)
    names = {field.name for field in dataclasses.fields(sandbox.requests[0])}
    assert not names & {"headers", "api_key", "key"}


def test_request_records_are_immutable_and_countable(
    sandbox: Sandbox, http: requests.Session
) -> None:
    call(http, sandbox, "/coins/bitcoin")
    call(http, sandbox, "/v1/coins/ethereum/")
    call(http, sandbox, "/v1/usage/credits")
    call(http, sandbox, "/usage/credits")
    record = sandbox.requests[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.status = 500  # type: ignore[misc]
    with pytest.raises(TypeError):
        record.query["x"] = "y"  # type: ignore[index]
    assert sandbox.count() == 4
    assert sandbox.count("/coins/{coinId}") == 2
    assert sandbox.count("/usage/credits") == 2
    assert sandbox.count("/v1/coins/bitcoin", method="get") == 1
    assert sandbox.count(method="POST") == 0
    sandbox.clear_requests()
    assert sandbox.count() == 0


# ---------------------------------------------------------------- lifecycle and CLI


def test_stop_is_quick_and_frees_the_port(http: requests.Session) -> None:
    running = Sandbox(api_key=KEY).start()
    url = running.url
    port = int(url.rsplit(":", 1)[1])
    assert call(http, running, "/usage/credits").status_code == 200  # leaves a keep-alive open
    started = time.monotonic()
    running.stop()
    assert time.monotonic() - started < 1.0
    running.stop()  # twice is fine
    with pytest.raises(requests.ConnectionError):
        http.get(url + "/usage/credits", timeout=2)
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    with pytest.raises(RuntimeError, match="not running"):
        _ = running.url


def test_cli_prints_its_url_serves_and_exits_on_sigterm() -> None:
    command = [sys.executable, "-m", "airflow_provider_coinstats.testing.sandbox", "--port", "0"]
    command += ["--plan", "FREE", "--total", "20000", "--used", "500", "--api-key", KEY]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "(plan FREE, 19,500 of 20,000 credits left); API key: " + KEY in line
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line
        with requests.Session() as session:
            session.trust_env = False
            answer = session.get(
                match[0] + "/v1/usage/credits", headers={"X-API-KEY": KEY}, timeout=5
            )
        assert answer.json()["remainingCredits"] == 19_500
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_main(["--help"])
    assert exited.value.code == 0
    assert "--rate-limit" in capsys.readouterr().out
