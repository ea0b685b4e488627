"""When will the credits run out? A forecast from credit readings and the billing period.

Pure like the budget: no I/O, no Airflow. The burn rate is the fall of ``remaining`` between the
first and the last reading of a window (default the 3 days up to the latest reading), counting
only readings of the current billing period and after the last rise: credits that went up (a
top-up, a new period) start a new segment, as spend before it says nothing about what is left
now. Spend continues at that rate from the latest reading until ``remaining`` reaches zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from airflow_provider_coinstats.api.models import Credits
from airflow_provider_coinstats.credits.budget import CreditBudget, _figure

DEFAULT_WINDOW = timedelta(days=3)
#: The shortest span of readings a rate is projected from.
MIN_SPAN = timedelta(hours=1)
DAY = 86400.0


class Reading(Protocol):
    """What the forecast reads of a reading (``common.readings.HistoryPoint`` has it)."""

    @property
    def at(self) -> datetime: ...
    @property
    def remaining(self) -> Credits: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Forecast:
    """The outlook for the current billing period.

    :param status: ``no_readings``, ``one_reading`` (too few since the window or the last rise
        to measure a rate), ``used_up``, ``no_burn`` (remaining did not fall), ``runs_out``
        (before the period ends) or ``lasts`` (past the period end).
    :param as_of: the latest reading's time; None without readings.
    :param remaining: credits left at ``as_of``.
    :param burn_per_day: credits spent per day over the window; None when not measurable.
    :param run_out_at: when ``remaining`` reaches zero at that rate; None without a burn.
    :param period_start: start of the billing period containing ``as_of`` (or now).
    :param period_end: its end, exclusive.
    :param window_start: the first reading the rate is measured from.
    :param readings_used: how many readings the rate is measured over.
    :param rose_at: the latest reading at which remaining rose (the rate is measured after it).
    :param billing_timezone: the zone dates are told in.
    """

    status: str
    as_of: datetime | None
    remaining: Credits | None
    burn_per_day: float | None
    run_out_at: datetime | None
    period_start: datetime
    period_end: datetime
    window_start: datetime | None
    readings_used: int
    rose_at: datetime | None = None
    billing_timezone: str = "UTC"

    @property
    def runs_out_before_period_end(self) -> bool | None:
        """True when the credits run out before the period ends; None when unknown."""
        if self.status in ("runs_out", "used_up"):
            return True
        if self.status in ("lasts", "no_burn"):
            return False
        return None

    def describe(self) -> str:
        """One line, e.g. ``at the current rate credits run out on 19 Dec, 12 days before the
        period ends``."""
        end = self._date(self.period_end)
        if self.status == "no_readings":
            return "no credit readings yet, so no forecast"
        if self.status == "one_reading" and self.rose_at is not None:
            return (
                f"credits rose on {self._date(self.rose_at)} (a top-up or a new period): "
                "no burn rate since yet"
            )
        if self.status == "one_reading":
            return "one credit reading so far: no burn rate yet"
        if self.status == "too_short" and self.window_start and self.as_of:
            minutes = int((self.as_of - self.window_start).total_seconds() // 60)
            return (
                f"{self.readings_used} credit readings over {minutes} min so far: too short "
                f"to project a burn rate (a forecast needs {_span(MIN_SPAN)} of readings)"
            )
        if self.status == "used_up":
            return f"credits are used up; the period ends on {end}"
        if self.status == "no_burn":
            return f"no credits spent lately: at this rate credits last past the period end ({end})"
        assert self.run_out_at is not None and self.burn_per_day is not None
        rate = f"{_figure(round(self.burn_per_day, 2))} credits/day"
        if self.status == "runs_out":
            margin = _span(self.period_end - self.run_out_at)
            return (
                f"at the current rate ({rate}) credits run out on {self._date(self.run_out_at)}, "
                f"{margin} before the period ends"
            )
        return (
            f"at the current rate ({rate}) credits last past the period end ({end}); "
            f"{_figure(round(self.remaining_at_end(), 2))} would be left"
        )

    def remaining_at_end(self) -> float:
        """Credits left when the period ends, at the current rate (never below zero)."""
        if self.as_of is None or self.remaining is None:
            return 0.0
        seconds = max(0.0, (self.period_end - self.as_of).total_seconds())
        return max(0.0, float(self.remaining) - (self.burn_per_day or 0.0) * seconds / DAY)

    def to_dict(self) -> dict[str, Any]:
        """JSON primitives (times as ISO-8601)."""

        def iso(moment: datetime | None) -> str | None:
            return None if moment is None else moment.isoformat()

        return {
            "status": self.status,
            "as_of": iso(self.as_of),
            "remaining": self.remaining,
            "burn_per_day": self.burn_per_day,
            "run_out_at": iso(self.run_out_at),
            "runs_out_before_period_end": self.runs_out_before_period_end,
            "period_start": iso(self.period_start),
            "period_end": iso(self.period_end),
            "window_start": iso(self.window_start),
            "readings_used": self.readings_used,
            "rose_at": iso(self.rose_at),
            "description": self.describe(),
        }

    def _date(self, moment: datetime) -> str:
        import pendulum

        local = pendulum.instance(moment).in_timezone(self.billing_timezone)
        return f"{local.day} {local.format('MMM')}"


def forecast(
    readings: Iterable[Reading],
    *,
    now: datetime | None = None,
    window: timedelta = DEFAULT_WINDOW,
    billing_cycle_day: int = 1,
    billing_timezone: str = "UTC",
) -> Forecast:
    """Forecast the current billing period from ``readings`` (any order).

    :param now: the moment whose billing period counts; default the latest reading's time, or
        the current time without readings.
    :param window: how far back from the latest reading the burn rate is measured.
    :raises CoinStatsConfigError: an invalid ``billing_cycle_day`` or ``billing_timezone``.
    """
    if window <= timedelta(0):
        raise ValueError(f"window must be positive, got {window}")
    period = CreditBudget(billing_cycle_day=billing_cycle_day, billing_timezone=billing_timezone)
    points = sorted(readings, key=lambda r: r.at)
    moment = now or (points[-1].at if points else datetime.now(UTC))
    start, end = period.billing_period(moment)
    points = [p for p in points if start <= p.at <= moment]
    common: dict[str, Any] = {
        "period_start": start,
        "period_end": end,
        "billing_timezone": billing_timezone,
    }
    if not points:
        return Forecast(
            status="no_readings",
            as_of=None,
            remaining=None,
            burn_per_day=None,
            run_out_at=None,
            window_start=None,
            readings_used=0,
            **common,
        )
    latest = points[-1]
    segment = _since_last_rise(points)
    rose_at = segment[0].at if len(segment) < len(points) else None
    segment = [p for p in segment if p.at >= latest.at - window]
    first = segment[0]
    seconds = (latest.at - first.at).total_seconds()
    common |= {"as_of": latest.at, "remaining": latest.remaining, "rose_at": rose_at}
    if latest.remaining <= 0:
        return Forecast(
            status="used_up",
            burn_per_day=None,
            run_out_at=latest.at,
            window_start=first.at,
            readings_used=len(segment),
            **common,
        )
    if len(segment) < 2 or seconds <= 0:
        return Forecast(
            status="one_reading",
            burn_per_day=None,
            run_out_at=None,
            window_start=first.at,
            readings_used=len(segment),
            **common,
        )
    if seconds < MIN_SPAN.total_seconds():
        # Minutes of readings say little about a month: a demo's few calls would "run out" in
        # days. Say what is there instead of projecting it.
        return Forecast(
            status="too_short",
            burn_per_day=None,
            run_out_at=None,
            window_start=first.at,
            readings_used=len(segment),
            **common,
        )
    burn = float(first.remaining - latest.remaining) / seconds * DAY
    if burn <= 0:
        return Forecast(
            status="no_burn",
            burn_per_day=0.0,
            run_out_at=None,
            window_start=first.at,
            readings_used=len(segment),
            **common,
        )
    run_out_at = latest.at + timedelta(days=float(latest.remaining) / burn)
    return Forecast(
        status="runs_out" if run_out_at < end else "lasts",
        burn_per_day=burn,
        run_out_at=run_out_at,
        window_start=first.at,
        readings_used=len(segment),
        **common,
    )


def _since_last_rise(points: list[Reading]) -> list[Reading]:
    """The readings from the last one whose remaining rose over its predecessor's."""
    for index in range(len(points) - 1, 0, -1):
        if points[index].remaining > points[index - 1].remaining:
            return points[index:]
    return points


def _span(delta: timedelta) -> str:
    """``12 days``, ``1 day``, ``5 hours``, ``under an hour``."""
    seconds = delta.total_seconds()
    if seconds >= DAY:
        days = int(seconds // DAY)
        return f"{days} day{'s' if days != 1 else ''}"
    hours = int(seconds // 3600)
    if hours >= 1:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return "under an hour"
