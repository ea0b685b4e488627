"""The client against hostile servers on 127.0.0.1: every call bounded in time and memory, every
failure a CoinStats error, the key nowhere (issue 9, client side).

Each test goes through the public interface (``CoinStatsHook`` on a connection from
``AIRFLOW_CONN_*``, or ``CoinStatsClient``) and asserts the exception class, the requests the
server saw, a wall time that is a generous multiple of the deadline, and that no piece of the key
is in any exception text (chains included), log record or return value. Size cases run the
client in a child process and measure its peak RSS there.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from airflow_provider_coinstats.api.client import CoinStatsClient
from airflow_provider_coinstats.api.config import ClientConfig
from airflow_provider_coinstats.api.models import CreditUsage
from airflow_provider_coinstats.api.retry import RetryPolicy
from airflow_provider_coinstats.exceptions import (
    CoinStatsAuthError,
    CoinStatsConfigError,
    CoinStatsConnectionError,
    CoinStatsError,
    CoinStatsRequestError,
    CoinStatsResponseError,
    CoinStatsServerError,
    CoinStatsTimeoutError,
)
from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook
from airflow_provider_coinstats.testing.retries import record_retry_waits
from airflow_provider_coinstats.testing.sandbox import Fault, Sandbox
from tests.conftest import TEST_KEY, connection_json
from tests.unit.api import hostile
from tests.unit.api.hostile import HostileServer, iter_chain

ROOT = Path(__file__).resolve().parents[3]
CONN_ID = "coinstats_hostile"
#: A key with characters that URL-encoding and JSON-escaping change, so an echo in either form
#: differs from the raw key (header-safe printable ASCII all the same).
ODD_KEY = 'cs+KEY/7f3a=9c2e"51d8&4b6a\\x'
FRAGMENT = 12
MiB = 1024 * 1024


def key_forms(key: str) -> set[str]:
    """The key as an echo could spell it: raw, URL-encoded, JSON-escaped."""
    return {key, quote(key, safe=""), quote_plus(key, safe=""), json.dumps(key)[1:-1]}


def leaked(text: str, key: str = TEST_KEY) -> list[str]:
    """FRAGMENT-character pieces of any form of ``key`` found in ``text``."""
    pieces = {
        form[i : i + FRAGMENT] for form in key_forms(key) for i in range(len(form) - FRAGMENT + 1)
    }
    return sorted(piece for piece in pieces if piece in text)


def texts_of(error: BaseException | None) -> str:
    """str, repr, args and fields of an error and of everything chained to it."""
    return "\n".join(
        f"{link}\n{link!r}\n{link.args!r}\n{vars(link)!r}" for link in iter_chain(error)
    )


@pytest.fixture
def hook_on(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``hook_on(url, key=..., **extra)``: a CoinStatsHook on a connection from the
    environment."""

    def make(url: str, key: str = TEST_KEY, **extra: object) -> CoinStatsHook:
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(url, key, **extra))
        return CoinStatsHook(coinstats_conn_id=CONN_ID)

    return make


def client_on(url: str, key: str = TEST_KEY, **settings: Any) -> CoinStatsClient:
    settings = {"requests_per_second": 1000, "conn_id": CONN_ID, **settings}
    return CoinStatsClient(ClientConfig(api_key=key, base_url=url, **settings))


def call(function: Any, *args: Any, **kwargs: Any) -> tuple[Any, CoinStatsError | None, float]:
    """(value, error, seconds) of one call."""
    start = time.monotonic()
    try:
        return function(*args, **kwargs), None, time.monotonic() - start
    except CoinStatsError as error:
        return None, error, time.monotonic() - start


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


# -- 1. deadlines ------------------------------------------------------------------------------


def test_a_trickling_body_ends_at_the_attempt_deadline(hook_on: Any, logs: Any) -> None:
    """1 byte every 0.5 s of a 96-byte body: on main this took 47.7 s with timeout 2."""
    timeout = 2.0
    body = json.dumps(hostile.usage_body()).encode().ljust(96)
    with HostileServer(hostile.trickle(body, interval=0.5)) as server:
        hook = hook_on(server.url, timeout=timeout, max_retries=0)
        value, error, seconds = call(hook.get_credit_usage)
        assert server.wait_until_closed()  # the client hung up: no connection left behind
    assert type(error) is CoinStatsTimeoutError
    assert f"within {timeout:g} s" in str(error) and "'timeout' extra" in str(error)
    assert server.count == 1
    assert timeout * 0.9 <= seconds < 4 * timeout + 2
    assert value is None and leaked(texts_of(error) + logs.text) == []


def test_headers_trickling_in_end_at_the_attempt_deadline(hook_on: Any, logs: Any) -> None:
    """Status line and headers one byte every 0.3 s: every read is within the socket timeout,
    so only the head watchdog can end the attempt at ``timeout``."""
    timeout = 1.5
    body = json.dumps(hostile.usage_body()).encode()
    with HostileServer(hostile.slow_head(body, interval=0.3)) as server:
        hook = hook_on(server.url, timeout=timeout, max_retries=0)
        value, error, seconds = call(hook.get_credit_usage)
        assert server.wait_until_closed()
    assert type(error) is CoinStatsTimeoutError
    assert "while the headers arrived" in str(error) and "'timeout' extra" in str(error)
    assert server.count == 1
    assert timeout * 0.9 <= seconds < 4 * timeout + 2
    assert value is None and leaked(texts_of(error) + logs.text) == []


def test_retries_and_waits_end_at_the_call_deadline() -> None:
    """timeout 1 s, 10 retries without backoff, total_timeout 2.5 s: the third attempt gets
    what is left (0.5 s), and the error names total_timeout."""
    total = 2.5
    body = json.dumps(hostile.usage_body()).encode()
    with HostileServer(hostile.trickle(body, interval=0.5)) as server:
        client = CoinStatsClient(
            ClientConfig(
                api_key=TEST_KEY,
                base_url=server.url,
                requests_per_second=1000,
                timeout=1.0,
                max_retries=10,
                total_timeout=total,
            ),
            retry=RetryPolicy(max_retries=10, random=lambda: 0.0),
        )
        _, error, seconds = call(client.get_credit_usage)
        assert server.wait_until_closed()
    assert type(error) is CoinStatsTimeoutError
    assert f"within {total:g} s" in str(error) and "'total_timeout' extra" in str(error)
    assert 2 <= server.count <= 3  # 3, unless a loaded machine made the first two slower
    assert total * 0.9 <= seconds < 4 * total + 2


def test_a_silent_server_times_out_at_the_socket_level(hook_on: Any) -> None:
    """Headers never come: the socket's read timeout (the attempt's budget) ends the wait."""
    timeout = 1.0
    with HostileServer(hostile.silent()) as server:
        hook = hook_on(server.url, timeout=timeout, max_retries=1)
        with record_retry_waits() as waits:
            _, error, seconds = call(hook.get_credit_usage)
    assert type(error) is CoinStatsTimeoutError and "'timeout' extra" in str(error)
    assert server.count == 2 and len(waits) == 1
    assert seconds < 4 * 2 * timeout + 2


def test_a_pacing_wait_past_the_call_deadline_is_not_slept(sandbox: Sandbox) -> None:
    """At 0.5 requests/s the second call would wait 2.5 s for its slot; total_timeout is 1 s."""
    client = client_on(sandbox.url, requests_per_second=0.5, total_timeout=1.0, conn_id="slow")
    client.get_credit_usage()
    _, error, seconds = call(client.get_credit_usage)
    assert type(error) is CoinStatsTimeoutError and "pacing" in str(error)
    assert sandbox.count() == 1
    assert seconds < 1.0  # given up at once, not after sleeping


# -- 2. size cap (memory measured in a child process) ---------------------------------------------

# Peak RSS is read from VmHWM, reset first: ru_maxrss would report the parent's peak, since
# Linux keeps it across fork and exec.
CHILD = """
import json, sys, time
from airflow_provider_coinstats.api.client import CoinStatsClient
from airflow_provider_coinstats.api.config import ClientConfig
from airflow_provider_coinstats.api.exceptions import CoinStatsError

url, key, cap = sys.argv[1], sys.argv[2], int(sys.argv[3])
config = ClientConfig(
    api_key=key, base_url=url, requests_per_second=1000, max_retries=0, timeout=60,
    total_timeout=120, max_response_bytes=cap,
)
client = CoinStatsClient(config)

def peak_rss_kib():
    with open("/proc/self/status") as status:
        return int(status.read().split("VmHWM:")[1].split()[0])

with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")  # reset the peak to the current RSS
before = peak_rss_kib()
start = time.monotonic()
try:
    client.request("GET", "/coins")
    error, message = None, ""
except CoinStatsError as caught:
    error, message = type(caught).__name__, str(caught)
seconds = time.monotonic() - start
peak = peak_rss_kib()
print(json.dumps({"error": error, "message": message, "seconds": seconds,
                  "rss_before_kib": before, "rss_peak_kib": peak,
                  "rss_grew_kib": peak - before}))
"""


def run_in_child(url: str, cap: int = 10 * MiB) -> dict[str, Any]:
    """Call ``url`` from a fresh Python and report what it raised and how much its RSS grew."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, url, TEST_KEY, str(cap)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


SIZE_CASES = {
    "gzip 1 MB on the wire -> 1 GiB decoded": hostile.gzip_bomb(1024),
    "endless chunked body": hostile.endless(),
    "200 MB plain body (Content-Length)": hostile.big_body(200 * MiB),
    "200 MB plain body (no Content-Length)": hostile.big_body(200 * MiB, declared=False),
}


@pytest.mark.parametrize("case", SIZE_CASES)
def test_an_oversized_answer_is_refused_at_the_cap_with_memory_near_it(case: str) -> None:
    cap = 10 * MiB
    with HostileServer(SIZE_CASES[case]) as server:
        outcome = run_in_child(server.url, cap)
        assert server.wait_until_closed()
    assert outcome["error"] == "CoinStatsResponseError", outcome
    assert f"larger than {cap:,} bytes" in outcome["message"]
    assert "'max_response_bytes' extra" in outcome["message"]
    assert server.count == 1
    # The issue measured 4.2 GB, 2.8 GB and 720 MB here; the body is held once, then joined.
    assert outcome["rss_grew_kib"] * 1024 < 4 * cap, outcome
    assert outcome["seconds"] < 60
    print(case, outcome)  # the figures, for -s


def test_an_error_body_is_read_only_to_a_small_cap(hook_on: Any) -> None:
    """A 500 whose body never ends is still a plain, quick server error."""
    with HostileServer(hostile.endless(status=500)) as server:
        hook = hook_on(server.url, timeout=30, max_retries=0)
        _, error, seconds = call(hook.get_credit_usage)
        assert server.wait_until_closed()
    assert type(error) is CoinStatsServerError and error.status_code == 500
    assert server.count == 1 and seconds < 30
    assert len(str(error)) < 400


# -- 3. parsing never escapes the tree -------------------------------------------------------------

DEEP = hostile.nested(1000)  # 2 KB: RecursionError in json.loads on main


@pytest.mark.parametrize(
    ("status", "expected", "requests"),
    [
        (200, CoinStatsResponseError, 1),
        (401, CoinStatsAuthError, 1),
        (500, CoinStatsServerError, 4),
    ],
)
def test_deeply_nested_json_maps_to_the_status_class(
    hook_on: Any, status: int, expected: type[CoinStatsError], requests: int
) -> None:
    with HostileServer(hostile.answer(status, DEEP)) as server:
        hook = hook_on(server.url, timeout=5)
        with record_retry_waits() as waits:
            _, error, seconds = call(hook.get_credit_usage)
    assert type(error) is expected and error.status_code == status
    assert server.count == requests and len(waits) == requests - 1  # the 500 is retried
    if status == 200:
        assert "nested deeper than 64 levels" in str(error)
    assert seconds < 4 * 5 * requests + 2


def test_nesting_just_past_the_limit_is_refused_and_at_it_accepted(hook_on: Any) -> None:
    for depth, ok in ((64, True), (65, False)):
        with HostileServer(hostile.answer(200, hostile.nested(depth))) as server:
            _, error, _ = call(client_on(server.url).request, "GET", "/coins")
        assert (error is None) is ok, error
        assert server.count == 1


NUMBERS = {
    "400-digit integer": '{"totalCredits": 1' + "0" * 399 + "}",
    "4300-digit integer (int() refuses it)": '{"totalCredits": ' + "9" * 4301 + "}",
    "NaN": '{"totalCredits": NaN}',
    "Infinity": '{"totalCredits": -Infinity}',
    "float overflowing to inf": '{"totalCredits": 1e400}',
    "not UTF-8": b'{"subscription": "\xff\xfe"}',
}


@pytest.mark.parametrize("case", NUMBERS)
def test_numbers_and_bytes_json_cannot_hold_are_response_errors(hook_on: Any, case: str) -> None:
    with HostileServer(hostile.answer(200, NUMBERS[case])) as server:
        hook = hook_on(server.url, timeout=5)
        _, error, _ = call(hook.get_credit_usage)
    assert type(error) is CoinStatsResponseError and error.status_code == 200, texts_of(error)
    assert server.count == 1
    assert len(str(error)) < 400  # the 4,300 digits are not quoted in full


def test_a_400_digit_integer_in_an_error_body_keeps_the_status_class(hook_on: Any) -> None:
    body = '{"message": "x", "requestId": ' + "9" * 400 + "}"
    with HostileServer(hostile.answer(503, body)) as server:
        hook = hook_on(server.url, timeout=5, max_retries=0)
        _, error, _ = call(hook.get_credit_usage)
    assert type(error) is CoinStatsServerError and server.count == 1


# -- 4. one scrubber: a key echoed back goes nowhere -----------------------------------------------


def _echo_cases(key: str) -> dict[str, tuple[hostile.Behaviour, type[CoinStatsError] | None]]:
    url_key, json_key = quote(key, safe=""), json.dumps(key)
    return {
        "subscription (raw)": (hostile.answer(200, hostile.usage_body(subscription=key)), None),
        "subscription (Bearer <key>)": (
            hostile.answer(200, hostile.usage_body(subscription=f"Bearer {key}")),
            None,
        ),
        "subscription (\\u-escaped JSON)": (
            hostile.answer(
                200,
                json.dumps(hostile.usage_body(subscription=key), ensure_ascii=True).replace(
                    "K", "\\u004b"
                ),
            ),
            None,
        ),
        "message (URL-encoded)": (
            hostile.answer(400, {"message": f"bad header X-API-KEY={url_key}"}),
            CoinStatsRequestError,
        ),
        "message (JSON-escaped, raw bytes)": (
            hostile.answer(401, '{"message": "key ' + json_key[1:-1] + ' rejected"}'),
            CoinStatsAuthError,
        ),
        "requestId": (
            hostile.answer(404, {"message": "x", "requestId": f"Bearer {key}"}),
            CoinStatsRequestError,
        ),
        "Location (URL-encoded query)": (
            hostile.answer(302, b"", {"Location": f"https://elsewhere.invalid/?k={url_key}"}),
            CoinStatsRequestError,
        ),
        "Location (quote_plus)": (
            hostile.answer(
                301, b"", {"Location": f"https://x.invalid/?k={quote_plus(key, safe='')}"}
            ),
            CoinStatsRequestError,
        ),
        "field name in a model error": (
            hostile.answer(200, {key: 1, "subscription": "PRO"}),
            CoinStatsResponseError,
        ),
        "invalid JSON quoted in the error": (
            hostile.answer(200, '{"echo": "' + json_key[1:-1] + '", "cut'),
            CoinStatsResponseError,
        ),
    }


ECHOES = _echo_cases(ODD_KEY)


@pytest.mark.parametrize("echo", ECHOES)
def test_a_key_echoed_back_is_scrubbed_everywhere(
    echo: str, hook_on: Any, logs: Any, task_logs: Any
) -> None:
    behaviour, expected = ECHOES[echo]
    with HostileServer(behaviour) as server:
        hook = hook_on(server.url, key=ODD_KEY, timeout=5)
        value, error, _ = call(hook.get_credit_usage)
    assert server.count == 1
    assert (type(error) if error else None) is expected, texts_of(error)
    if expected is None:
        assert isinstance(value, CreditUsage)
        assert "***" in value.subscription
        shown = repr(value) + json.dumps(value.to_dict(datetime.now(UTC))) + value.summary()
    else:
        shown = texts_of(error)
        assert "***" in shown
    assert leaked(shown, ODD_KEY) == []
    assert leaked(logs.text + task_logs(), ODD_KEY) == []


def test_request_returns_a_scrubbed_payload(hook_on: Any) -> None:
    """Any endpoint's JSON, not just /usage/credits: the key is gone from values and names."""
    body = {"result": [{"name": ODD_KEY, ODD_KEY: f"Bearer {ODD_KEY}"}]}
    with HostileServer(hostile.answer(200, body)) as server:
        payload = hook_on(server.url, key=ODD_KEY).request("GET", "/coins")
    assert payload == {"result": [{"name": "***", "***": "Bearer ***"}]}


# -- 5. transport failures by type; odd keys ------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "expected", "words"),
    [
        (hostile.hang_up(), CoinStatsConnectionError, "closed the connection without answering"),
        (hostile.not_http(), CoinStatsConnectionError, "not valid HTTP"),
        (hostile.cut_off(), CoinStatsConnectionError, "cut off mid-transfer"),
    ],
    ids=["hang up", "not HTTP", "cut off"],
)
def test_transport_failures_are_named_by_type(
    behaviour: hostile.Behaviour, expected: type[CoinStatsError], words: str
) -> None:
    with HostileServer(behaviour) as server:
        _, error, _ = call(client_on(server.url, max_retries=1).get_credit_usage)
    assert type(error) is expected and words in str(error), texts_of(error)
    assert server.count == 2  # transient: retried once
    assert leaked(texts_of(error)) == []


def test_an_invalid_base_url_is_a_config_error_before_any_request() -> None:
    _, error, _ = call(client_on("http://127.0.0.1:99999").get_credit_usage)
    assert type(error) is CoinStatsConfigError and "base URL is not valid" in str(error)


ODD_KEYS = {
    "CR/LF": "cs-test-KEY\r\nX-Injected: 7f3a9c2e51d84b6a",
    "zero-width space": "cs-test-KEY\u200b7f3a9c2e51d84b6a",
    "byte-order mark": "\ufeffcs-test-KEY-7f3a9c2e51d84b6a",
    "control character": "cs-test-KEY\x077f3a9c2e51d84b6a",
}


@pytest.mark.parametrize("case", ODD_KEYS)
def test_a_key_that_cannot_be_a_header_is_a_config_error_without_the_key(
    case: str, hook_on: Any, logs: Any
) -> None:
    key = ODD_KEYS[case]
    with HostileServer(hostile.answer(200, hostile.usage_body())) as server:
        _, error, _ = call(hook_on(server.url, key=key).get_credit_usage)
        client_error = call(client_on(server.url, key=key).get_credit_usage)[1]
    for found in (error, client_error):
        assert isinstance(found, CoinStatsConfigError), texts_of(found)
        assert "cannot be sent in an HTTP header" in str(found)
        assert leaked(texts_of(found), key.strip()) == []
    assert f"connection {CONN_ID!r}" in str(error)
    assert server.count == 0
    assert leaked(logs.text, key.strip()) == []


# -- 6. retries log one line each; retry=False -----------------------------------------------------


def test_each_retry_logs_one_line(coinstats_conn: Sandbox, logs: Any) -> None:
    coinstats_conn.inject(Fault("status", status=503, times=2))
    with record_retry_waits() as waits:
        CoinStatsHook().get_credit_usage()
    lines = [
        record.getMessage()
        for record in logs.records
        if record.name == "airflow_provider_coinstats.api.client"
    ]
    assert len(lines) == 2 and len(waits) == 2
    for n, (line, wait) in enumerate(zip(lines, waits, strict=True), start=1):
        assert re.fullmatch(
            rf"CoinStats GET /usage/credits failed \(HTTP 503\); retry {n} of 3 in {wait:.1f} s",
            line,
        ), line
    assert all(
        record.levelno == logging.WARNING
        for record in logs.records
        if "retry" in record.getMessage()
    )


def test_retry_false_sends_one_attempt(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("status", status=503, times=None))
    client = client_on(sandbox.url)
    with record_retry_waits() as waits:
        _, error, _ = call(client.get_credit_usage, retry=False)
        _, error_2, _ = call(client.request, "GET", "/coins", retry=False)
    assert type(error) is CoinStatsServerError and type(error_2) is CoinStatsServerError
    assert sandbox.count() == 2 and waits == []


# -- 8. proxies ------------------------------------------------------------------------------------


def test_a_proxy_in_the_environment_is_used_and_sees_a_plain_http_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the README says: requests honours HTTP_PROXY; over plain http the proxy sees the
    key header (hence the opt-in for plain http to a non-loopback host)."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with HostileServer(hostile.answer(200, hostile.usage_body())) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        usage = client_on("http://coinstats.invalid").get_credit_usage()
    assert usage.remaining_credits == 60
    assert proxy.count == 1
    assert proxy.requests[0].startswith(b"GET http://coinstats.invalid/usage/credits ")
    assert f"X-API-KEY: {TEST_KEY}".encode() in proxy.requests[0]
