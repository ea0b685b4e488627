from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from airflow_provider_coinstats.api.retry import RetryPolicy, parse_retry_after
from airflow_provider_coinstats.exceptions import (
    CoinStatsAuthError,
    CoinStatsConnectionError,
    CoinStatsCreditsExhaustedError,
    CoinStatsRateLimitError,
    CoinStatsRequestError,
    CoinStatsResponseError,
    CoinStatsServerError,
)


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
