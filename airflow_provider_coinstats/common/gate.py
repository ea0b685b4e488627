"""What a credit gate does with one reading, shared by the sensor's poke and the trigger.

Both paths must agree on four things, so they live here once: which errors mean "not yet" and
which end the wait, how a decision is turned into the XCom dict, how the sensor's parameters
become a :class:`~airflow_provider_coinstats.credits.budget.CreditBudget`, and what a waiting
gate writes to its log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from airflow_provider_coinstats.api.exceptions import (
    CoinStatsConfigError,
    CoinStatsConnectionError,
    CoinStatsCreditsExhaustedError,
    CoinStatsError,
    CoinStatsInconsistentCreditsError,
)
from airflow_provider_coinstats.api.models import CreditUsage
from airflow_provider_coinstats.api.validation import number
from airflow_provider_coinstats.common.params import credits_param
from airflow_provider_coinstats.common.reservations import Claim, Ledger, figure, whole_credits
from airflow_provider_coinstats.credits.budget import BudgetDecision, CreditBudget
from airflow_provider_coinstats.credits.estimates import estimate_plan

#: The CreditBudget fields a gate passes on (to the trigger, as JSON primitives).
BUDGET_FIELDS = (
    "required_credits",
    "min_remaining_credits",
    "min_remaining_ratio",
    "pace",
    "pace_slack",
    "billing_cycle_day",
    "billing_timezone",
)


#: A waiting gate with nothing new to report still says so this often.
SUMMARY_EVERY_SECONDS = 600.0
#: Connection failures in a row after which a gate suspects the host itself.
UNREACHABLE_HINT_AFTER = 3


def error_means_wait(error: CoinStatsError) -> bool:
    """Transient trouble (429 rate limit, 5xx, timeouts, connection errors), exhausted credits
    and credit figures that do not add up mean "not yet": waiting is the gate's job, and it
    never decides on figures it cannot trust. Anything else (rejected key, bad configuration,
    a malformed answer) will not heal by waiting."""
    return error.transient or isinstance(
        error, CoinStatsCreditsExhaustedError | CoinStatsInconsistentCreditsError
    )


def gate_result(
    usage: CreditUsage, decision: BudgetDecision, checked_at: datetime, reserved: float = 0
) -> dict[str, Any]:
    """The XCom value of a gate: usage figures, the decision and its reason, what other gates
    held when it decided (``reserved_by_others`` by ``reserving_gates``) and the credits it
    reserved itself (``reserved_credits``). Never the key."""
    result = {**usage.to_dict(checked_at), **decision.to_dict()}
    result["reserved_by_others"] = whole_credits(decision.held_by_others)
    result["reserving_gates"] = decision.holding_gates
    result["reserved_credits"] = whole_credits(reserved)
    if reserved > 0:
        result["reason"] = f"{decision.reason}; reserved {figure(reserved)}"
    return result


def decide_and_reserve(
    budget: CreditBudget, usage: CreditUsage, ledger: Ledger | None, claim: Claim | None
) -> tuple[BudgetDecision, float]:
    """Judge ``usage`` after what other gates hold in ``ledger``; when it passes, reserve the
    required credits for ``claim`` in the same step. Returns the decision and what was
    reserved. No ledger (``reserve_credits=False``): today's check-only decision."""
    if ledger is None or claim is None:
        return budget.evaluate(usage), 0
    held, holders = ledger.held_by_others(claim.holder)
    decision = budget.evaluate(usage, held=held, holders=holders)
    if not decision.passed or budget.required_credits <= 0:
        return decision, 0
    claim.reserve_in(ledger, budget.required_credits)
    return decision, budget.required_credits


def held_back(decision: BudgetDecision, why: str) -> BudgetDecision:
    """``decision``, a pass that the reservation ledger would not let stand: waiting, because
    ``why``."""
    return replace(decision, passed=False, reason=f"waiting: {why}")


def required_credits_value(
    required: Any, price_overrides: Mapping[str, float] | None = None
) -> int | float:
    """``required_credits`` as a number: a number, a numeric string (a rendered template), or a
    list of planned calls priced through :func:`~airflow_provider_coinstats.credits.estimate_plan`.
    """
    if isinstance(required, Sequence) and not isinstance(required, str | bytes):
        return estimate_plan(required, price_overrides=price_overrides)
    value = credits_param("required_credits", required)
    return 0 if value is None else value


def build_budget(
    *,
    required_credits: Any = 0,
    min_remaining_credits: Any = 0,
    min_remaining_ratio: Any = 0.0,
    pace: bool = False,
    pace_slack: float = 0.0,
    billing_cycle_day: int = 1,
    billing_timezone: str = "UTC",
    price_overrides: Mapping[str, float] | None = None,
) -> CreditBudget:
    """A validated budget from (rendered) gate parameters; errors name the parameter."""
    # A rendered template is a string: read it as a number here (float() would also take True
    # as 1.0, a 100% reserve); the budget checks the range.
    ratio = number("min_remaining_ratio", min_remaining_ratio, strings=True)
    try:
        return CreditBudget(
            required_credits=required_credits_value(required_credits, price_overrides),
            min_remaining_credits=credits_param("min_remaining_credits", min_remaining_credits)
            or 0,
            min_remaining_ratio=ratio,
            pace=pace,
            pace_slack=pace_slack,
            billing_cycle_day=billing_cycle_day,
            billing_timezone=billing_timezone,
        )
    except CoinStatsConfigError:
        raise
    except ValueError as error:
        raise CoinStatsConfigError(str(error)) from None


def budget_kwargs(budget: CreditBudget) -> dict[str, Any]:
    """The budget as JSON primitives (planned calls already priced), for trigger kwargs."""
    return {name: getattr(budget, name) for name in BUDGET_FIELDS}


class WaitLog:
    """What a waiting gate logs: a decision line when the decision or its figures change, else a
    summary every :data:`SUMMARY_EVERY_SECONDS` (a gate polling every minute for six hours
    writes a handful of lines, not 360); one line per failed check; and, once, a hint to check
    the Base URL when CoinStats stays unreachable.

    :param conn_id: the connection, named in the hint.
    :param log: the task's or the trigger's logger (structlog or stdlib, by Airflow version).
    :param clock: monotonic seconds (a seam for tests).
    :param budget: the gate's budget; given, the summary adds the credit forecast for its
        billing period (:func:`forecast_note`).
    """

    def __init__(
        self,
        conn_id: str,
        log: Any,
        *,
        clock: Callable[[], float] = time.monotonic,
        budget: CreditBudget | None = None,
    ) -> None:
        self.conn_id = conn_id
        self.budget = budget
        self.log = log
        self.clock = clock
        self.checks = 0
        self._started = self._last_line_at = clock()
        self._last_news: object = None
        self._unreachable = 0
        self._hinted = False

    def decision(self, reason: str, figures: object = None) -> None:
        """A reading was judged; ``reason`` is the decision's line, ``figures`` what counts as
        news (e.g. the account's figures: a pacing allowance that moves with the clock is not
        news). By default the line itself."""
        self.checks += 1
        self._unreachable = 0
        news = reason if figures is None else figures
        now = self.clock()
        if news != self._last_news:
            self.log.info("%s", reason)
        elif now - self._last_line_at >= SUMMARY_EVERY_SECONDS:
            note = None if self.budget is None else forecast_note(self.conn_id, self.budget)
            self.log.info(
                "still waiting after %d checks over %s: %s%s",
                self.checks,
                _duration(now - self._started),
                reason,
                f"; {note}" if note else "",
            )
        else:
            return
        self._last_news, self._last_line_at = news, now

    def failure(self, error: CoinStatsError, line: str) -> None:
        """A check failed; ``line`` says what failed and what happens next."""
        self.checks += 1
        self._last_news = None  # the next decision is news again
        self.log.warning("%s", line)
        if not isinstance(error, CoinStatsConnectionError):
            self._unreachable = 0
            return
        self._unreachable += 1
        if self._unreachable >= UNREACHABLE_HINT_AFTER and not self._hinted:
            self._hinted = True
            self.log.warning(
                "CoinStats has been unreachable through connection %r for %d checks in a row; "
                "if this persists, check the connection's Base URL (host): a mistyped host "
                "fails exactly like this",
                self.conn_id,
                self._unreachable,
            )


def forecast_note(conn_id: str, budget: CreditBudget | None = None) -> str | None:
    """The credit forecast for a waiting gate's summary line, from the readings this process
    took of ``conn_id`` (no I/O: it runs in the triggerer's loop too); None before two."""
    from airflow_provider_coinstats.common.readings import recent_readings
    from airflow_provider_coinstats.credits.forecast import forecast

    readings = recent_readings(conn_id)
    if len(readings) < 2:
        return None
    billing = budget or CreditBudget()
    return forecast(
        readings,
        billing_cycle_day=billing.billing_cycle_day,
        billing_timezone=billing.billing_timezone,
    ).describe()


def _duration(seconds: float) -> str:
    """``42 s``, ``5 min``, ``1 h 10 min``."""
    minutes = int(seconds) // 60
    if minutes == 0:
        return f"{int(seconds)} s"
    hours, minutes = divmod(minutes, 60)
    if hours == 0:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def decision_figures(decision: BudgetDecision) -> tuple[object, ...]:
    """What makes a decision news for :class:`WaitLog`: its outcome and the account's figures."""
    return (
        decision.passed,
        decision.total_credits,
        decision.used_credits,
        decision.remaining_credits,
        decision.held_by_others,
    )
