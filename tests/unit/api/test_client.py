"""CoinStatsClient over real HTTP against the sandbox on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_provider_coinstats.api.client import USER_AGENT, CoinStatsClient
from airflow_provider_coinstats.api.config import ClientConfig
from airflow_provider_coinstats.api.models import CreditUsage
from airflow_provider_coinstats.api.retry import RetryPolicy
from airflow_provider_coinstats.exceptions import (
    CoinStatsAuthError,
    CoinStatsConnectionError,
    CoinStatsCreditsExhaustedError,
    CoinStatsRateLimitError,
    CoinStatsRequestError,
    CoinStatsResponseError,
    CoinStatsServerError,
    CoinStatsTimeoutError,
)
from airflow_provider_coinstats.testing.sandbox import Fault, Sandbox
from tests.conftest import TEST_KEY


def make_client(
    url: str, *, key: str = TEST_KEY, sleeps: list[float] | None = None, **settings: object
) -> CoinStatsClient:
    config = ClientConfig(
        api_key=key, base_url=url, requests_per_second=1000, conn_id="cs_test", **settings
    )  # type: ignore[arg-type]
    recorded = sleeps if sleeps is not None else []
    retry = RetryPolicy(max_retries=config.max_retries, sleep=recorded.append)
    return CoinStatsClient(config, retry=retry)


def test_reads_credit_usage_with_and_without_v1(sandbox: Sandbox) -> None:
    for base in (sandbox.url, sandbox.url + "/v1"):
        with make_client(base) as client:
            assert client.get_credit_usage() == CreditUsage(100_000, 45_000, 55_000, "PRO")
    assert sandbox.count(path="/usage/credits") == 2


def test_v1_in_both_base_and_path_is_not_doubled(sandbox: Sandbox) -> None:
    client = make_client(sandbox.url + "/v1")
    assert client.url_for("/v1/coins") == sandbox.url + "/v1/coins"
    assert client.url_for("coins/bitcoin") == sandbox.url + "/v1/coins/bitcoin"
    assert make_client(sandbox.url).url_for("/coins") == sandbox.url + "/coins"


def test_bearer_auth_is_accepted(sandbox: Sandbox) -> None:
    with make_client(sandbox.url, auth_type="bearer") as client:
        assert client.get_credit_usage().remaining_credits == 55_000


def test_request_returns_json_and_sends_lists_comma_separated(sandbox: Sandbox) -> None:
    with make_client(sandbox.url) as client:
        page = client.request("GET", "/coins", params={"page": 1, "limit": 5})
        charts = client.request(
            "GET", "/coins/charts", params={"coinIds": ["bitcoin", "ethereum"], "period": "24h"}
        )
    assert len(page["result"]) == 5
    assert charts  # answered, and charged 3 x 2 coins
    assert sandbox.usage()["usedCredits"] == 45_000 + 2 + 6


def test_wrong_key_fails_once_with_an_actionable_message(sandbox: Sandbox) -> None:
    with (
        make_client(sandbox.url, key="wrong-key-123456") as client,
        pytest.raises(CoinStatsAuthError) as caught,
    ):
        client.get_credit_usage()
    error = caught.value
    assert error.status_code == 401
    assert "rejected the API key of connection 'cs_test'" in str(error)
    assert "https://openapi.coinstats.app" in str(error)
    assert "wrong-key-123456" not in str(error) + repr(error)
    assert sandbox.count() == 1  # never retried


def test_transient_5xx_is_retried_with_backoff_then_succeeds(sandbox: Sandbox) -> None:
    sandbox.inject(Fault(kind="status", status=503, times=2))
    sleeps: list[float] = []
    with make_client(sandbox.url, sleeps=sleeps) as client:
        assert client.get_credit_usage().remaining_credits == 55_000
    assert sandbox.count(path="/usage/credits") == 3
    assert len(sleeps) == 2 and all(0 <= s <= 1.0 for s in sleeps)


def test_persistent_5xx_gives_up_after_max_retries(sandbox: Sandbox) -> None:
    sandbox.inject(Fault(kind="status", status=500, times=None))
    with (
        make_client(sandbox.url, max_retries=2) as client,
        pytest.raises(CoinStatsServerError, match="HTTP 500"),
    ):
        client.get_credit_usage()
    assert sandbox.count() == 3


def test_503_without_request_id_is_still_a_server_error(sandbox: Sandbox) -> None:
    sandbox.inject(Fault(kind="status", status=503, with_request_id=False, times=None))
    with (
        make_client(sandbox.url, max_retries=0) as client,
        pytest.raises(CoinStatsServerError) as caught,
    ):
        client.get_credit_usage()
    assert caught.value.request_id is None and caught.value.status_code == 503


def test_rate_limit_honours_retry_after(sandbox: Sandbox) -> None:
    sandbox.inject(Fault(kind="status", status=429, retry_after="2", times=1))
    sleeps: list[float] = []
    with make_client(sandbox.url, sleeps=sleeps) as client:
        client.get_credit_usage()
    assert sleeps == [2.0]


def test_rate_limit_error_carries_retry_after_when_retries_run_out(sandbox: Sandbox) -> None:
    sandbox.inject(Fault(kind="status", status=429, retry_after="3", times=None))
    with (
        make_client(sandbox.url, max_retries=0) as client,
        pytest.raises(CoinStatsRateLimitError) as caught,
    ):
        client.get_credit_usage()
    assert caught.value.retry_after == 3.0


def test_exhausted_credits_fail_fast(sandbox: Sandbox) -> None:
    sandbox.set_credits(used=100_000)
    with (
        make_client(sandbox.url) as client,
        pytest.raises(CoinStatsCreditsExhaustedError, match="credits are exhausted") as caught,
    ):
        client.request("GET", "/coins")
    assert caught.value.status_code == 429
    assert "Insufficient credits" in (caught.value.api_message or "")
    assert sandbox.count(path="/coins") == 1


@pytest.mark.parametrize("status", [402, 406])
def test_402_and_406_mean_credits_exhausted(sandbox: Sandbox, status: int) -> None:
    sandbox.inject(Fault(kind="status", status=status))
    with make_client(sandbox.url) as client, pytest.raises(CoinStatsCreditsExhaustedError):
        client.get_credit_usage()


def test_other_4xx_is_a_request_error_with_coinstats_details(sandbox: Sandbox) -> None:
    with make_client(sandbox.url) as client, pytest.raises(CoinStatsRequestError) as caught:
        client.request("GET", "/coins/no-such-coin-xyz")
    assert caught.value.status_code == 404
    assert caught.value.request_id
    assert sandbox.count() == 1


def test_a_404_says_to_check_the_base_url_and_names_it(sandbox: Sandbox) -> None:
    # A Base URL with a wrong path: every endpoint answers 404.
    wrong = f"{sandbox.url}/v2"
    with make_client(wrong) as client, pytest.raises(CoinStatsRequestError) as caught:
        client.get_credit_usage()
    message = str(caught.value)
    assert caught.value.status_code == 404
    assert f"whose Base URL is {wrong}" in message
    assert "Check the Base URL (CoinStats' own is https://openapiv1.coinstats.app/v1)" in message


def test_old_error_shape_is_understood(sandbox: Sandbox) -> None:
    body = '{"error": "Rate limit exceeded", "message": "Insufficient credits for this request"}'
    sandbox.inject(Fault(kind="status", status=429, body=body))
    with make_client(sandbox.url) as client, pytest.raises(CoinStatsCreditsExhaustedError):
        client.get_credit_usage()


@pytest.mark.parametrize(
    ("fault", "error", "text"),
    [
        (Fault(kind="invalid_json"), CoinStatsResponseError, "invalid JSON"),
        (Fault(kind="html", status=200), CoinStatsResponseError, "HTML page"),
        (Fault(kind="mistyped"), CoinStatsResponseError, "remainingCredits"),
    ],
)
def test_bad_bodies_fail_without_retrying(
    sandbox: Sandbox, fault: Fault, error: type[Exception], text: str
) -> None:
    sandbox.inject(fault)
    with make_client(sandbox.url) as client, pytest.raises(error, match=text):
        client.get_credit_usage()
    assert sandbox.count() == 1


def test_a_proxy_html_502_is_a_server_error_with_a_short_snippet(sandbox: Sandbox) -> None:
    sandbox.inject(Fault(kind="html", status=502, times=None))
    with (
        make_client(sandbox.url, max_retries=0) as client,
        pytest.raises(CoinStatsServerError) as caught,
    ):
        client.get_credit_usage()
    assert "<" not in str(caught.value)
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize(
    ("fault", "text"),
    [
        (Fault(kind="reset", times=None), "closed|reset|without answering"),
        (Fault(kind="partial_body", times=None), "cut off"),
    ],
)
def test_broken_transfers_are_connection_errors_after_retries(
    sandbox: Sandbox, fault: Fault, text: str
) -> None:
    sandbox.inject(fault)
    with (
        make_client(sandbox.url, max_retries=1) as client,
        pytest.raises(CoinStatsConnectionError, match=text),
    ):
        client.get_credit_usage()
    assert sandbox.count() == 2


def test_slow_answers_time_out_as_timeout_errors(sandbox: Sandbox) -> None:
    sandbox.inject(Fault(kind="delay", seconds=1.0, times=None))
    with (
        make_client(sandbox.url, timeout=0.2, max_retries=1) as client,
        pytest.raises(CoinStatsTimeoutError, match=r"did not answer .* within 0\.2 s"),
    ):
        client.get_credit_usage()


def test_refused_connection_names_the_problem() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        make_client(f"http://127.0.0.1:{port}", max_retries=0) as client,
        pytest.raises(CoinStatsConnectionError, match="refused"),
    ):
        client.get_credit_usage()


def test_dns_failure_names_the_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stub name resolution (a layer below the client) so no packet leaves the machine.
    def no_such_host(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    with (
        make_client("https://no-such-host.invalid", max_retries=0) as client,
        pytest.raises(CoinStatsConnectionError, match="does not resolve"),
    ):
        client.get_credit_usage()


class _HeaderRecorder(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        _HeaderRecorder.seen.append(dict(self.headers))
        body = (
            b'{"totalCredits": 1, "usedCredits": 0, "remainingCredits": 1, "subscription": "FREE"}'
        )
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def header_server() -> Iterator[str]:
    _HeaderRecorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HeaderRecorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_headers_sent_on_every_request(header_server: str) -> None:
    with make_client(header_server) as client:
        client.get_credit_usage()
    with make_client(header_server, auth_type="bearer") as client:
        client.get_credit_usage()
    api_key, bearer = _HeaderRecorder.seen
    assert api_key["X-API-KEY"] == TEST_KEY and "Authorization" not in api_key
    assert bearer["Authorization"] == f"Bearer {TEST_KEY}" and "X-API-KEY" not in bearer
    assert api_key["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("airflow-provider-coinstats/0.")


def test_repr_hides_the_key(sandbox: Sandbox) -> None:
    assert TEST_KEY not in repr(make_client(sandbox.url))
