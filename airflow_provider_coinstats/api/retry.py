"""The one retry policy every caller shares (operator, sensor, trigger, test_connection).

What is retried is decided by the exception class alone (``CoinStatsError.transient``): timeouts,
connection errors, 429 rate limits and 5xx. Auth errors, exhausted credits, other 4xx and bad
bodies fail at once, because the same request would fail the same way.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from airflow_provider_coinstats.api.exceptions import CoinStatsError, CoinStatsRateLimitError

# Methods whose repetition cannot spend twice. A POST or PATCH that timed out may have been
# carried out (and charged), so those are retried only after a 429, which did no work.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def _sleep_between_attempts(seconds: float) -> None:
    """How a policy built without ``sleep`` waits. Tests reach it only through
    :func:`airflow_provider_coinstats.testing.retries.record_retry_waits`."""
    _sleeper(seconds)


# Private: swapped by testing.retries.record_retry_waits(), read at every wait.
_sleeper: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts. The time bounds belong to
    the connection (``ClientConfig.timeout`` per attempt, ``total_timeout`` per call).

    :param max_retries: retries after the first attempt (0 disables retrying).
    :param backoff_base: seconds; attempt *n* waits up to ``backoff_base * 2**n``.
    :param backoff_cap: no single backoff wait exceeds this.
    :param max_retry_after: a ``Retry-After`` longer than this is cut to it.
    """

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    max_retry_after: float = 60.0
    # Seams for tests: a fake sleep skips real waiting; a seeded random makes jitter repeatable.
    sleep: Callable[[float], None] = field(
        default=_sleep_between_attempts, repr=False, compare=False
    )
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def should_retry(self, error: CoinStatsError, method: str, attempt: int) -> bool:
        """Whether ``attempt`` (0-based, the one that just failed) may be followed by another."""
        if attempt >= self.max_retries or not error.transient:
            return False
        return method.upper() in IDEMPOTENT_METHODS or isinstance(error, CoinStatsRateLimitError)

    def delay(self, error: CoinStatsError, attempt: int) -> float:
        """Seconds to wait before the next attempt: Retry-After if CoinStats sent one, else
        full-jitter backoff."""
        retry_after: float | None = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(max(0.0, float(retry_after)), self.max_retry_after)
        ceiling = min(self.backoff_cap, self.backoff_base * 2**attempt)
        return float(self.random() * ceiling)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP-date); None if absent or
    unreadable. ``now`` is a Unix time, for tests."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # RFC 9110 dates are GMT
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))
