"""CreditBudgetTrigger: waits in the triggerer until the CoinStats budget allows the work."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_coinstats.budget import CreditBudget
from airflow_provider_coinstats.exceptions import CoinStatsError
from airflow_provider_coinstats.gate import BUDGET_FIELDS, error_means_wait, gate_result
from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook
from airflow_provider_coinstats.polling import acquire_poller, release_poller

#: The longest a trigger waits between attempts while CoinStats keeps failing.
MAX_BACKOFF_SECONDS = 300.0


class CreditBudgetTrigger(BaseTrigger):
    """Poll the credit budget of one connection until it allows the work, then fire once.

    Its kwargs are JSON primitives: the connection id, the budget and the interval, never the
    key (the connection is looked up in the triggerer). Every loop turn either sleeps or ends:

    - the budget passes: a ``success`` event carrying the same dict the sensor's poke returns;
    - waiting cannot help (rejected key, bad connection, a requirement larger than the plan):
      an ``error`` event after one request, with ``fail_fast`` set;
    - CoinStats keeps failing transiently: exponential backoff (capped), then an ``error`` event
      after ``max_consecutive_failures`` failures in a row.

    :param coinstats_conn_id: the CoinStats connection.
    :param poke_interval: seconds between budget checks.
    :param max_consecutive_failures: transient failures in a row before giving up.
    :param budget: the :class:`~airflow_provider_coinstats.budget.CreditBudget` fields.
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
        self.coinstats_conn_id = coinstats_conn_id
        # A zero interval would turn the wait into a request loop; never poll faster than 10/s.
        self.poke_interval = max(float(poke_interval), 0.1)
        self.max_consecutive_failures = int(max_consecutive_failures)
        self.budget = CreditBudget(**budget)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "coinstats_conn_id": self.coinstats_conn_id,
                "poke_interval": self.poke_interval,
                "max_consecutive_failures": self.max_consecutive_failures,
                **{name: getattr(self.budget, name) for name in BUDGET_FIELDS},
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        poller = acquire_poller(self.coinstats_conn_id, CoinStatsHook.aclient)
        try:
            failures = 0
            while True:
                try:
                    usage, checked_at = await poller.read(max_age=self.poke_interval)
                except CoinStatsError as error:
                    if not error_means_wait(error):
                        yield _error_event(error, fail_fast=True)
                        return
                    failures += 1
                    if failures >= self.max_consecutive_failures:
                        yield _error_event(
                            error,
                            fail_fast=False,
                            message=f"gave up after {failures} failed credit checks in a row; "
                            f"last: {error}",
                        )
                        return
                    delay = min(self.poke_interval * 2 ** (failures - 1), MAX_BACKOFF_SECONDS)
                    self.log.warning(
                        "not yet: could not read credits (%s); retrying in %.0f s", error, delay
                    )
                    await asyncio.sleep(max(delay, self.poke_interval))
                    continue
                failures = 0
                decision = self.budget.evaluate(usage)
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
                    self.log.info("%s", decision.reason)
                    result = gate_result(usage, decision, checked_at)
                    yield TriggerEvent({"status": "success", "result": result})
                    return
                self.log.info("%s", decision.reason)
                await asyncio.sleep(self.poke_interval)
        finally:
            release_poller(poller)


def _error_event(error: CoinStatsError, *, fail_fast: bool, message: str = "") -> TriggerEvent:
    return TriggerEvent(
        {
            "status": "error",
            "error": type(error).__name__,
            "message": message or str(error),
            "fail_fast": fail_fast,
        }
    )
