"""Gate a credit-hungry pull on the CoinStats budget.

``wait_for_credits`` prices the planned calls (three pages of ``/coins``, 2 credits each) and
waits, in reschedule mode so no worker slot is held, until the account has them plus a reserve
of 500. ``pull_top_coins`` then spends them through the hook, and ``report`` reads the gate's
XCom to say what the decision was based on.

The gate checks once a minute. Reschedule mode frees the worker between checks, and a minute
is also the safe side of an Airflow scheduler race: with intervals of a few seconds on a busy
scheduler, a rescheduled sensor can fail with "finished with state success, but the task
instance's state attribute is queued" (apache/airflow#71172).

Each check's decision is in the gate's log and in its XCom (``reason``), e.g.
``waiting: 100 credits left, need 6 + reserve 500``.
"""

# From a checkout, watch it wait and pass against the offline sandbox:
#   bash scripts/demo.sh example_coinstats_credit_gate --free-credits-after 10

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook
from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor

PAGES = 3
PAGE_SIZE = 100

with DAG(
    dag_id="example_coinstats_credit_gate",
    description="Wait for CoinStats credits, then pull market data",
    doc_md=__doc__,
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "coinstats"],
):
    # [START howto_sensor_credit_budget]
    wait_for_credits = CreditBudgetSensor(
        task_id="wait_for_credits",
        # What the pull below will spend, priced from the CoinStats price list.
        required_credits=[
            {"method": "GET", "path": "/coins", "params": {"limit": PAGE_SIZE}, "times": PAGES}
        ],
        min_remaining_credits=500,  # never let a routine pull take the last credits
        mode="reschedule",
        poke_interval=60,  # a minute or more in reschedule mode (see the DAG docs)
        timeout=15 * 60,
    )
    # [END howto_sensor_credit_budget]

    @task
    def pull_top_coins() -> dict[str, Any]:
        """Spend the credits the gate reserved: three pages of the coin list."""
        hook = CoinStatsHook()
        coins: list[dict[str, Any]] = []
        for page in range(1, PAGES + 1):
            answer = hook.request("GET", "/coins", params={"page": page, "limit": PAGE_SIZE})
            coins.extend(answer["result"])
        return {"coins": len(coins), "top": [coin["symbol"] for coin in coins[:5]]}

    @task
    def report(gate: dict[str, Any], pulled: dict[str, Any]) -> str:
        """Say what the gate decided, on which figures, and what the pull brought."""
        line = (
            f"gate {gate['reason']!r} at {gate['checked_at']}; pulled {pulled['coins']} coins "
            f"(top: {', '.join(pulled['top'])})"
        )
        print(line)
        return line

    pulled = pull_top_coins()
    wait_for_credits >> pulled
    report(wait_for_credits.output, pulled)  # type: ignore[arg-type]
