"""Read one wallet's balances on three networks, gated on the cost the networks multiply.

``GET /wallet/balances`` costs 40 credits per network asked for (an ``all`` network counts 10),
so ``networks=ethereum,polygon,binancesmartchain`` costs 3 x 40 = 120 credits. ``get_balances``
states that call once; ``wait_for_credits`` prices it from the CoinStats price list and waits
until the account has 120 credits plus a reserve; the balances then come back through XCom with
the call's credit estimate. ``read_credits_after`` reads the free usage figures again, so
``report`` can set the estimate against what the account was actually charged.

The address is a DAG param (templated into ``query``): trigger with
``{"address": "0x..."}`` to read another wallet.
"""

# From a checkout, run it against the offline sandbox:
#   bash scripts/demo.sh example_coinstats_wallet_balances

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_coinstats.operators.coinstats import CoinStatsOperator, CreditUsageOperator
from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor

# Each network multiplies the call's 40 credits; "all" would count 10 (400 credits).
NETWORKS = ["ethereum", "polygon", "binancesmartchain"]

with DAG(
    dag_id="example_coinstats_wallet_balances",
    description="One wallet's CoinStats balances on three networks (3 x 40 credits), gated",
    doc_md=__doc__,
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "address": Param(
            "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045",
            type="string",
            description="The wallet address to read",
        )
    },
    tags=["example", "coinstats"],
):
    # [START howto_operator_coinstats_multiplier]
    get_balances = CoinStatsOperator(
        task_id="get_balances",
        endpoint="/wallet/balances",
        query={"address": "{{ params.address }}", "networks": NETWORKS},
    )
    wait_for_credits = CreditBudgetSensor(
        task_id="wait_for_credits",
        required_credits=get_balances.planned_calls(),  # 3 networks x 40 = 120 credits
        min_remaining_credits=1_000,
        mode="reschedule",
        poke_interval=60,
        timeout=6 * 60 * 60,
    )
    wait_for_credits >> get_balances
    # [END howto_operator_coinstats_multiplier]

    read_credits_after = CreditUsageOperator(task_id="read_credits_after")

    @task
    def report(
        gate: dict[str, Any], pulled: dict[str, Any], after: dict[str, Any]
    ) -> dict[str, Any]:
        """Value each network's holdings and compare the estimate with the account's charge."""
        usd_by_network = {
            entry["connectionId"]: round(
                sum(coin["amount"] * coin["price"] for coin in entry["balances"]), 2
            )
            for entry in pulled["data"]
        }
        # The gate read the usage just before the call; nothing else spends in between here.
        charged = after["used_credits"] - gate["used_credits"]
        print(
            f"CoinStats wallet: {usd_by_network} USD; credits required "
            f"{gate['required_credits']}, estimated {pulled['estimated_credits']}, "
            f"charged {charged}"
        )
        return {
            "usd_by_network": usd_by_network,
            "required_credits": gate["required_credits"],
            "estimated_credits": pulled["estimated_credits"],
            "charged_credits": charged,
        }

    get_balances >> read_credits_after
    report(wait_for_credits.output, get_balances.output, read_credits_after.output)  # type: ignore[arg-type]
