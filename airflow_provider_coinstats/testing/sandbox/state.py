"""What the sandbox remembers between requests: the credit account, the rate limiter, the
request log and the pending faults, gathered in :class:`SandboxCore`. Each piece has its own
lock, because the HTTP server answers on many threads while a test (or the control API) changes
figures mid-run.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from airflow_provider_coinstats.api.validation import is_number
from airflow_provider_coinstats.credits.estimates import normalize_path

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from airflow_provider_coinstats.api.models import Credits
    from airflow_provider_coinstats.testing.sandbox.accounts import Accounts
    from airflow_provider_coinstats.testing.sandbox.clock import SandboxClock
    from airflow_provider_coinstats.testing.sandbox.faults import FaultQueue


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One API request as the sandbox saw it. Never holds the API key nor any header.

    :param method: HTTP method.
    :param path: the path as requested, without the query string (``/v1`` kept).
    :param query: query parameters (a repeated one joined with commas), read-only.
    :param authenticated: whether the request carried the right key.
    :param status: the status answered; None when a ``reset`` fault answered nothing.
    :param credits: credits charged (0 for errors and faulted requests).
    :param endpoint: the price-list key it resolved to, e.g. ``GET /coins/{coinId}``, or None.
    :param fault: the kind of fault that hit it, or None.
    """

    method: str
    path: str
    query: Mapping[str, str]
    authenticated: bool
    status: int | None
    credits: Credits
    endpoint: str | None = None
    fault: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "path": self.path,
            "query": dict(self.query),
            "authenticated": self.authenticated,
            "status": self.status,
            "credits": self.credits,
            "endpoint": self.endpoint,
            "fault": self.fault,
        }


def make_record(
    *,
    method: str,
    path: str,
    query: Mapping[str, str],
    authenticated: bool,
    status: int | None,
    credits: Credits,
    endpoint: str | None,
    fault: str | None,
    secret: str,
) -> RequestRecord:
    """A record with every occurrence of ``secret`` masked, should a client put it in a URL."""

    def scrub(text: str) -> str:
        return text.replace(secret, "***") if secret else text

    return RequestRecord(
        method=method,
        path=scrub(path),
        query=MappingProxyType({scrub(key): scrub(value) for key, value in query.items()}),
        authenticated=authenticated,
        status=status,
        credits=credits,
        endpoint=endpoint,
        fault=fault,
    )


class Account:
    """The credit figures ``/usage/credits`` reports, and the charging against them."""

    def __init__(self, total: Credits, used: Credits, plan: str) -> None:
        self._lock = threading.Lock()
        self._total: Credits = 0
        self._used: Credits = 0
        self._plan = ""
        self.set(total=total, used=used, plan=plan)
        self._start = (total, used, plan)

    def reset(self) -> dict[str, object]:
        """Back to the figures the account started with."""
        total, used, plan = self._start
        return self.set(total=total, used=used, plan=plan)

    def usage(self) -> dict[str, object]:
        """``{totalCredits, usedCredits, remainingCredits, subscription}``, as CoinStats says."""
        with self._lock:
            return self._usage()

    def set(
        self, total: Credits | None = None, used: Credits | None = None, plan: str | None = None
    ) -> dict[str, object]:
        """Change any of the figures; returns the new usage.

        :raises ValueError: a negative or non-numeric figure, or an empty plan.
        """
        for name, value in (("total", total), ("used", used)):
            if value is not None and not _is_credits(value):
                raise ValueError(f"{name} should be a non-negative number, got {value!r}")
        if plan is not None and (not isinstance(plan, str) or not plan.strip()):
            raise ValueError(f"plan should be a plan name such as 'PRO', got {plan!r}")
        with self._lock:
            if total is not None:
                self._total = total
            if used is not None:
                self._used = used
            if plan is not None:
                self._plan = plan
            return self._usage()

    def reserve(self, cost: Credits) -> bool:
        """Charge ``cost`` if the remaining credits cover it; False (and no charge) otherwise."""
        with self._lock:
            if self._remaining() < cost:
                return False
            self._used += cost
            return True

    def refund(self, cost: Credits) -> None:
        with self._lock:
            self._used = max(0, self._used - cost)

    def _remaining(self) -> Credits:
        return max(0, self._total - self._used)

    def _usage(self) -> dict[str, object]:
        return {
            "totalCredits": self._total,
            "usedCredits": self._used,
            "remainingCredits": self._remaining(),
            "subscription": self._plan,
        }


class RateLimiter:
    """At most ``per_second`` answered API requests in any rolling second (None: no limit).

    :param clock: read once per request, under the lock, to stamp its arrival.
    """

    def __init__(
        self, per_second: float | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._stamps: deque[float] = deque()
        self._per_second: float | None = None
        self.set(per_second)

    @property
    def per_second(self) -> float | None:
        return self._per_second

    def set(self, per_second: float | None) -> None:
        """:raises ValueError: not a positive number nor None."""
        if per_second is not None and not (_is_credits(per_second) and per_second > 0):
            raise ValueError(f"per_second should be a positive number or None, got {per_second!r}")
        with self._lock:
            self._per_second = per_second
            self._stamps.clear()

    def admit(self) -> bool:
        """Count one answered request; False when it is over the limit (it still counts)."""
        with self._lock:
            if self._per_second is None:
                return True
            now = self._clock()
            while self._stamps and self._stamps[0] <= now - 1.0:
                self._stamps.popleft()
            allowed = len(self._stamps) < self._per_second
            self._stamps.append(now)
            return allowed


class RequestLog:
    """Every API request answered (or reset), in arrival order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def count(self, path: str | None = None, method: str | None = None) -> int:
        """Requests for ``path`` (a concrete path or a template such as ``/coins/{coinId}``; the
        ``/v1`` prefix and trailing slash do not matter) and ``method``; None matches any."""
        wanted = normalize_path(path) if path is not None else None
        matches = 0
        for record in self.records():
            if method is not None and record.method != method.upper():
                continue
            template = record.endpoint.split(" ", 1)[1] if record.endpoint else None
            if wanted is not None and wanted not in (normalize_path(record.path), template):
                continue
            matches += 1
        return matches


@dataclass(slots=True)
class SandboxCore:
    """Everything the request handlers of one sandbox share.

    :param stopping: set while the sandbox stops, to cut ``delay`` faults short.
    """

    api_key: str
    account: Account
    limiter: RateLimiter
    log: RequestLog
    faults: FaultQueue
    clock: SandboxClock
    accounts: Accounts
    stopping: threading.Event = field(default_factory=threading.Event)

    def reset(self) -> None:
        """Back to the starting state: credits, no faults, empty log, starting portfolios."""
        self.account.reset()
        self.faults.clear()
        self.log.clear()
        self.accounts.reset()

    def snapshot(self) -> dict[str, object]:
        """The credit figures plus request count, rate limit and pending faults."""
        return {
            **self.account.usage(),
            "requestCount": len(self.log.records()),
            "rateLimitPerSecond": self.limiter.per_second,
            "pendingFaults": self.faults.pending(),
            "clock": self.clock.state(),
            "portfolioCount": len(self.accounts.all()),
        }


def _is_credits(value: object) -> bool:
    return is_number(value) and math.isfinite(value) and value >= 0
