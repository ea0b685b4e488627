"""Wait for CoinStats credits in the triggerer, then pull a week of prices for a watch list.

``wait_for_credits`` is deferrable: it checks the budget once on a worker, and when the account
cannot afford the pull yet it hands the wait to the triggerer and gives the worker slot back. In
the triggerer every waiting gate of one connection shares one ``/usage/credits`` reading per
``poke_interval``, so a thousand such DAG runs waiting at once cost one free request per
interval, not a thousand. A timeout while deferred is a sensor timeout, so ``soft_fail`` skips
the run instead of failing it. ``pull_price_history`` spends the credits through the hook (one
chart per coin, 3 credits each) and ``report`` says what the gate decided and what was pulled.

It needs a running ``airflow triggerer`` with this provider installed and the CoinStats
connection readable there. While the gate is deferred, its log is the triggerer's.
"""

# From a checkout, watch it defer and pass against the offline sandbox:
#   bash scripts/demo.sh example_coinstats_deferrable_gate --free-credits-after 10

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook
from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor

WATCH_LIST = ["bitcoin", "ethereum", "solana"]
PERIOD = "1w"

with DAG(
    dag_id="example_coinstats_deferrable_gate",
    description="Wait for CoinStats credits in the triggerer, then pull a week of prices",
    doc_md=__doc__,
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "coinstats"],
):
    # [START howto_sensor_credit_budget_deferrable]
    wait_for_credits = CreditBudgetSensor(
        task_id="wait_for_credits",
        # What the pull below will spend, priced from the CoinStats price list: 3 x 3 credits.
        required_credits=[
            {"path": f"/coins/{coin}/charts", "params": {"period": PERIOD}} for coin in WATCH_LIST
        ],
        min_remaining_ratio=0.05,  # keep 5% of the period's credits for everything else
        deferrable=True,  # wait in the triggerer, not on a worker
        # Cheap when deferred: all waiting gates of the connection share one free reading. Not
        # under 30 s: a trigger firing within seconds of deferring hits an Airflow scheduler
        # race that fails the task (apache/airflow#66374).
        poke_interval=30,
        timeout=6 * 60 * 60,
        soft_fail=True,  # no credits all day: skip this run rather than fail it
    )
    # [END howto_sensor_credit_budget_deferrable]

    @task
    def pull_price_history() -> dict[str, Any]:
        """Spend the credits the gate waited for: one price chart per coin."""
        hook = CoinStatsHook()
        latest: dict[str, float] = {}
        for coin in WATCH_LIST:
            points = hook.request("GET", f"/coins/{coin}/charts", params={"period": PERIOD})
            latest[coin] = points[-1][1]  # [timestamp, USD, BTC, ETH]
        return {"coins": len(latest), "latest_usd": latest}

    @task
    def report(gate: dict[str, Any], pulled: dict[str, Any]) -> str:
        """Say what the gate decided, on which figures, and what the pull brought."""
        prices = ", ".join(f"{coin} {usd:,.2f}" for coin, usd in pulled["latest_usd"].items())
        line = f"gate {gate['reason']!r} at {gate['checked_at']}; latest USD: {prices}"
        print(line)
        return line

    pulled = pull_price_history()
    wait_for_credits >> pulled
    report(wait_for_credits.output, pulled)  # type: ignore[arg-type]
