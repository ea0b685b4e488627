"""The per-connection token bucket: spacing, thread safety, one bucket per connection."""

from __future__ import annotations

import threading
import time

import pytest

from airflow_provider_coinstats.api.pacing import TokenBucket, shared_bucket


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
