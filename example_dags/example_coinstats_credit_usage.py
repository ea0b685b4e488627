"""Read the CoinStats credit usage of the current billing period and report it.

``CreditUsageOperator`` calls the free ``GET /usage/credits`` endpoint through the
``coinstats_default`` connection, logs one line such as
``CoinStats PRO: 55,000 of 100,000 credits left (45.0% used)`` and returns the figures to XCom.
The ``report`` task reads that XCom, as any downstream task would. The read costs no credits.

It fails, instead of letting the day's pulls start, when fewer than 100 credits are left. It
also sends the gauges ``coinstats.credits.remaining|used|total`` to Airflow's metrics.
"""

# From a checkout, run it against the offline sandbox (or the real API with COINSTATS_API_KEY):
#   bash scripts/demo.sh

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_coinstats.operators.coinstats import CreditUsageOperator

with DAG(
    dag_id="example_coinstats_credit_usage",
    description="Read CoinStats credit usage and report it",
    doc_md=__doc__,
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"coinstats_conn_id": "coinstats_default"},
    tags=["example", "coinstats"],
):
    # [START howto_operator_credit_usage]
    usage = CreditUsageOperator(
        task_id="read_credit_usage",
        # Fail loudly (instead of starting a day's pulls) when the month's budget is nearly gone.
        min_remaining_credits=100,
    )
    # [END howto_operator_credit_usage]

    @task
    def report(usage: dict[str, Any]) -> str:
        """Turn the XCom figures into the line a daily report or chat message would carry."""
        line = (
            f"{usage['subscription']} plan: {usage['remaining_credits']:,} of "
            f"{usage['total_credits']:,} credits left, {usage['used_ratio']:.1%} used "
            f"(checked {usage['checked_at']})"
        )
        print(line)
        return line

    report(usage.output)  # type: ignore[arg-type]
