"""Pull the coin list page by page, gated on what the pull will cost, into a JSON file.

``pull_coins`` states the calls once: ``GET /coins`` with ``limit=100``, at most ``MAX_PAGES``
pages. ``wait_for_credits`` prices that plan from the CoinStats price list (5 pages x 2 credits =
10 credits, the worst case) and holds the pull back until the account has it plus a reserve.
The pull then walks the pages until the last one (``meta.hasNextPage`` false), logs what each
call cost, writes the coins to ``<coinstats_output_root>/market/<ds>/coins.json`` through
Airflow's ObjectStoragePath (a ``file://`` URL by default; set the Airflow Variable
``coinstats_output_root`` to e.g. ``s3://aws_default@my-bucket/coinstats``), and returns the
path with its credit estimate. ``read_credits_after`` reads the free usage figures again, so
``report`` can set the estimate against what the account was actually charged.
"""

# From a checkout, run it against the offline sandbox:
#   bash scripts/demo.sh example_coinstats_market_pull

from __future__ import annotations

import json
from typing import Any

import pendulum
from airflow.sdk import DAG, ObjectStoragePath, task

from airflow_provider_coinstats.operators.coinstats import CoinStatsOperator, CreditUsageOperator
from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor

PAGE_SIZE = 100
MAX_PAGES = 5

with DAG(
    dag_id="example_coinstats_market_pull",
    description="Paginated CoinStats coin list, gated on its estimated credit cost, to a file",
    doc_md=__doc__,
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "coinstats"],
):
    # [START howto_operator_coinstats_paginated]
    pull_coins = CoinStatsOperator(
        task_id="pull_coins",
        endpoint="/coins",
        query={"limit": PAGE_SIZE, "currency": "USD"},
        paginate=True,
        max_pages=MAX_PAGES,  # a bound on the walk, and on what the gate reserves
        output_path=(
            "{{ var.value.get('coinstats_output_root', 'file:///tmp/coinstats') }}"
            "/market/{{ ds }}/coins.json"
        ),
    )
    wait_for_credits = CreditBudgetSensor(
        task_id="wait_for_credits",
        required_credits=pull_coins.planned_calls(),  # the same calls, priced: 10 credits
        min_remaining_credits=500,
        mode="reschedule",
        poke_interval=60,
        timeout=6 * 60 * 60,
    )
    wait_for_credits >> pull_coins
    # [END howto_operator_coinstats_paginated]

    read_credits_after = CreditUsageOperator(task_id="read_credits_after")

    @task
    def report(
        gate: dict[str, Any], pulled: dict[str, Any], after: dict[str, Any]
    ) -> dict[str, Any]:
        """Read the file back and compare the price-list estimate with the account's charge."""
        coins = json.loads(ObjectStoragePath(pulled["output_path"]).read_text())
        # The gate read the usage just before the pull; nothing else spends in between here.
        charged = after["used_credits"] - gate["used_credits"]
        summary = {
            "coins": len(coins),
            "top": [coin["symbol"] for coin in coins[:5]],
            "calls": pulled["calls"],
            "truncated": pulled["truncated"],
            "planned_credits": pulled["planned_credits"],
            "estimated_credits": pulled["estimated_credits"],
            "charged_credits": charged,
            "output_path": pulled["output_path"],
        }
        print(
            f"CoinStats pull: {summary['coins']} coins in {summary['calls']} calls; credits "
            f"planned {summary['planned_credits']}, estimated {summary['estimated_credits']}, "
            f"charged {charged} (top: {', '.join(summary['top'])})"
        )
        return summary

    pull_coins >> read_credits_after
    report(wait_for_credits.output, pull_coins.output, read_credits_after.output)  # type: ignore[arg-type]
