"""Client-side pacing: one token bucket per connection, shared by every client in the process.

A burst of tasks on one worker, or hundreds of triggers in one triggerer, then queue here instead
of earning 429s from CoinStats. The bucket holds a single token, so requests are spaced at least
``1 / rate`` seconds apart: CoinStats counts per rolling second, where a burst allowance would
break the limit at the window's edge.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Thread-safe pacing at ``rate`` requests per second (clock: ``time.monotonic``).

    :param rate: requests per second, > 0.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = clock()

    def reserve(self) -> float:
        """Book the next free slot; return how long the caller must wait for it."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot)
            self._next_slot = slot + 1.0 / self.rate
            return slot - now

    def acquire(self) -> float:
        """Block until this caller may send; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait


_buckets: dict[str, TokenBucket] = {}
_buckets_lock = threading.Lock()


def shared_bucket(key: str, rate: float) -> TokenBucket:
    """The process-wide bucket for ``key`` (a connection id), created or re-rated on demand."""
    with _buckets_lock:
        bucket = _buckets.get(key)
        if bucket is None or bucket.rate != rate:
            bucket = _buckets[key] = TokenBucket(rate)
        return bucket
