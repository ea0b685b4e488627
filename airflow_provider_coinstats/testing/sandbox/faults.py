"""Faults the sandbox injects: the failures a CoinStats client meets in production, on demand.

A :class:`Fault` describes one kind of failure and which requests it hits; the sandbox keeps
pending faults in a :class:`FaultQueue` and hands each API request the first one (FIFO) whose
``path`` matches, until its ``times`` are used up. The ``/_sandbox`` control API is never
faulted, so a test can always clear what it injected.
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Literal, TypeGuard, get_args

from airflow_provider_coinstats.api.validation import is_number
from airflow_provider_coinstats.credits.estimates import normalize_path

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

FaultKind = Literal["status", "delay", "reset", "invalid_json", "partial_body", "html", "mistyped"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

# The status each kind answers with when ``status`` is not given ("status" must give one).
_DEFAULT_STATUS = {"html": 502, "invalid_json": 200, "partial_body": 200, "mistyped": 200}


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected failure.

    :param kind: what goes wrong:

        - ``status``: answer ``status`` with a CoinStats-shaped error body (``message`` or
          ``body`` replace the default; ``with_request_id=False`` drops requestId and path, as
          CoinStats' 503 does);
        - ``delay``: wait ``seconds``, then answer normally (to outlast a client timeout);
        - ``reset``: close the connection with a TCP reset instead of answering;
        - ``invalid_json``: a 200 whose JSON body is cut short (or ``body``, sent as is);
        - ``partial_body``: a 200 whose Content-Length promises more than is sent, then close;
        - ``html``: an HTML error page, as a proxy sends (``status`` defaults to 502);
        - ``mistyped``: a 200 ``/usage/credits`` body with ``"remainingCredits": "lots"``.
    :param status: HTTP status to answer with.
    :param message: the error ``message`` of a ``status`` fault.
    :param body: a replacement body: a string is sent verbatim, anything else as JSON.
    :param retry_after: a ``Retry-After`` header value: seconds, or an HTTP-date string.
    :param with_request_id: whether a ``status`` fault's body carries requestId and path.
    :param seconds: how long a ``delay`` fault waits.
    :param path: only API paths starting with this (``/v1`` ignored); None means every one.
    :param times: how many matching requests it hits; None means every one, forever.
    """

    kind: FaultKind
    status: int | None = None
    message: str | None = None
    body: object = None
    retry_after: float | str | None = None
    with_request_id: bool = True
    seconds: float = 0.0
    path: str | None = None
    times: int | None = 1

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {FAULT_KINDS}")
        if self.kind == "status" and self.status is None:
            raise ValueError("a 'status' fault needs a status, e.g. Fault('status', status=503)")
        if self.status is not None and not (_is_int(self.status) and 100 <= self.status <= 599):
            raise ValueError(f"status should be an HTTP status 100-599, got {self.status!r}")
        if not _is_number(self.seconds) or self.seconds < 0:
            raise ValueError(f"seconds should be a non-negative number, got {self.seconds!r}")
        if self.kind == "delay" and self.seconds <= 0:
            raise ValueError("a 'delay' fault needs seconds > 0, e.g. Fault('delay', seconds=2)")
        if self.times is not None and not (_is_int(self.times) and self.times >= 1):
            raise ValueError(f"times should be a positive integer or None, got {self.times!r}")
        if self.message is not None and not isinstance(self.message, str):
            raise ValueError(f"message should be a string, got {self.message!r}")
        if not isinstance(self.with_request_id, bool):
            raise ValueError(
                f"with_request_id should be true or false, got {self.with_request_id!r}"
            )
        if self.path is not None and not isinstance(self.path, str):
            raise ValueError(f"path should be a string such as '/coins', got {self.path!r}")
        if not _valid_retry_after(self.retry_after):
            raise ValueError(
                f"retry_after should be seconds or an HTTP date, got {self.retry_after!r}"
            )

    @property
    def http_status(self) -> int:
        """The status this fault answers with."""
        return self.status if self.status is not None else _DEFAULT_STATUS.get(self.kind, 200)

    def applies_to(self, api_path: str) -> bool:
        """Whether the fault hits a request for ``api_path`` (already without ``/v1``)."""
        return self.path is None or api_path.startswith(normalize_path(self.path))

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form, the same one :meth:`from_dict` reads."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Fault:
        """Build a fault from JSON, e.g. ``{"kind": "status", "status": 503}``.

        :raises ValueError: an unknown key or an invalid value.
        """
        known = {field.name for field in fields(cls)}
        unknown = sorted(str(key) for key in data if key not in known)
        if unknown:
            raise ValueError(f"unknown fault field(s) {unknown}; known: {sorted(known)}")
        if "kind" not in data:
            raise ValueError(f"a fault needs a 'kind', one of {FAULT_KINDS}")
        return cls(**data)  # type: ignore[arg-type]  # __post_init__ checks every value


class FaultQueue:
    """Pending faults, first in first out; safe to use from several threads."""

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self._lock = threading.Lock()
        # [fault, remaining uses]; remaining None means unlimited.
        self._pending: list[tuple[Fault, int | None]] = []
        self.add(*faults)

    def add(self, *faults: Fault) -> None:
        for fault in faults:
            if not isinstance(fault, Fault):
                raise TypeError(f"expected a Fault, got {type(fault).__name__}")
        with self._lock:
            self._pending.extend((fault, fault.times) for fault in faults)

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def take(self, api_path: str) -> Fault | None:
        """The first pending fault for ``api_path``, counting one use of it; None when none."""
        with self._lock:
            for index, (fault, remaining) in enumerate(self._pending):
                if not fault.applies_to(api_path):
                    continue
                if remaining is None:
                    return fault
                if remaining > 1:
                    self._pending[index] = (fault, remaining - 1)
                else:
                    del self._pending[index]
                return fault
        return None

    def pending(self) -> list[dict[str, object]]:
        """Each pending fault as a dict, with ``remaining`` uses (None: unlimited)."""
        with self._lock:
            return [fault.to_dict() | {"remaining": left} for fault, left in self._pending]


def _valid_retry_after(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return bool(value.strip())
    return _is_number(value) and value >= 0


def _is_int(value: object) -> bool:
    return is_number(value) and isinstance(value, int)


def _is_number(value: object) -> TypeGuard[int | float]:
    return is_number(value) and math.isfinite(value)
