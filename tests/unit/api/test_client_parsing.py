"""The client's building blocks below HTTP: bounded JSON parsing, the key scrubber, typed
transport classification, the pacing bucket's ``within`` and the retry test helpers."""

from __future__ import annotations

import html
import http.client
import json
import socket
import time
from urllib.parse import quote, quote_plus

import pytest
import requests
import urllib3.exceptions as u3

from airflow_provider_coinstats.api import retry
from airflow_provider_coinstats.api.pacing import TokenBucket
from airflow_provider_coinstats.api.parsing import MAX_DEPTH, RejectedJSON, loads
from airflow_provider_coinstats.api.retry import RetryPolicy
from airflow_provider_coinstats.api.scrub import Scrubber
from airflow_provider_coinstats.api.transport import classify
from airflow_provider_coinstats.exceptions import CoinStatsServerError
from airflow_provider_coinstats.testing.retries import record_retry_waits


def test_depth_limit_is_exact_and_strings_do_not_count() -> None:
    assert loads(("[" * MAX_DEPTH + "]" * MAX_DEPTH).encode()) == loads(
        ("[" * MAX_DEPTH + "]" * MAX_DEPTH).encode()
    )
    with pytest.raises(RejectedJSON, match="deeper than 64"):
        loads(("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)).encode())
    with pytest.raises(RejectedJSON, match="deeper than 64"):
        loads(("[" * 100_000).encode())  # RecursionError inside json, never raised as such
    brackets_in_a_string = json.dumps({"a": "[{" * 500}).encode()
    assert loads(brackets_in_a_string) == {"a": "[{" * 500}
    assert loads(json.dumps("[" * 200).encode()) == "[" * 200  # a scalar root


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"1" + b"0" * 64, "65 digits"),
        (b"-" + b"9" * 5000, "5000 digits"),
        (b"[NaN]", "NaN"),
        (b"Infinity", "Infinity"),
        (b"1e400", "too large for a float"),
        (b'"\xff"', "not UTF-8"),
        (b"{'a': 1}", "invalid JSON"),
    ],
)
def test_what_json_cannot_hold_is_rejected_without_quoting_it(body: bytes, words: str) -> None:
    with pytest.raises(RejectedJSON, match=words) as caught:
        loads(body)
    assert caught.value.__context__ is None  # nothing that holds the body is chained
    assert len(str(caught.value)) < 120  # names the problem, quotes nothing of a long body


def test_big_but_sane_numbers_pass() -> None:
    assert loads(b'{"wei": 123456789012345678901234567890, "p": 1e300}') == {
        "wei": 123456789012345678901234567890,
        "p": 1e300,
    }


KEY = 'ab+c/d=e"f&g\\h<i>KEY-0123456789'


@pytest.mark.parametrize(
    "form",
    [
        KEY,
        f"Bearer {KEY}",
        quote(KEY, safe=""),
        quote(KEY, safe="").lower(),
        quote_plus(KEY, safe=""),
        json.dumps(KEY)[1:-1],
        html.escape(KEY),
    ],
)
def test_the_scrubber_blots_every_form_of_the_key(form: str) -> None:
    scrubber = Scrubber(KEY)
    text = f"echo: {form} end"
    assert scrubber.text(text).count("***") == 1 and "KEY-0123" not in scrubber.text(text)
    assert b"KEY-0123" not in scrubber.body(text.encode())
    assert "KEY" not in repr(scrubber)


def test_the_scrubber_cuts_after_scrubbing() -> None:
    scrubber = Scrubber(KEY)
    body = ("é" * 95 + KEY).encode()  # two-byte characters before the key
    head = scrubber.head(body, 100)
    assert "KEY-0123" not in head and head.startswith("é")
    assert Scrubber("").text("nothing to do") == "nothing to do"


def _wrapped(inner: BaseException) -> requests.ConnectionError:
    """What requests raises: its ConnectionError around urllib3's MaxRetryError."""
    return requests.ConnectionError(u3.MaxRetryError(None, "/x", reason=inner))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "kind", "words"),
    [
        (_wrapped(u3.NameResolutionError("h", None, socket.gaierror())), "connection", "DNS"),  # type: ignore[arg-type]
        (requests.ConnectTimeout(), "timeout", "no connection in time"),
        (requests.ReadTimeout(), "timeout", "no answer in time"),
        (u3.ReadTimeoutError(None, "/x", "Read timed out."), "timeout", "no answer"),  # type: ignore[arg-type]
        (
            u3.ProtocolError("aborted", http.client.RemoteDisconnected("x")),
            "connection",
            "without answering",
        ),
        (u3.ProtocolError("broken", ConnectionResetError()), "connection", "reset"),
        (requests.exceptions.ChunkedEncodingError(), "connection", "cut off"),
        (requests.exceptions.SSLError(), "connection", "TLS"),
        (requests.exceptions.ContentDecodingError(), "response", "decompressed"),
        (requests.exceptions.InvalidURL(), "config", "base URL"),
        (requests.exceptions.InvalidHeader(), "config", "header"),
        (requests.exceptions.ProxyError(), "connection", "proxy"),
    ],
)
def test_transport_errors_are_classified_by_type(
    error: BaseException, kind: str, words: str
) -> None:
    failure = classify(error)
    assert failure.kind == kind and words in failure.words


def test_a_bucket_books_no_slot_beyond_within() -> None:
    now = [0.0]
    bucket = TokenBucket(1.0, clock=lambda: now[0], sleep=lambda _: None)
    assert bucket.acquire(within=5) == 0.0
    assert bucket.acquire(within=0.5) is None  # the next slot is 1 s away
    assert bucket.acquire(within=1.0) == 1.0  # and refusing booked nothing
    assert bucket.acquire() == 2.0


def test_record_retry_waits_replaces_only_the_default_sleep() -> None:
    assert not hasattr(retry, "sleep_between_attempts")  # the old public seam is gone
    own: list[float] = []
    with record_retry_waits() as waits:
        RetryPolicy().sleep(1.5)
        RetryPolicy(sleep=own.append).sleep(2.5)
    assert waits == [1.5] and own == [2.5]
    assert retry._sleeper is time.sleep  # restored
    assert RetryPolicy().should_retry(CoinStatsServerError("x"), "GET", 0)
