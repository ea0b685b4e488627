"""Helpers for testing code that calls CoinStats through the hook, an operator, a sensor or a
trigger, where the client and its retry policy are built from the connection and out of reach.

::

    from airflow_provider_coinstats.testing.retries import record_retry_waits, reset_pacing


    def test_my_dag_survives_a_503(...):
        with record_retry_waits() as waits:  # every retry wait is recorded, none is slept
            run_my_task()
        assert len(waits) == 2

    @pytest.fixture(autouse=True)
    def _fresh_pacing():
        reset_pacing()  # each test starts with unpaced connections
        yield
        reset_pacing()

A policy given its own ``RetryPolicy(sleep=...)`` keeps that ``sleep``; these helpers change only
the default every other policy uses. They change process-wide state: use them in tests only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from airflow_provider_coinstats.api import pacing, retry


@contextmanager
def record_retry_waits(*, sleep: bool = False) -> Iterator[list[float]]:
    """Record the wait before every retry, in every client of the process, in order.

    :param sleep: also sleep each wait for real (e.g. to measure a real run's wall time).
    :return: the list the waits are appended to, in seconds.
    """
    waits: list[float] = []

    def record(seconds: float) -> None:
        waits.append(seconds)
        if sleep:
            time.sleep(seconds)

    saved = retry._sleeper
    retry._sleeper = record
    try:
        yield waits
    finally:
        retry._sleeper = saved


def reset_pacing() -> None:
    """Forget every connection's pacing bucket, so that the next request of each goes at once
    and a test's pace does not carry over into the next test."""
    with pacing._buckets_lock:
        pacing._buckets.clear()
