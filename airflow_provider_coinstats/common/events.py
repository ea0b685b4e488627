"""The contract between the credit gate's trigger and the sensor that resumes after it.

A trigger event crosses a process boundary (triggerer -> metadata DB -> worker) as JSON, so its
shape is written down once here, built by the trigger with :meth:`GateEvent.to_event` and read by
``execute_complete`` with :meth:`GateEvent.from_event`::

    {"status": "success", "result": {...the gate's XCom dict...}}
    {"status": "error", "fail_fast": true, "error": {...CoinStatsError.to_dict()...}}

An error keeps every field of the exception (class, message, status_code, api_message,
request_id, retry_after). ``fail_fast`` is required: it decides between failing the task at once
and failing it so that its retries apply, and a guess either way would be wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_coinstats.api.exceptions import CoinStatsError


class MalformedGateEventError(ValueError):
    """A trigger event that does not follow the contract (e.g. written by another version)."""


@dataclass(frozen=True)
class GateEvent:
    """What a credit-gate trigger fires: exactly one of ``result`` and ``error``.

    :param result: the gate's XCom dict (usage figures, decision, reason), when it passed.
    :param error: why the gate ended without passing.
    :param fail_fast: with ``error``: fail the task at once (waiting or retrying cannot help),
        rather than raise ``error`` so that the task's retries apply.
    """

    result: Mapping[str, Any] | None = None
    error: CoinStatsError | None = None
    fail_fast: bool = False

    def __post_init__(self) -> None:
        if (self.result is None) == (self.error is None):
            raise ValueError("a GateEvent carries exactly one of result and error")

    @property
    def passed(self) -> bool:
        return self.error is None

    def to_event(self) -> dict[str, Any]:
        """The JSON payload of the ``TriggerEvent``."""
        if self.error is None:
            return {"status": "success", "result": dict(self.result or {})}
        return {"status": "error", "fail_fast": self.fail_fast, "error": self.error.to_dict()}

    @classmethod
    def from_event(cls, payload: object) -> GateEvent:
        """Read a payload written by :meth:`to_event`.

        :raises MalformedGateEventError: naming what is missing or wrong.
        """
        if not isinstance(payload, Mapping):
            raise MalformedGateEventError(f"expected a JSON object, got {type(payload).__name__}")
        status = payload.get("status")
        if status == "success":
            result = payload.get("result")
            if not isinstance(result, Mapping):
                raise MalformedGateEventError("a 'success' event without a 'result' object")
            return cls(result=dict(result))
        if status != "error":
            raise MalformedGateEventError(f"'status' must be 'success' or 'error', got {status!r}")
        fail_fast = payload.get("fail_fast")
        if not isinstance(fail_fast, bool):
            raise MalformedGateEventError(
                f"an 'error' event needs 'fail_fast' true or false, got {fail_fast!r}"
            )
        error = payload.get("error")
        if not isinstance(error, Mapping) or not isinstance(error.get("message"), str):
            raise MalformedGateEventError(
                "an 'error' event needs an 'error' object with a 'message' "
                "(CoinStatsError.to_dict())"
            )
        return cls(error=CoinStatsError.from_dict(error), fail_fast=fail_fast)
