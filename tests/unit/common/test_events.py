"""The typed trigger-event contract: every error class and field survives the trip as JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_coinstats.api.exceptions import _CLASSES
from airflow_provider_coinstats.common.events import GateEvent, MalformedGateEventError
from airflow_provider_coinstats.exceptions import CoinStatsError, CoinStatsRateLimitError


def through_json(event: GateEvent) -> GateEvent:
    """As the triggerer hands it to the worker: serialised, stored, read back."""
    return GateEvent.from_event(json.loads(json.dumps(event.to_event())))


@pytest.mark.parametrize("cls", sorted(_CLASSES.values(), key=lambda c: c.__name__))
@pytest.mark.parametrize("fail_fast", [True, False])
def test_every_error_class_round_trips_with_every_field(
    cls: type[CoinStatsError], fail_fast: bool
) -> None:
    fields: dict[str, Any] = {"status_code": 503, "api_message": "busy", "request_id": "req-42"}
    if issubclass(cls, CoinStatsRateLimitError):
        fields["retry_after"] = 7.5
    error = cls("what went wrong", **fields)
    back = through_json(GateEvent(error=error, fail_fast=fail_fast))
    assert type(back.error) is cls
    assert back.fail_fast is fail_fast
    assert back.error is not None and back.error.to_dict() == error.to_dict()
    assert str(back.error) == "what went wrong (requestId req-42)"


def test_a_success_carries_the_result_dict() -> None:
    result = {"passed": True, "reason": "passed: 9 credits left", "remaining_credits": 9}
    back = through_json(GateEvent(result=result))
    assert back.passed and back.error is None
    assert back.result == result


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"status": "error", "error": {"error": "CoinStatsError", "message": "x"}}, "fail_fast"),
        ({"status": "error", "fail_fast": "yes", "error": {"message": "x"}}, "fail_fast"),
        ({"status": "error", "fail_fast": True}, "'error' object"),
        ({"status": "error", "fail_fast": True, "error": "CoinStatsAuthError"}, "'error' object"),
        ({"status": "success"}, "without a 'result'"),
        ({"status": "done"}, "'status' must be"),
        ([], "expected a JSON object"),
        (None, "expected a JSON object"),
    ],
)
def test_a_malformed_payload_is_refused_naming_the_problem(payload: object, problem: str) -> None:
    with pytest.raises(MalformedGateEventError, match=problem):
        GateEvent.from_event(payload)


def test_an_event_carries_exactly_one_of_result_and_error() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        GateEvent()
    with pytest.raises(ValueError, match="exactly one"):
        GateEvent(result={}, error=CoinStatsError("x"))
