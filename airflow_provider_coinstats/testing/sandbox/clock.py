"""The sandbox's own clock: real time by default, moved on by hand in tests.

Sync states (``PATCH …/sync`` then ``…/status``) change with this clock, so a test moves it with
:meth:`SandboxClock.advance` (or ``POST /_sandbox/clock``) instead of sleeping, and may
:meth:`~SandboxClock.freeze` it so that nothing changes while it looks.
"""

from __future__ import annotations

import math
import threading
import time

from airflow_provider_coinstats.api.validation import is_number
from airflow_provider_coinstats.testing.sandbox.data import ANCHOR


class SandboxClock:
    """Seconds since the epoch as the sandbox sees them: :data:`ANCHOR` at start, then running."""

    def __init__(self, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._offset = 0.0
        self._frozen_at: float | None = self._started if frozen else None

    def now(self) -> float:
        with self._lock:
            real = self._frozen_at if self._frozen_at is not None else time.monotonic()
            return ANCHOR + (real - self._started) + self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock on by ``seconds`` (>= 0); returns the new time.

        :raises ValueError: a negative or non-finite number.
        """
        if not is_number(seconds) or not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"seconds should be a non-negative number, got {seconds!r}")
        with self._lock:
            self._offset += seconds
        return self.now()

    def freeze(self, frozen: bool = True) -> None:
        """Stop (or restart) the clock's own running; :meth:`advance` still moves it."""
        with self._lock:
            if frozen and self._frozen_at is None:
                self._frozen_at = time.monotonic()
            elif not frozen and self._frozen_at is not None:
                # Resume from where it stood: the frozen time does not count.
                self._started += time.monotonic() - self._frozen_at
                self._frozen_at = None

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def state(self) -> dict[str, object]:
        return {"now": self.now(), "frozen": self.frozen}
