"""Operators for the CoinStats Public API."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import BaseOperator

from airflow_provider_coinstats.exceptions import CoinStatsInsufficientCreditsError
from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook
from airflow_provider_coinstats.metrics import emit_credit_gauges
from airflow_provider_coinstats.params import credits_param

if TYPE_CHECKING:
    from airflow.sdk import Context


class CreditUsageOperator(BaseOperator):
    """Read the account's credit usage and return it to XCom.

    Returns ``{total_credits, used_credits, remaining_credits, subscription, used_ratio,
    checked_at}`` (``checked_at`` in ISO-8601 UTC) and logs one line such as
    ``CoinStats PRO: 55,000 of 100,000 credits left (45.0% used)``. The call itself is free.

    :param coinstats_conn_id: the CoinStats connection (templated).
    :param min_remaining_credits: if set, the task fails when fewer credits remain (templated).
    """

    template_fields: Sequence[str] = ("coinstats_conn_id", "min_remaining_credits")
    ui_color = "#e8f4ff"

    def __init__(
        self,
        *,
        coinstats_conn_id: str = CoinStatsHook.default_conn_name,
        min_remaining_credits: float | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.coinstats_conn_id = coinstats_conn_id
        # Check literal values while the DAG is parsed; templates are checked once rendered.
        credits_param("min_remaining_credits", min_remaining_credits, allow_template=True)
        self.min_remaining_credits = min_remaining_credits

    @cached_property
    def hook(self) -> CoinStatsHook:
        return CoinStatsHook(coinstats_conn_id=self.coinstats_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        usage = self.hook.get_credit_usage()
        self.log.info("%s", usage.summary())
        emit_credit_gauges(self.coinstats_conn_id, usage)
        minimum = credits_param("min_remaining_credits", self.min_remaining_credits)
        if minimum is not None and usage.remaining_credits < minimum:
            raise CoinStatsInsufficientCreditsError(
                f"Only {usage.remaining_credits:,} CoinStats credits remain on connection "
                f"{self.coinstats_conn_id!r}, below min_remaining_credits={minimum:,}. Wait for "
                "the next billing period, top up, or lower min_remaining_credits."
            )
        return usage.to_dict(pendulum.now("UTC"))
