"""CreditBudgetTrigger: waits in the triggerer until the CoinStats budget allows the work."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_coinstats.api.exceptions import (
    CoinStatsCreditsExhaustedError,
    CoinStatsError,
    CoinStatsInsufficientCreditsError,
)
from airflow_provider_coinstats.api.retry import poll_delay
from airflow_provider_coinstats.common.events import GateEvent
from airflow_provider_coinstats.common.gate import (
    BUDGET_FIELDS,
    WaitLog,
    budget_kwargs,
    decide_and_reserve,
    decision_figures,
    error_means_wait,
    gate_result,
    held_back,
)
from airflow_provider_coinstats.common.polling import acquire_poller, release_poller
from airflow_provider_coinstats.common.reservations import Claim, figure
from airflow_provider_coinstats.credits.budget import CreditBudget
from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook

#: The shortest interval between two credit checks of one trigger.
MIN_POKE_INTERVAL = 0.1


class CreditBudgetTrigger(BaseTrigger):
    """Poll the credit budget of one connection until it allows the work, then fire once.

    Its kwargs are JSON primitives: the connection id, the budget and the interval, never the
    key (the connection is looked up in the triggerer). The first check comes one
    ``poke_interval`` after the start (the sensor has just checked on the worker); every loop turn
    then either sleeps or ends:

    - the budget passes, after what other gates of the connection have reserved
      (:mod:`airflow_provider_coinstats.common.reservations`): it reserves the required credits
      in the same step and fires a ``success`` event carrying the same dict the sensor's poke
      returns;
    - waiting cannot help (rejected key, bad connection, a requirement larger than the plan):
      an ``error`` event after one request, with ``fail_fast`` set;
    - the budget does not allow it yet: sleep until the reading it judged is one
      ``poke_interval`` old, then judge the next one (all triggers of the connection wake on the
      shared poller's schedule, so a decision never uses a reading older than the interval);
    - CoinStats says the credits are exhausted: sleep ``poke_interval`` and look again;
    - CoinStats fails transiently, or sends credit figures that do not add up: back off
      (:func:`~airflow_provider_coinstats.api.retry.poll_delay`: the interval, doubling, capped
      at 5 minutes, never under ``Retry-After``), then an ``error`` event after
      ``max_consecutive_failures`` failed checks in a row. Each check is one request, so a
      persistent 5xx costs ``max_consecutive_failures`` requests.

    Events follow :class:`~airflow_provider_coinstats.common.events.GateEvent`. All triggers of
    one connection in one triggerer share one credit reading per interval
    (:mod:`airflow_provider_coinstats.common.polling`), on a thread of that connection's own.

    :param coinstats_conn_id: the CoinStats connection.
    :param poke_interval: seconds between budget checks.
    :param max_consecutive_failures: transient failures in a row before giving up.
    :param reservation: :meth:`Claim.to_kwargs
        <airflow_provider_coinstats.common.reservations.Claim.to_kwargs>` of the gate, or
        ``None`` to only check (``reserve_credits=False``).
    :param budget: the :class:`~airflow_provider_coinstats.credits.budget.CreditBudget` fields.
    """

    def __init__(
        self,
        *,
        coinstats_conn_id: str,
        poke_interval: float,
        max_consecutive_failures: int = 10,
        reservation: dict[str, Any] | None = None,
        **budget: Any,
    ) -> None:
        super().__init__()
        unknown = set(budget) - set(BUDGET_FIELDS)
        if unknown:
            raise TypeError(f"CreditBudgetTrigger got unknown budget fields {sorted(unknown)}")
        interval = float(poke_interval)
        if not math.isfinite(interval) or interval < 0:
            raise ValueError(f"poke_interval must be seconds >= 0, got {poke_interval!r}")
        if isinstance(max_consecutive_failures, bool) or int(max_consecutive_failures) < 1:
            raise ValueError(
                f"max_consecutive_failures must be 1 or more, got {max_consecutive_failures!r}"
            )
        self.coinstats_conn_id = coinstats_conn_id
        # A zero interval would turn the wait into a request loop; never poll faster than 10/s.
        self.poke_interval = max(interval, MIN_POKE_INTERVAL)
        self.max_consecutive_failures = int(max_consecutive_failures)
        self.budget = CreditBudget(**budget)
        self.claim = None if reservation is None else Claim.from_kwargs(reservation)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "coinstats_conn_id": self.coinstats_conn_id,
                "poke_interval": self.poke_interval,
                "max_consecutive_failures": self.max_consecutive_failures,
                "reservation": None if self.claim is None else self.claim.to_kwargs(),
                **budget_kwargs(self.budget),
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # The sensor checked on the worker just before deferring: the next check is due one
        # interval later, as in poke mode. Firing within seconds of the deferral would also race
        # the worker's exit in Airflow's scheduler and fail the task (apache/airflow#67287).
        await asyncio.sleep(self.poke_interval)
        reserving = self.claim is not None
        poller = acquire_poller(self.coinstats_conn_id, CoinStatsHook.aclient, reserving=reserving)
        waits = WaitLog(self.coinstats_conn_id, self.log, budget=self.budget)
        try:
            failures = 0
            judged: float | None = None  # monotonic time of the last reading judged
            while True:
                try:
                    reading = await poller.read_reading(self.poke_interval, newer_than=judged)
                except CoinStatsCreditsExhaustedError as error:
                    # The budget's answer, not a failure: the poke path waits on it too.
                    failures = 0
                    # A new requestId in each answer is no news.
                    waits.decision(f"waiting: {error}", ("exhausted", error.status_code))
                    await asyncio.sleep(self.poke_interval)
                    continue
                except CoinStatsError as error:
                    if not error_means_wait(error):
                        self.log.error("CoinStats credit gate cannot pass: %s", error)
                        yield TriggerEvent(GateEvent(error=error, fail_fast=True).to_event())
                        return
                    failures += 1
                    if failures >= self.max_consecutive_failures:
                        yield TriggerEvent(
                            GateEvent(error=_gave_up(error, failures), fail_fast=False).to_event()
                        )
                        return
                    delay = poll_delay(error, failures, self.poke_interval)
                    waits.failure(
                        error,
                        f"not yet: could not read credits ({error}); failed check {failures} of "
                        f"{self.max_consecutive_failures}, next check in {delay:g} s",
                    )
                    await asyncio.sleep(delay)
                    continue
                failures = 0
                assert reading.usage is not None
                usage, judged = reading.usage, reading.monotonic_at
                # Decide and reserve in one step, no await in between: the other triggers of
                # this loop see the reservation when they judge the same reading.
                decision, reserved = decide_and_reserve(
                    self.budget, usage, poller.ledger if reserving else None, self.claim
                )
                if decision.impossible:
                    # The reason starts "impossible: ..."; said once.
                    message = f"CoinStats credit gate: {decision.reason}"
                    self.log.error("%s", message)
                    impossible = CoinStatsInsufficientCreditsError(message)
                    yield TriggerEvent(GateEvent(error=impossible, fail_fast=True).to_event())
                    return
                if decision.passed and reserved and self.claim is not None:
                    poller.reserved(self.claim.holder)
                    if not await poller.confirm(self.claim.holder):
                        why = (
                            f"the reservation of {figure(reserved)} did not stand (a ledger "
                            "write made at the same moment in another process dropped it, or "
                            "no fresh read of the ledger could be written on); deciding again"
                        )
                        decision, reserved = held_back(decision, why), 0
                if decision.passed:
                    result = gate_result(usage, decision, reading.checked_at, reserved)
                    self.log.info("%s", result["reason"])
                    yield TriggerEvent(GateEvent(result=result).to_event())
                    return
                waits.decision(decision.reason, decision_figures(decision))
                # Wake when this reading is one interval old: on the poller's schedule, like
                # every other trigger of the connection, so one of us takes the next reading.
                await asyncio.sleep(max(0.0, judged + self.poke_interval - time.monotonic()))
        finally:
            release_poller(poller, reserving=reserving)


def _gave_up(error: CoinStatsError, failures: int) -> CoinStatsError:
    """``error`` with a message that says the gate gave up; every other field kept."""
    checks = f"{failures} failed credit check{'s' if failures > 1 else ''}"
    message = f"CoinStats credit gate gave up after {checks} in a row; last: {error.message}"
    return CoinStatsError.from_dict({**error.to_dict(), "message": message})
