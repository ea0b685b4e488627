"""CreditUsageOperator.execute through the real hook against the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pendulum
import pytest

from airflow_provider_coinstats.exceptions import (
    CoinStatsConfigError,
    CoinStatsInsufficientCreditsError,
)
from airflow_provider_coinstats.operators.coinstats import CreditUsageOperator
from airflow_provider_coinstats.testing.sandbox import Sandbox
from tests.conftest import TEST_KEY


def test_returns_plain_usage_dict_and_logs_one_line(
    coinstats_conn: Sandbox, task_logs: Any
) -> None:
    operator = CreditUsageOperator(task_id="usage")
    with pendulum.travel_to(pendulum.datetime(2026, 11, 25, 9, 30, tz="UTC"), freeze=True):
        result: dict[str, Any] = operator.execute(context={})  # type: ignore[arg-type]
    assert result == {
        "total_credits": 100_000,
        "used_credits": 45_000,
        "remaining_credits": 55_000,
        "subscription": "PRO",
        "used_ratio": 0.45,
        "checked_at": "2026-11-25T09:30:00Z",
    }
    assert "CoinStats PRO: 55,000 of 100,000 credits left (45.0% used)" in task_logs()
    assert TEST_KEY not in task_logs() + repr(result)


def test_fails_clearly_below_min_remaining_credits(coinstats_conn: Sandbox) -> None:
    coinstats_conn.set_credits(used=99_500)
    operator = CreditUsageOperator(task_id="usage", min_remaining_credits="1000")
    with pytest.raises(
        CoinStatsInsufficientCreditsError,
        match=r"Only 500 CoinStats credits remain on connection 'coinstats_default', "
        r"below min_remaining_credits=1,000",
    ):
        operator.execute(context={})  # type: ignore[arg-type]


def test_passes_at_exactly_the_minimum(coinstats_conn: Sandbox) -> None:
    operator = CreditUsageOperator(task_id="usage", min_remaining_credits=55_000)
    assert operator.execute(context={})["remaining_credits"] == 55_000  # type: ignore[arg-type]


def test_templated_fields() -> None:
    assert set(CreditUsageOperator.template_fields) == {
        "coinstats_conn_id",
        "min_remaining_credits",
    }
    # An unrendered template passes parse-time validation; it is checked once rendered.
    CreditUsageOperator(task_id="t", min_remaining_credits="{{ params.floor }}")


@pytest.mark.parametrize("bad", [-1, "lots", float("nan"), True])
def test_invalid_minimum_fails_at_parse_time(bad: object) -> None:
    with pytest.raises(CoinStatsConfigError, match="min_remaining_credits"):
        CreditUsageOperator(task_id="t", min_remaining_credits=bad)  # type: ignore[arg-type]


def test_emits_credit_gauges(coinstats_conn: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.observability.stats import Stats

    sent: list[tuple[str, float, dict[str, str] | None]] = []
    monkeypatch.setattr(
        Stats, "gauge", lambda stat, value, *a, tags=None, **k: sent.append((stat, value, tags))
    )
    CreditUsageOperator(task_id="usage").execute(context={})  # type: ignore[arg-type]
    assert ("coinstats.credits.remaining", 55_000, {"conn_id": "coinstats_default"}) in sent
    assert ("coinstats.credits.used.coinstats_default", 45_000, None) in sent
    assert ("coinstats.credits.total", 100_000, {"conn_id": "coinstats_default"}) in sent


def test_checked_at_is_now_in_utc(coinstats_conn: Sandbox) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    result = CreditUsageOperator(task_id="u").execute(context={})  # type: ignore[arg-type]
    assert datetime.fromisoformat(result["checked_at"]) >= before
