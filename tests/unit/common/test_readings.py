"""The readings history: format, thinning, write throttle; the store is a dict (the Variable
round trip is in tests/integration/test_spend_e2e.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_coinstats.api.models import CreditUsage
from airflow_provider_coinstats.common import readings
from airflow_provider_coinstats.common.readings import (
    HistoryPoint,
    add_point,
    collapse_runs,
    encode_history,
    load_history,
    parse_history,
    record_reading,
    variable_key,
)
from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook
from airflow_provider_coinstats.testing.sandbox import Sandbox

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class DictStore:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.writes = 0

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def set(self, key: str, value: str) -> None:
        self.writes += 1
        self.values[key] = value


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    readings.reset_recording()
    yield
    readings.reset_recording()


def point(minutes: float, remaining: int, plan: str = "PRO") -> HistoryPoint:
    return HistoryPoint(T0 + timedelta(minutes=minutes), remaining, 1000 - remaining, 1000, plan)


def test_format_round_trips_and_names_the_plan_only_on_change() -> None:
    points = [point(0, 900), point(5, 880), point(10, 2000 - 1000, "DEGEN")]
    text = encode_history("c", points)
    data = json.loads(text)
    assert data["version"] == 1 and data["conn_id"] == "c"
    assert data["points"][0] == [int(T0.timestamp()), 900, 100, 1000, "PRO"]
    assert len(data["points"][1]) == 4  # same plan: not repeated
    assert data["points"][2][4] == "DEGEN"
    assert parse_history(text) == points
    assert variable_key("c") == "coinstats_readings_c"


def test_a_damaged_value_is_refused_not_overwritten() -> None:
    store = DictStore()
    store.values["coinstats_readings_c"] = '{"something": "else"}'
    assert not record_reading("c", CreditUsage(1000, 100, 900, "PRO"), T0, store=store)
    assert store.values["coinstats_readings_c"] == '{"something": "else"}'
    with pytest.raises(ValueError, match="not a version-1"):
        load_history("c", store=store)


def test_runs_of_equal_figures_keep_their_ends() -> None:
    flat = [point(m, 900) for m in range(10)] + [point(10, 850)]
    assert collapse_runs(flat) == [point(0, 900), point(9, 900), point(10, 850)]


def test_a_year_of_minutely_readings_stays_small_and_keeps_its_shape() -> None:
    points: list[HistoryPoint] = []
    start = T0 - timedelta(days=365)
    remaining = 10_000_000
    # One reading every 10 minutes for a year, credits falling: the worst case (no flat runs).
    for step in range(0, 365 * 24 * 6):
        remaining -= 3
        at = start + timedelta(minutes=10 * step)
        points.append(HistoryPoint(at, remaining, 0, 10_000_000, "PRO"))
    kept = points[:1]
    now = points[-1].at
    kept = readings.thin(points, now)
    text = encode_history("c", kept)
    assert len(kept) < 1600
    assert len(text) < 60_000
    assert kept[-1] == points[-1]  # the latest reading is always there
    assert kept[0].at - start < timedelta(days=1)  # the year is still covered
    # adding one point to a full history stays bounded too
    again = add_point(
        kept, HistoryPoint(now + timedelta(minutes=1), remaining - 1, 0, 10**7, "PRO")
    )
    assert len(again) <= len(kept) + 1


def test_points_past_the_last_tier_are_dropped() -> None:
    old = HistoryPoint(T0 - timedelta(days=401), 5, 5, 10, "PRO")
    assert add_point([old], point(0, 900)) == [point(0, 900)]


def test_writes_are_throttled_while_figures_stay_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(readings.time, "monotonic", lambda: clock[0])
    store = DictStore()
    usage = CreditUsage(1000, 100, 900, "PRO")
    assert record_reading("c", usage, T0, store=store)
    changed = CreditUsage(1000, 120, 880, "PRO")
    clock[0] += readings.MIN_WRITE_SECONDS / 2
    assert not record_reading("c", changed, T0 + timedelta(seconds=5), store=store)  # too soon
    clock[0] += 55
    assert not record_reading("c", usage, T0 + timedelta(seconds=60), store=store)  # unchanged
    clock[0] += 1
    assert record_reading("c", changed, T0 + timedelta(seconds=61), store=store)
    clock[0] += 60
    assert not record_reading("c", changed, T0 + timedelta(seconds=121), store=store)
    clock[0] += readings.UNCHANGED_WRITE_SECONDS
    assert record_reading("c", changed, T0 + timedelta(seconds=400), store=store)
    assert store.writes == 3
    history = load_history("c", store=store)
    assert [p.remaining for p in history] == [900, 880, 880]
    assert load_history("c", since=T0 + timedelta(seconds=100), store=store) == history[2:]


def test_another_process_having_written_the_same_figures_skips_the_write() -> None:
    store = DictStore()
    usage = CreditUsage(1000, 100, 900, "PRO")
    store.values["coinstats_readings_c"] = encode_history("c", [HistoryPoint.from_usage(usage, T0)])
    assert not record_reading("c", usage, T0 + timedelta(seconds=30), store=store)
    assert store.writes == 0


def test_a_failing_store_warns_once_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(DictStore):
        def get(self, key: str) -> str | None:
            raise RuntimeError("no supervisor")

    for n in range(3):
        readings._written.clear()
        assert not record_reading("c", CreditUsage(1000, n, 1000 - n, "PRO"), T0, store=Broken())
    assert caplog.text.count("could not record a credit reading") == 1


def test_outside_an_airflow_worker_the_hook_reads_without_recording(
    coinstats_conn: Sandbox,
) -> None:
    # No supervisor in a test process (as in the API server's Test button): nothing to write
    # to, and the reading itself must still work.
    assert not readings.in_airflow_worker()
    usage = CoinStatsHook().get_credit_usage()
    assert usage.remaining_credits == 55_000
