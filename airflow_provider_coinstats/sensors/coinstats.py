"""CreditBudgetSensor: let credit-hungry tasks run only when the CoinStats budget allows."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import (
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSkipException,
)

from airflow_provider_coinstats.api.exceptions import CoinStatsConfigError, CoinStatsError
from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook

# The gate helpers, the events and the credit domain load when a sensor is built or runs, not
# when a DAG file imports this module (bench/parse_cost.py): their dataclasses cost milliseconds
# to create, and the trigger module pulls in airflow.triggers.base and the HTTP client.
if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_coinstats.api.models import CreditUsage
    from airflow_provider_coinstats.common.gate import WaitLog
    from airflow_provider_coinstats.common.reservations import Claim
    from airflow_provider_coinstats.credits.budget import BudgetDecision, CreditBudget


class CreditGateFailure(AirflowFailException):
    """A credit gate that no wait can open: a rejected key, a missing or invalid connection, an
    invalid budget, or a requirement larger than the plan. It fails the task without retries,
    also under ``soft_fail`` (which skips only when the budget does not come in time)."""


class CreditBudgetSensor(BaseSensorOperator):
    """Wait until the CoinStats account has the credits the downstream work needs.

    Every poke reads the free ``/usage/credits`` endpoint and asks a
    :class:`~airflow_provider_coinstats.credits.budget.CreditBudget` whether the work may run; all
    conditions must hold. Each poke logs its decision in one line, e.g.
    ``waiting: 4,000 credits left, need 5,000 + reserve 1,000``, and the sensor returns to XCom
    the usage figures, the decision and its ``reason``.

    It fails at once (:class:`CreditGateFailure`, no retries, whatever ``soft_fail`` says) when
    waiting cannot help: the requirement exceeds the plan (``required + reserve > total``),
    CoinStats rejects the key, or the connection or a budget parameter is invalid. Transient
    trouble (429, 5xx, timeouts) and credit figures that do not add up only log a warning and
    count as "not yet"; ``soft_fail`` skips when the budget does not come within ``timeout``.

    Works in ``poke`` and ``reschedule`` mode, and deferred (``deferrable=True``), where one
    triggerer serves every waiting gate of a connection with one credit reading per interval.

    :param coinstats_conn_id: the CoinStats connection (templated).
    :param required_credits: what the gated work will spend (templated): a number, or a list of
        planned calls ``{"method", "path", "params", "json", "times"}`` priced from the
        CoinStats price list.
    :param min_remaining_credits: credits that must remain after the work (templated).
    :param min_remaining_ratio: a reserve as a fraction 0..1 of the period's total (templated).
    :param pace: spend at most the elapsed share of the billing period.
    :param pace_slack: fraction 0..1 of the total that pacing may run ahead.
    :param billing_cycle_day: day of month (1..31) the billing period starts.
    :param billing_timezone: IANA time zone of the billing period.
    :param price_overrides: ``{"GET /path": credits}`` for endpoints missing from the price list.
    :param deferrable: wait in the triggerer instead of a worker; defaults to
        ``[operators] default_deferrable``.
    :param reserve_credits: when the gate passes, reserve ``required_credits`` so that the
        other gates of the connection decide on what is left after this work, and pass once the
        reservation has stood ``[coinstats] reservation_confirm_delay`` seconds (see README,
        "Gating on credits"); ``False`` only checks, as before reservations existed.
    :param reservation_timeout: seconds after which a reservation that nothing else ended
        (credits seen spent, every downstream task finished, the DAG run ended) ends anyway.
    """

    template_fields: Sequence[str] = (
        "coinstats_conn_id",
        "required_credits",
        "min_remaining_credits",
        "min_remaining_ratio",
    )
    template_fields_renderers = {"required_credits": "json"}
    ui_color = "#fff4d6"

    def __init__(
        self,
        *,
        coinstats_conn_id: str = CoinStatsHook.default_conn_name,
        required_credits: float | str | Sequence[Mapping[str, Any]] = 0,
        min_remaining_credits: float | str = 0,
        min_remaining_ratio: float | str = 0.0,
        pace: bool = False,
        pace_slack: float = 0.0,
        billing_cycle_day: int = 1,
        billing_timezone: str = "UTC",
        price_overrides: Mapping[str, float] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        reserve_credits: bool = True,
        reservation_timeout: float = 3600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.coinstats_conn_id = coinstats_conn_id
        self.required_credits = required_credits
        self.min_remaining_credits = min_remaining_credits
        self.min_remaining_ratio = min_remaining_ratio
        self.pace = pace
        self.pace_slack = pace_slack
        self.billing_cycle_day = billing_cycle_day
        self.billing_timezone = billing_timezone
        self.price_overrides = price_overrides
        self.deferrable = deferrable
        self.reserve_credits = reserve_credits
        self.reservation_timeout = reservation_timeout
        self._check_literal_budget()

    def _check_literal_budget(self) -> None:
        """Build the budget once while the DAG is parsed when nothing in it waits on rendering:
        a typo in a budget should break the DAG import, not a run at 3 am. Templates and
        XComArgs are checked once rendered; nothing stored is changed."""
        from airflow_provider_coinstats.common.literals import is_literal

        rendered_later = (
            self.required_credits,
            self.min_remaining_credits,
            self.min_remaining_ratio,
        )
        if all(is_literal(value) for value in rendered_later):
            self._budget()

    def _budget(self) -> CreditBudget:
        from airflow_provider_coinstats.common.gate import build_budget

        return build_budget(
            required_credits=self.required_credits,
            min_remaining_credits=self.min_remaining_credits,
            min_remaining_ratio=self.min_remaining_ratio,
            pace=self.pace,
            pace_slack=self.pace_slack,
            billing_cycle_day=self.billing_cycle_day,
            billing_timezone=self.billing_timezone,
            price_overrides=self.price_overrides,
        )

    @cached_property
    def hook(self) -> CoinStatsHook:
        return CoinStatsHook(coinstats_conn_id=self.coinstats_conn_id)

    @cached_property
    def _waits(self) -> WaitLog:
        from airflow_provider_coinstats.common.gate import WaitLog

        # Lives as long as the sensor object: across the pokes of one poke-mode run.
        return WaitLog(self.coinstats_conn_id, self.log, budget=self._budget())

    def poke(self, context: Context) -> PokeReturnValue:
        from airflow_provider_coinstats.common.gate import (
            decide_and_reserve,
            decision_figures,
            error_means_wait,
            gate_result,
        )
        from airflow_provider_coinstats.common.metrics import emit_credit_gauges

        try:
            budget = self._budget()
        except CoinStatsConfigError as error:
            raise self._cannot_pass(str(error)) from error
        # When the request went out: a reservation whose work finished after that may not be
        # spent in this reading yet, so it must not end on it.
        sent_at = pendulum.now("UTC").timestamp()
        try:
            usage = self.hook.get_credit_usage()
        except CoinStatsError as error:
            if error_means_wait(error):
                line = f"not yet: could not read credits ({error}); will poke again"
                self._waits.failure(error, line)
                return PokeReturnValue(is_done=False)
            raise self._cannot_pass(str(error)) from error
        except AirflowNotFoundException as error:
            raise self._cannot_pass(
                f"Could not load CoinStats connection {self.coinstats_conn_id!r}: {error}"
            ) from error
        emit_credit_gauges(self.coinstats_conn_id, usage)
        read_at = pendulum.now("UTC")
        claim = self._claim(context)
        if claim is None:
            decision, reserved = decide_and_reserve(budget, usage, None, None)
        else:
            decision, reserved = self._decide_on_ledger(budget, usage, claim, sent_at)
        if decision.impossible:
            # The reason starts "impossible: ..."; said once.
            raise self._cannot_pass(f"CoinStats credit gate: {decision.reason}")
        result = gate_result(usage, decision, read_at, reserved)
        if decision.passed:
            self.log.info("%s", result["reason"])
        else:
            self._waits.decision(decision.reason, decision_figures(decision))
        return PokeReturnValue(is_done=decision.passed, xcom_value=result)

    def _claim(self, context: Context) -> Claim | None:
        """Who this gate is in the reservation ledger; ``None`` when it only checks."""
        if not self.reserve_credits:
            return None
        from airflow_provider_coinstats.api.validation import number
        from airflow_provider_coinstats.common.reservations import Claim, holder_id

        try:
            timeout = number(
                "reservation_timeout", self.reservation_timeout, minimum=1, maximum=10**8
            )
        except CoinStatsConfigError as error:
            raise self._cannot_pass(str(error)) from error
        ti = context.get("ti")
        if ti is None:  # run outside a task (a bare poke(), as in unit tests): check only
            return None
        map_index = getattr(ti, "map_index", -1)
        return Claim(
            holder=holder_id(
                ti.dag_id, ti.run_id, ti.task_id, -1 if map_index is None else map_index
            ),
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            waiting_for=tuple(sorted(self.downstream_task_ids)),
            timeout=float(timeout),
        )

    def _decide_on_ledger(
        self, budget: CreditBudget, usage: CreditUsage, claim: Claim, sent_at: float
    ) -> tuple[BudgetDecision, float]:
        """Decide after what other gates hold, reserve when passing, write the ledger back,
        and pass only once the reservation survived the confirmation (see
        :mod:`~airflow_provider_coinstats.common.reservations`)."""
        from airflow_provider_coinstats.common.gate import decide_and_reserve, held_back
        from airflow_provider_coinstats.common.reservations import (
            Ledger,
            VariableStore,
            confirm_delay,
            confirmed,
            figure,
            update_ledger,
        )

        store, conn_id, delay = VariableStore(), self.coinstats_conn_id, confirm_delay()
        outcome: list[tuple[BudgetDecision, float]] = []

        def decide(ledger: Ledger) -> bool:
            before = ledger.to_json()
            ledger.settle(usage.used_credits, read_at=sent_at)
            outcome[:] = [decide_and_reserve(budget, usage, ledger, claim)]
            return ledger.to_json() != before

        try:
            written = update_ledger(store, conn_id, decide, delay=delay)
        except Exception as error:
            # Never write a ledger that was not read: it would drop every other reservation.
            self.log.warning(
                "Could not read or store the credit reservations (%s); checking only", error
            )
            return decide_and_reserve(budget, usage, Ledger(), claim)
        decision, reserved = outcome[0]
        if written is None:
            return held_back(
                decision,
                "the credit reservations could not be written on a fresh read; will poke again",
            ), 0
        if reserved and not confirmed(store, conn_id, claim.holder, delay=delay):
            why = (
                f"the reservation of {figure(reserved)} was dropped by a ledger write made at the "
                "same moment in another process; deciding again at the next poke"
            )
            return held_back(decision, why), 0
        return decision, reserved

    def _cannot_pass(self, message: str) -> CreditGateFailure:
        """The failure for a gate that no wait can open, logged where the task log shows it."""
        self.log.error("%s", message)
        return CreditGateFailure(message)

    @contextmanager
    def _failures_stay_failures(self) -> Iterator[None]:
        """BaseSensorOperator turns an ``AirflowFailException`` into a skip under ``soft_fail``;
        a gate that cannot pass (broken configuration, impossible budget) is not a budget that
        came late, so it fails. ``never_fail``, which asks for no failure at all, still skips."""
        try:
            yield
        except AirflowSkipException as skip:
            failure = skip.__cause__
            if isinstance(failure, CreditGateFailure) and not self.never_fail:
                raise failure from failure.__cause__
            raise

    def execute(self, context: Context) -> Any:
        with self._failures_stay_failures():
            if not self.deferrable:
                return super().execute(context)
            # Check once here: a budget that already allows the work costs no deferral at all.
            try:
                first = self.poke(context)
            except CreditGateFailure as error:
                if self.never_fail:
                    raise AirflowSkipException(
                        f"Skipping because never_fail is set: {error}"
                    ) from error
                raise
            if first.is_done:
                return first.xcom_value
            from airflow_provider_coinstats.common.gate import budget_kwargs
            from airflow_provider_coinstats.triggers.coinstats import CreditBudgetTrigger

            claim = self._claim(context)
            self.defer(
                trigger=CreditBudgetTrigger(
                    coinstats_conn_id=self.coinstats_conn_id,
                    poke_interval=self.poke_interval,
                    reservation=None if claim is None else claim.to_kwargs(),
                    **budget_kwargs(self._budget()),
                ),
                method_name="execute_complete",
                # A deferral timeout comes back as a sensor timeout, so soft_fail applies.
                timeout=timedelta(seconds=self.timeout),
            )

    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context
    ) -> Any:
        with self._failures_stay_failures():
            return super().resume_execution(next_method, next_kwargs, context)

    def execute_complete(self, context: Context, event: Mapping[str, Any] | None = None) -> Any:
        """Resume after the trigger: return the same XCom dict as the poke path, or raise the
        same kind of error it would have raised."""
        from airflow_provider_coinstats.common.events import GateEvent, MalformedGateEventError

        try:
            gate = GateEvent.from_event(event)
        except MalformedGateEventError as problem:
            raise self._cannot_pass(
                f"CoinStats credit gate got a malformed trigger event ({problem}): "
                f"{str(event)[:200]}"
            ) from None
        if gate.error is None:
            result = dict(gate.result or {})
            self.log.info("%s", result.get("reason"))
            return result
        if gate.fail_fast:
            raise self._cannot_pass(str(gate.error)) from gate.error
        self.log.error("%s", gate.error)
        raise gate.error
