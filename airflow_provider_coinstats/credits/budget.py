"""Credit-budget policy: may credit-hungry work run now, given what ``/usage/credits`` says?

Pure and synchronous on purpose: no I/O and no Airflow import, so a sensor, a trigger and the
tests all ask the same question the same way. A budget combines up to three conditions, checked in
this order; the first one that fails is the one a decision's ``reason`` reports:

1. *possible*: ``required + reserve <= total``. When not, no amount of waiting helps within this
   plan, and a sensor should fail fast instead of poking until its timeout.
2. *reserve*: ``remaining - required >= reserve``, where
   ``reserve = max(min_remaining_credits, min_remaining_ratio * total)``.
3. *pace* (only with ``pace=True``):
   ``used + required <= total * min(1, elapsed_fraction + pace_slack)``, so that spending keeps to
   the linear share of the billing period and the credits last the whole period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Any

import pendulum

from airflow_provider_coinstats.api.exceptions import CoinStatsConfigError
from airflow_provider_coinstats.api.models import whole
from airflow_provider_coinstats.api.validation import MAX_CREDITS, boolean, number, show

if TYPE_CHECKING:
    from datetime import datetime

    from airflow_provider_coinstats.api.models import CreditUsage


_FRACTION_HINT = "(a fraction: 0.1 means 10%)"


@dataclass(frozen=True, slots=True, kw_only=True)
class CreditBudget:
    """How many credits some work needs, and how much must stay untouched.

    All conditions combine; the work may run only when every one holds. Parameters are checked
    on construction, i.e. when the DAG file is parsed, so a typo fails there and not at 3 am.

    :param required_credits: credits the gated work will spend.
    :param min_remaining_credits: absolute reserve that must remain *after* the gated work.
    :param min_remaining_ratio: reserve as a fraction (0..1) of the period's total credits;
        the larger of the two reserves applies.
    :param pace: also hold spending to the elapsed share of the billing period.
    :param pace_slack: fraction (0..1) of the period's total that pacing may run ahead of the
        linear share, e.g. ``0.1`` lets a job spend 40% of the credits 30% into the period.
    :param billing_cycle_day: day of the month (1..31) the billing period starts on; in shorter
        months the period starts on the month's last day.
    :param billing_timezone: IANA time zone name in which the period starts at midnight.
    """

    required_credits: float = 0
    min_remaining_credits: float = 0
    min_remaining_ratio: float = 0.0
    pace: bool = False
    pace_slack: float = 0.0
    billing_cycle_day: int = 1
    billing_timezone: str = "UTC"

    def __post_init__(self) -> None:
        # Strict types here (no strings): the gate has already turned rendered templates into
        # numbers, and a "False" string would be truthy and silently turn pacing on.
        for name in ("required_credits", "min_remaining_credits"):
            number(name, getattr(self, name), minimum=0, maximum=MAX_CREDITS, unit="credits")
        for name in ("min_remaining_ratio", "pace_slack"):
            # Say "fraction" outright: 10 meaning 10% is the likely mistake.
            number(name, getattr(self, name), minimum=0, maximum=1, hint=_FRACTION_HINT)
        boolean("pace", self.pace)
        number("billing_cycle_day", self.billing_cycle_day, minimum=1, maximum=31, whole=True)
        _check_timezone(self.billing_timezone)

    def billing_period(self, now: datetime) -> tuple[pendulum.DateTime, pendulum.DateTime]:
        """The billing period containing ``now``: ``(start, end)``, end exclusive.

        Both are midnight in ``billing_timezone`` on the cycle day (clamped to the month's last
        day), so a period is a calendar month long whatever DST does in between.

        :param now: a timezone-aware moment.
        """
        local = _to_pendulum(now).in_timezone(self.billing_timezone)
        month = pendulum.date(local.year, local.month, 1)
        start = self._period_start(month)
        if local < start:
            month = month.subtract(months=1)
            start = self._period_start(month)
        return start, self._period_start(month.add(months=1))

    def evaluate(
        self,
        usage: CreditUsage,
        now: datetime | None = None,
        *,
        held: float = 0,
        holders: int = 0,
    ) -> BudgetDecision:
        """Decide whether the gated work may run, with the figures behind the decision.

        :param usage: the account's credit usage, as ``GET /usage/credits`` reported it.
        :param now: the moment to judge pacing at; by default ``pendulum.now("UTC")``, which
            ``pendulum.travel_to`` can move in tests. Unused when ``pace`` is off.
        :param held: credits other gates have reserved and not spent yet: they count as spent
            for the reserve and the pace conditions.
        :param holders: how many gates hold ``held`` (for the reason line).
        """
        required = self.required_credits
        reserve = self._reserve(usage.total_credits)
        impossible = required + reserve > usage.total_credits
        reserve_met = usage.remaining_credits - held - required >= reserve
        pacing = self._pacing(usage, now) if self.pace else None
        pace_met = pacing is None or usage.used_credits + held + required <= pacing.allowance

        need = f"need {_figure(required)} + reserve {_figure(reserve)}"
        held_by = ""
        if held > 0:
            gates = f"{holders} other gate{'s' if holders != 1 else ''}"
            held_by = f"{_figure(held)} reserved by {gates}, "
        left = f"{_figure(usage.remaining_credits)} credits left, {held_by}{need}"
        if impossible:
            reason = (
                f"impossible: {need} but the {usage.subscription} plan has only "
                f"{_figure(usage.total_credits)} credits per period; top up or shrink the job"
            )
        elif not reserve_met:
            reason = f"waiting: {left}"
        elif pacing is None:
            reason = f"passed: {left}"
        elif not pace_met:
            reason = f"waiting: {pacing.describe(usage, required, held)}"
        else:
            reason = f"passed: {left}; {pacing.describe(usage, required, held)}"

        return BudgetDecision(
            # `not impossible` is checked on its own: usage figures that disagree
            # (remaining > total) must not let an impossible requirement pass.
            passed=not impossible and reserve_met and pace_met,
            impossible=impossible,
            reason=reason,
            remaining_credits=usage.remaining_credits,
            used_credits=usage.used_credits,
            total_credits=usage.total_credits,
            required_credits=required,
            reserve_credits=reserve,
            pace_allowance=None if pacing is None else pacing.allowance,
            period_start=None if pacing is None else pacing.period_start,
            period_end=None if pacing is None else pacing.period_end,
            elapsed_fraction=None if pacing is None else pacing.elapsed_fraction,
            held_by_others=held,
            holding_gates=holders,
        )

    def _reserve(self, total_credits: float) -> float:
        return max(self.min_remaining_credits, self.min_remaining_ratio * total_credits)

    def _pacing(self, usage: CreditUsage, now: datetime | None) -> _Pacing:
        # Read the clock through pendulum, not datetime, so pendulum.travel_to reaches it.
        moment = pendulum.now("UTC") if now is None else _to_pendulum(now)
        start, end = self.billing_period(moment)
        # Real elapsed time, not wall-clock: credits burn per hour, and a month with a DST
        # change is an hour shorter or longer. Subtract in UTC, because between two times of
        # one zone Python subtracts their wall clocks.
        start_utc, end_utc = start.in_timezone("UTC"), end.in_timezone("UTC")
        elapsed = (moment - start_utc).total_seconds() / (end_utc - start_utc).total_seconds()
        allowance = usage.total_credits * min(1.0, elapsed + self.pace_slack)
        return _Pacing(start, end, elapsed, self.pace_slack, allowance)

    def _period_start(self, month: pendulum.Date) -> pendulum.DateTime:
        day = min(self.billing_cycle_day, month.days_in_month)
        # The period starts at the first instant of that local day: fold=0 takes the first of
        # two midnights where clocks fall back onto midnight.
        start = pendulum.datetime(month.year, month.month, day, tz=self.billing_timezone, fold=0)
        if start.day != day:
            # Clocks sprang over midnight, and fold=0 went back to the previous evening;
            # fold=1 gives the first hour that exists on the day.
            start = pendulum.datetime(
                month.year, month.month, day, tz=self.billing_timezone, fold=1
            )
        return start


@dataclass(frozen=True, slots=True)
class _Pacing:
    period_start: pendulum.DateTime
    period_end: pendulum.DateTime
    elapsed_fraction: float
    slack: float
    allowance: float

    def describe(self, usage: CreditUsage, required: float, held: float = 0) -> str:
        slack = f" + {self.slack:.1%} slack" if self.slack else ""
        reserved = f" + reserved {_figure(held)}" if held > 0 else ""
        return (
            f"pacing allows {_figure(self.allowance)} of {_figure(usage.total_credits)} credits "
            f"by now ({self.elapsed_fraction:.1%} of the period since "
            f"{self.period_start.to_date_string()}{slack}), "
            f"used {_figure(usage.used_credits)}{reserved} + need {_figure(required)}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetDecision:
    """The answer of :meth:`CreditBudget.evaluate`, with the figures it was computed from.

    :param passed: the gated work may run now.
    :param impossible: the requirement can never be met on this plan
        (``required + reserve > total``); waiting will not help.
    :param reason: one readable line: the first condition that failed, or the figures that passed.
    :param remaining_credits: credits left this period, as reported.
    :param used_credits: credits spent this period, as reported.
    :param total_credits: the period's credit limit, as reported.
    :param required_credits: credits the gated work will spend.
    :param reserve_credits: credits that must remain after the gated work.
    :param pace_allowance: credits pacing allows to be spent by now; ``None`` when pace is off.
    :param period_start: start of the current billing period; ``None`` when pace is off.
    :param period_end: end (exclusive) of the current billing period; ``None`` when pace is off.
    :param elapsed_fraction: share (0..1) of the billing period elapsed; ``None`` when pace is off.
    :param held_by_others: credits other gates had reserved, counted as spent.
    :param holding_gates: how many gates held them.
    """

    passed: bool
    impossible: bool
    reason: str
    remaining_credits: float
    used_credits: float
    total_credits: float
    required_credits: float
    reserve_credits: float
    pace_allowance: float | None = None
    period_start: pendulum.DateTime | None = None
    period_end: pendulum.DateTime | None = None
    elapsed_fraction: float | None = None
    held_by_others: float = 0
    holding_gates: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict for XCom: datetimes as ISO-8601, whole numbers as ``int``."""
        return {
            "passed": self.passed,
            "impossible": self.impossible,
            "reason": self.reason,
            "remaining_credits": _json_number(self.remaining_credits),
            "used_credits": _json_number(self.used_credits),
            "total_credits": _json_number(self.total_credits),
            "required_credits": _json_number(self.required_credits),
            "reserve_credits": _json_number(self.reserve_credits),
            "pace_allowance": _json_number(self.pace_allowance),
            "period_start": None if self.period_start is None else self.period_start.isoformat(),
            "period_end": None if self.period_end is None else self.period_end.isoformat(),
            "elapsed_fraction": _json_number(self.elapsed_fraction),
        }


def _check_timezone(name: object) -> None:
    rule = "billing_timezone must be an IANA time zone name such as 'UTC' or 'Europe/Berlin'"
    try:
        if isinstance(name, str):
            pendulum.timezone(name)
            return
    # zoneinfo raises ValueError subclasses for unknown or malformed keys, and OSError for a
    # key that names a folder of the tz database (e.g. "America").
    except (ValueError, OSError):
        pass
    raise CoinStatsConfigError(f"{rule}, got {show(name, strings_expected=True)}")


def _to_pendulum(moment: datetime) -> pendulum.DateTime:
    # A naive datetime could mean any zone; guessing would shift the period by hours.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"now must be timezone-aware, got naive {moment!r}; pass e.g. pendulum.now('UTC')"
        )
    # Through UTC, so that any tzinfo implementation is read by its own offset.
    return pendulum.DateTime.instance(moment.astimezone(UTC))


def _figure(credits: float) -> str:
    """Credits for people: thousands separators, at most two decimals."""
    if float(credits).is_integer():
        return f"{int(credits):,}"
    return f"{credits:,.2f}".rstrip("0").rstrip(".")


def _json_number(value: float | None) -> float | None:
    return None if value is None else whole(value)
