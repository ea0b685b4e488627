"""CreditBudgetTrigger: waits in the triggerer until the CoinStats budget allows the work."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_coinstats.api.exceptions import CoinStatsCreditsExhaustedError, CoinStatsError
from airflow_provider_coinstats.common.gate import (
    BUDGET_FIELDS,
    budget_kwargs,
    error_means_wait,
    gate_result,
)
from airflow_provider_coinstats.common.polling import acquire_poller, release_poller
from airflow_provider_coinstats.credits.budget import CreditBudget
from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook

#: The longest a trigger waits between attempts while CoinStats keeps failing.
MAX_BACKOFF_SECONDS = 300.0
#: The shortest interval between two credit checks of one trigger.
MIN_POKE_INTERVAL = 0.1


class CreditBudgetTrigger(BaseTrigger):
    """Poll the credit budget of one connection until it allows the work, then fire once.

    Its kwargs are JSON primitives: the connection id, the budget and the interval, never the
    key (the connection is looked up in the triggerer). The first check comes one
    ``poke_interval`` after the start (the sensor has just checked on the worker); every loop turn
    then either sleeps or ends:

    - the budget passes: a ``success`` event carrying the same dict the sensor's poke returns;
    - waiting cannot help (rejected key, bad connection, a requirement larger than the plan):
      an ``error`` event after one request, with ``fail_fast`` set;
    - the budget does not allow it yet, or CoinStats says the credits are exhausted: sleep
      ``poke_interval`` and look again;
    - CoinStats keeps failing transiently: exponential backoff (capped), then an ``error`` event
      after ``max_consecutive_failures`` failures in a row.

    All triggers of one connection in one triggerer share one credit reading per interval
    (:mod:`airflow_provider_coinstats.common.polling`).

    :param coinstats_conn_id: the CoinStats connection.
    :param poke_interval: seconds between budget checks.
    :param max_consecutive_failures: transient failures in a row before giving up.
    :param budget: the :class:`~airflow_provider_coinstats.credits.budget.CreditBudget` fields.
    """

    def __init__(
        self,
        *,
        coinstats_conn_id: str,
        poke_interval: float,
        max_consecutive_failures: int = 10,
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

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "coinstats_conn_id": self.coinstats_conn_id,
                "poke_interval": self.poke_interval,
                "max_consecutive_failures": self.max_consecutive_failures,
                **budget_kwargs(self.budget),
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # The sensor checked on the worker just before deferring: the next check is due one
        # interval later, as in poke mode. Firing within seconds of the deferral would also race
        # the worker's exit in Airflow's scheduler and fail the task (apache/airflow#67287).
        await asyncio.sleep(self.poke_interval)
        poller = acquire_poller(self.coinstats_conn_id, CoinStatsHook.aclient)
        try:
            failures = 0
            while True:
                try:
                    usage, checked_at = await poller.read(max_age=self.poke_interval)
                except CoinStatsCreditsExhaustedError as error:
                    # The budget's answer, not a failure: the poke path waits on it too.
                    failures = 0
                    self.log.info("waiting: %s", error)
                    await asyncio.sleep(self.poke_interval)
                    continue
                except CoinStatsError as error:
                    if not error_means_wait(error):
                        yield _error_event(error, fail_fast=True)
                        return
                    failures += 1
                    if failures >= self.max_consecutive_failures:
                        yield _error_event(
                            error,
                            fail_fast=False,
                            message=f"CoinStats credit gate gave up after {failures} failed "
                            f"credit check{'s' if failures > 1 else ''} in a row; last: {error}",
                        )
                        return
                    delay = backoff_delay(self.poke_interval, failures, error)
                    self.log.warning(
                        "not yet: could not read credits (%s); retrying in %g s", error, delay
                    )
                    await asyncio.sleep(delay)
                    continue
                failures = 0
                decision = self.budget.evaluate(usage)
                self.log.info("%s", decision.reason)
                if decision.impossible:
                    yield TriggerEvent(
                        {
                            "status": "error",
                            "error": "CoinStatsInsufficientCreditsError",
                            "message": f"CoinStats credit gate cannot pass: {decision.reason}",
                            "fail_fast": True,
                        }
                    )
                    return
                if decision.passed:
                    result = gate_result(usage, decision, checked_at)
                    yield TriggerEvent({"status": "success", "result": result})
                    return
                await asyncio.sleep(self.poke_interval)
        finally:
            release_poller(poller)


def backoff_delay(poke_interval: float, failures: int, error: CoinStatsError) -> float:
    """Seconds to wait after the ``failures``-th transient failure in a row: the interval,
    doubling with each failure, capped at :data:`MAX_BACKOFF_SECONDS` (or the interval, if
    longer), and never shorter than a ``Retry-After`` CoinStats sent."""
    doubled = poke_interval * 2.0 ** min(failures - 1, 30)  # 2**30 intervals: capped anyway
    delay = max(poke_interval, min(doubled, MAX_BACKOFF_SECONDS))
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        delay = max(delay, min(float(retry_after), MAX_BACKOFF_SECONDS))
    return delay


def _error_event(error: CoinStatsError, *, fail_fast: bool, message: str = "") -> TriggerEvent:
    return TriggerEvent(
        {
            "status": "error",
            "error": type(error).__name__,
            "message": message or str(error),
            "fail_fast": fail_fast,
        }
    )
