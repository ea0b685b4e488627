"""The ``/_sandbox`` control API: the routes the server answers, and :class:`SandboxControl`, a
client for them usable from another process (e.g. a demo freeing credits while Airflow runs).

Routes (JSON in and out, no API key, loopback clients only, never faulted nor rate limited):

=========  ========================  =============================================================
GET        /_sandbox/state           credits, requestCount, rateLimitPerSecond, pendingFaults, clock
GET        /_sandbox/credits         the ``/usage/credits`` figures, without a key nor a charge
POST       /_sandbox/credits         ``{"total": .., "used": .., "plan": ..}`` (each optional)
POST       /_sandbox/faults          a fault dict or a list of them (see :class:`Fault`)
DELETE     /_sandbox/faults          drop every pending fault
GET        /_sandbox/requests        the request log, oldest first
DELETE     /_sandbox/requests        empty the request log
POST       /_sandbox/rate-limit      ``{"per_second": N}``; null lifts the limit
GET        /_sandbox/clock           ``{"now": <Unix seconds>, "frozen": false}``
POST       /_sandbox/clock           ``{"advance": seconds, "frozen": true|false}`` (each optional)
GET        /_sandbox/portfolios      the portfolios the API answers from, with their sync status
POST       /_sandbox/reset           starting credits, no faults, empty log, starting portfolios
=========  ========================  =============================================================
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from airflow_provider_coinstats.testing.sandbox.faults import Fault

if TYPE_CHECKING:
    from airflow_provider_coinstats.api.models import Credits
    from airflow_provider_coinstats.testing.sandbox.state import SandboxCore

PREFIX = "/_sandbox/"
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def handle_control(core: SandboxCore, method: str, route: str, payload: object) -> object:
    """Answer one control request; ``route`` is the path after ``/_sandbox/``.

    :raises LookupError: no such route.
    :raises ValueError: the payload is malformed.
    """
    if (method, route) == ("GET", "state"):
        return core.snapshot()
    if (method, route) == ("GET", "credits"):
        return core.account.usage()
    if (method, route) == ("POST", "credits"):
        figures = _fields(payload, ("total", "used", "plan"))
        return core.account.set(
            total=cast("Credits | None", figures.get("total")),
            used=cast("Credits | None", figures.get("used")),
            plan=cast("str | None", figures.get("plan")),
        )
    if (method, route) == ("POST", "faults"):
        items = payload if isinstance(payload, list) else [payload]
        core.faults.add(*(Fault.from_dict(_fields(item)) for item in items))
        return {"pendingFaults": core.faults.pending()}
    if (method, route) == ("DELETE", "faults"):
        core.faults.clear()
        return {"pendingFaults": []}
    if (method, route) == ("GET", "requests"):
        return [record.to_dict() for record in core.log.records()]
    if (method, route) == ("DELETE", "requests"):
        core.log.clear()
        return {"requestCount": 0}
    if (method, route) == ("POST", "rate-limit"):
        per_second = _fields(payload, ("per_second",)).get("per_second")
        core.limiter.set(cast("float | None", per_second))
        return {"rateLimitPerSecond": core.limiter.per_second}
    if (method, route) == ("GET", "clock"):
        return core.clock.state()
    if (method, route) == ("POST", "clock"):
        change = _fields(payload, ("advance", "frozen"))
        frozen = change.get("frozen")
        if frozen is not None and not isinstance(frozen, bool):
            raise ValueError(f"frozen should be true or false, got {frozen!r}")
        if frozen is not None:
            core.clock.freeze(frozen)
        if change.get("advance") is not None:
            core.clock.advance(cast("float", change["advance"]))
        return core.clock.state()
    if (method, route) == ("GET", "portfolios"):
        return [
            {
                "id": portfolio.id,
                "name": portfolio.name,
                "kind": portfolio.kind,
                "connectionId": portfolio.connection_id,
                "address": portfolio.address,
                "status": core.accounts.status(portfolio),
            }
            for portfolio in core.accounts.all()
        ]
    if (method, route) == ("POST", "reset"):
        core.reset()
        return core.snapshot()
    raise LookupError(f"no control route {method} {PREFIX}{route}")


def _fields(payload: object, allowed: tuple[str, ...] | None = None) -> Mapping[str, object]:
    if not isinstance(payload, Mapping):
        raise ValueError(f"expected a JSON object, got {type(payload).__name__}")
    unknown = sorted(str(key) for key in payload if allowed is not None and key not in allowed)
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}; allowed: {list(allowed or ())}")
    return cast("Mapping[str, object]", payload)


class SandboxControl:
    """Drive a running sandbox over HTTP (standard library only).

    :param url: the sandbox's base URL, e.g. ``http://127.0.0.1:8765``; loopback hosts only.
    :param timeout: seconds to wait for each answer.
    """

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        host = urlsplit(url).hostname
        if host not in _LOOPBACK_HOSTS:
            raise ValueError(f"the sandbox control API is loopback only; got host {host!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        # Never through a proxy from the environment: the sandbox is on this machine.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def state(self) -> dict[str, Any]:
        """Credit figures, ``requestCount``, ``rateLimitPerSecond`` and ``pendingFaults``."""
        return cast("dict[str, Any]", self._call("GET", "state"))

    def set_credits(
        self, total: Credits | None = None, used: Credits | None = None, plan: str | None = None
    ) -> dict[str, Any]:
        """Change the figures; returns the new ``/usage/credits`` body."""
        figures = {"total": total, "used": used, "plan": plan}
        payload = {name: value for name, value in figures.items() if value is not None}
        return cast("dict[str, Any]", self._call("POST", "credits", payload))

    def inject(self, *faults: Fault | Mapping[str, object]) -> list[dict[str, Any]]:
        """Queue faults; returns every pending fault."""
        payload = [fault.to_dict() if isinstance(fault, Fault) else dict(fault) for fault in faults]
        return cast("list[dict[str, Any]]", self._call("POST", "faults", payload)["pendingFaults"])

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def requests(self) -> list[dict[str, Any]]:
        """The request log, oldest first, as dicts."""
        return cast("list[dict[str, Any]]", self._call("GET", "requests"))

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

    def set_rate_limit(self, per_second: float | None) -> None:
        self._call("POST", "rate-limit", {"per_second": per_second})

    def credits(self) -> dict[str, Any]:
        """The ``/usage/credits`` figures (no key, no charge)."""
        return cast("dict[str, Any]", self._call("GET", "credits"))

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move the sandbox clock on (e.g. past a sync); returns ``{now, frozen}``."""
        return cast("dict[str, Any]", self._call("POST", "clock", {"advance": seconds}))

    def portfolios(self) -> list[dict[str, Any]]:
        return cast("list[dict[str, Any]]", self._call("GET", "portfolios"))

    def reset(self) -> dict[str, Any]:
        """Starting credits, no faults, an empty log and the starting portfolios."""
        return cast("dict[str, Any]", self._call("POST", "reset", {}))

    def _call(self, method: str, route: str, payload: object = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.url}{PREFIX}{route}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:300]
            raise RuntimeError(
                f"sandbox {method} {PREFIX}{route} failed: {error.code} {detail}"
            ) from None
