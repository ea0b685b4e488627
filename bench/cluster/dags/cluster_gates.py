"""The cluster benchmark's DAGs: N lanes of "gate, then spend what the gate required".

The lanes are generated (not mapped) so that each spend task depends on its own gate only. The
driver (``bench/cluster/run.py``) sets these variables for every Airflow process:

- ``COINSTATS_BENCH_GATES``: N, the number of lanes per DAG;
- ``COINSTATS_BENCH_INTERVAL``: every gate's ``poke_interval`` in seconds;
- ``COINSTATS_BENCH_REQUIRED``: the credits each gate requires and each spend task spends.

``cluster_deferred`` holds deferred ``CreditBudgetSensor`` gates, ``cluster_routed`` the same
with ``queue="coinstats_routed"`` (so their triggers run on one triggerer only),
``cluster_reschedule`` the same in ``reschedule`` mode, ``cluster_reschedule_pool`` up to 20 such
lanes with gate and spend task in a one-slot pool (the README's recipe), ``cluster_http``
``HttpSensor(deferrable=True)`` with a ``response_check`` on ``/usage/credits`` (the
comparison; it has no spend tasks).
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor

GATES = int(os.environ.get("COINSTATS_BENCH_GATES", "10"))
INTERVAL = float(os.environ.get("COINSTATS_BENCH_INTERVAL", "30"))
REQUIRED = int(os.environ.get("COINSTATS_BENCH_REQUIRED", "5000"))
CONN_ID = "coinstats_bench"
#: GET /portfolio/snapshot/items costs 500 credits (credits/prices.py): REQUIRED / 500 calls.
SPEND_PATH = "/portfolio/snapshot/items"
SPEND_PRICE = 500
ROUTED_QUEUE = os.environ.get("COINSTATS_BENCH_ROUTED_QUEUE", "coinstats_routed")
#: Absolute weights: a spend task (10) goes before any gate's next poke (1). With Airflow's
#: default "downstream" rule a gate outweighs its own spend task, and 100 rescheduling gates on
#: 4 slots would keep a passed gate's spend task queued behind them.
DEFAULTS: dict[str, Any] = {"retries": 0, "weight_rule": "absolute"}
START = pendulum.datetime(2026, 1, 1, tz="UTC")


@task(task_id="spend")
def spend() -> int:
    """Spend what the gate required, through the hook, so the sandbox's log shows it."""
    from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook

    hook = CoinStatsHook(coinstats_conn_id=CONN_ID)
    for _ in range(REQUIRED // SPEND_PRICE):
        hook.request("GET", SPEND_PATH)
    return REQUIRED


#: The one-slot pool of ``cluster_reschedule_pool`` (the driver creates it).
POOL = "coinstats_budget"
#: Lanes of ``cluster_reschedule_pool``: one slot pokes them one at a time, so fewer.
POOL_GATES = min(GATES, 20)

for mode in ("deferred", "routed", "reschedule", "reschedule_pool"):
    with DAG(
        dag_id=f"cluster_{mode}",
        schedule=None,
        start_date=START,
        catchup=False,
        default_args=DEFAULTS,
        max_active_tasks=10_000,
        is_paused_upon_creation=False,
    ):
        pooled = {"pool": POOL} if mode == "reschedule_pool" else {}
        for lane in range(POOL_GATES if mode == "reschedule_pool" else GATES):
            gate = CreditBudgetSensor(
                task_id=f"gate_{lane:03d}",
                coinstats_conn_id=CONN_ID,
                required_credits=REQUIRED,
                poke_interval=INTERVAL,
                timeout=4 * 60 * 60,
                deferrable=mode in ("deferred", "routed"),
                mode="poke" if mode in ("deferred", "routed") else "reschedule",
                # The trigger's queue is the task's (with [triggerer] queues_enabled): only the
                # triggerer started with --queues ...,coinstats_routed runs these gates.
                **({"queue": ROUTED_QUEUE} if mode == "routed" else {}),
                **pooled,
            )
            gate >> spend.override(task_id=f"spend_{lane:03d}", priority_weight=10, **pooled)()


def _enough_credits(response: Any) -> bool:
    return bool(response.json()["remainingCredits"] >= REQUIRED)


with DAG(
    dag_id="cluster_http",
    schedule=None,
    start_date=START,
    catchup=False,
    default_args=DEFAULTS,
    max_active_tasks=10_000,
    is_paused_upon_creation=False,
):
    from airflow.providers.http.sensors.http import HttpSensor

    for lane in range(GATES):
        HttpSensor(
            task_id=f"gate_{lane:03d}",
            http_conn_id="http_bench",
            endpoint="/usage/credits",
            response_check=_enough_credits,
            poke_interval=INTERVAL,
            timeout=4 * 60 * 60,
            deferrable=True,
        )
