from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from airflow_provider_coinstats.exceptions import (
    CoinStatsAuthError,
    CoinStatsConnectionError,
    CoinStatsCreditsExhaustedError,
    CoinStatsRateLimitError,
    CoinStatsRequestError,
    CoinStatsResponseError,
    CoinStatsServerError,
)
from airflow_provider_coinstats.ratelimit import TokenBucket, shared_bucket
from airflow_provider_coinstats.retry import RetryPolicy, parse_retry_after


@pytest.mark.parametrize(
    ("error", "method", "retried"),
    [
        (CoinStatsConnectionError("x"), "GET", True),
        (CoinStatsServerError("x", status_code=503), "GET", True),
        (CoinStatsRateLimitError("x", status_code=429), "GET", True),
        (CoinStatsRateLimitError("x", status_code=429), "POST", True),  # a 429 did no work
        (CoinStatsServerError("x", status_code=502), "POST", False),  # may have been done
        (CoinStatsConnectionError("x"), "PATCH", False),
        (CoinStatsAuthError("x", status_code=401), "GET", False),
        (CoinStatsCreditsExhaustedError("x", status_code=429), "GET", False),
        (CoinStatsRequestError("x", status_code=404), "GET", False),
        (CoinStatsResponseError("x", status_code=200), "GET", False),
    ],
)
def test_what_is_retried(error: Exception, method: str, retried: bool) -> None:
    assert RetryPolicy(max_retries=3).should_retry(error, method, 0) is retried  # type: ignore[arg-type]


def test_retries_stop_at_max_retries() -> None:
    policy = RetryPolicy(max_retries=2)
    error = CoinStatsServerError("x")
    assert [policy.should_retry(error, "GET", n) for n in range(4)] == [True, True, False, False]


def test_full_jitter_backoff_is_bounded_and_capped() -> None:
    top = RetryPolicy(backoff_base=0.5, backoff_cap=3.0, random=lambda: 0.999999)
    assert [round(top.delay(CoinStatsServerError("x"), n), 3) for n in range(5)] == [
        0.5,
        1.0,
        2.0,
        3.0,
        3.0,
    ]
    bottom = RetryPolicy(random=lambda: 0.0)
    assert bottom.delay(CoinStatsServerError("x"), 4) == 0.0


def test_retry_after_wins_and_is_capped() -> None:
    policy = RetryPolicy(max_retry_after=10.0, random=lambda: 0.0)
    assert policy.delay(CoinStatsRateLimitError("x", retry_after=4.0), 0) == 4.0
    assert policy.delay(CoinStatsRateLimitError("x", retry_after=3600.0), 0) == 10.0


def test_parse_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC).timestamp()
    date = format_datetime(datetime(2026, 11, 25, 12, 0, 30, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(30.0)


def test_token_bucket_spaces_requests_without_burst() -> None:
    fake_now = [100.0]
    waits: list[float] = []
    bucket = TokenBucket(4.0, clock=lambda: fake_now[0], sleep=waits.append)
    for _ in range(5):
        bucket.acquire()
    assert waits == pytest.approx([0.25, 0.5, 0.75, 1.0])  # the first goes at once


def test_token_bucket_is_thread_safe_under_contention() -> None:
    bucket = TokenBucket(200.0)
    sent: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            bucket.acquire()
            with lock:
                sent.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent.sort()
    # 80 requests at 200/s cannot finish in less than 79 spacings of 5 ms.
    assert len(sent) == 80
    assert sent[-1] - sent[0] >= 79 / 200 - 0.01


def test_shared_bucket_is_one_per_connection_and_follows_rate_changes() -> None:
    first = shared_bucket("conn_a", 2.0)
    assert shared_bucket("conn_a", 2.0) is first
    assert shared_bucket("conn_b", 2.0) is not first
    assert shared_bucket("conn_a", 5.0).rate == 5.0


def test_token_bucket_rejects_non_positive_rates() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)
