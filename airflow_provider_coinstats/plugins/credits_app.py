"""The CoinStats credits page: a FastAPI app the api-server mounts at :data:`URL_PREFIX`.

Routes (HTML for the UI's plugin iframe, JSON with the same figures for scripts and tests):

- ``/``, ``/api``: every connection: plan, remaining of total, readings over the billing period
  with the forecast, spend per DAG and task, the gates waiting now;
- ``/dag/{dag_id}``, ``/dag/{dag_id}/api``: one DAG's spend in the period.

``?billing_cycle_day=&billing_timezone=`` choose the billing period (default: the 1st, UTC, as
the gate's own default). Only users the api-server lets in see anything: every route depends on
Airflow's own ``get_user`` (the UI's session cookie or a bearer token), and the figures cover
only the DAGs the user may read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import FastAPI, HTTPException, Query, status
from fastapi.responses import HTMLResponse

from airflow_provider_coinstats.api.exceptions import CoinStatsConfigError
from airflow_provider_coinstats.credits.budget import CreditBudget
from airflow_provider_coinstats.plugins import credits_queries as queries
from airflow_provider_coinstats.plugins.credits_html import render_dag, render_overview
from airflow_provider_coinstats.plugins.credits_report import connection_report, dag_report
from airflow_provider_coinstats.plugins.forecast_view import forecast_view

URL_PREFIX = "/coinstats/credits"
#: Where the UI shows the per-DAG view (a tab of the DAG page); the page links there.
DAG_VIEW_ROUTE = "coinstats-credits-dag"

CycleDay = Annotated[int, Query(ge=1, le=31, description="day of month the period starts")]
TimeZone = Annotated[str, Query(max_length=64, description="IANA zone of the billing period")]

app = FastAPI(title="CoinStats credits", docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/", response_class=HTMLResponse)
def overview_page(
    user: GetUserDep,
    session: SessionDep,
    billing_cycle_day: CycleDay = 1,
    billing_timezone: TimeZone = "UTC",
) -> HTMLResponse:
    report = overview(user, session, _budget(billing_cycle_day, billing_timezone))
    return HTMLResponse(render_overview(report))


@app.get("/api")
def overview_api(
    user: GetUserDep,
    session: SessionDep,
    billing_cycle_day: CycleDay = 1,
    billing_timezone: TimeZone = "UTC",
) -> dict[str, Any]:
    return overview(user, session, _budget(billing_cycle_day, billing_timezone))


@app.get("/dag/{dag_id}", response_class=HTMLResponse)
def dag_page(
    dag_id: str,
    user: GetUserDep,
    session: SessionDep,
    billing_cycle_day: CycleDay = 1,
    billing_timezone: TimeZone = "UTC",
) -> HTMLResponse:
    report = dag_spend(dag_id, user, session, _budget(billing_cycle_day, billing_timezone))
    return HTMLResponse(render_dag(report))


@app.get("/dag/{dag_id}/api")
def dag_api(
    dag_id: str,
    user: GetUserDep,
    session: SessionDep,
    billing_cycle_day: CycleDay = 1,
    billing_timezone: TimeZone = "UTC",
) -> dict[str, Any]:
    return dag_spend(dag_id, user, session, _budget(billing_cycle_day, billing_timezone))


def overview(user: Any, session: Any, budget: CreditBudget) -> dict[str, Any]:
    now = datetime.now(UTC)
    start, end = budget.billing_period(now)
    readable = get_auth_manager().get_authorized_dag_ids(user=user, method="GET")
    records = queries.spend_records(session, since=start, until=end, dag_ids=readable)
    gates = queries.waiting_gates(session, dag_ids=readable)
    conn_ids = sorted(
        {*queries.known_connections(session), *(g.conn_id for g in gates)}
        | {c for r in records for c in r.connections}
    )
    connections = []
    for conn_id in conn_ids:
        history = queries.load_history(session, conn_id, since=start)
        connections.append(
            connection_report(
                conn_id,
                period=(start, end),
                records=records,
                history=history,
                gates=gates,
                forecast=forecast_view(history, budget, now),
            )
        )
    return {
        "generated_at": now.isoformat(),
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "connections": connections,
        # "dag": the DAG's tab in the Airflow UI; "dag_page": this app's own per-DAG page, which
        # the overview links to: the UI shows plugin views in a sandboxed iframe, out of which a
        # link cannot navigate the UI around it.
        "links": {
            "dag": "/dags/{dag_id}/plugin/" + DAG_VIEW_ROUTE,
            "dag_page": URL_PREFIX + "/dag/{dag_id}",
        },
    }


def dag_spend(dag_id: str, user: Any, session: Any, budget: CreditBudget) -> dict[str, Any]:
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    if not get_auth_manager().is_authorized_dag(
        method="GET", user=user, details=DagDetails(id=dag_id)
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"you may not read DAG {dag_id!r}")
    start, end = budget.billing_period(datetime.now(UTC))
    records = queries.spend_records(session, since=start, until=end, dag_ids=[dag_id])
    return dag_report(dag_id, period=(start, end), records=records)


def _budget(billing_cycle_day: int, billing_timezone: str) -> CreditBudget:
    try:
        return CreditBudget(billing_cycle_day=billing_cycle_day, billing_timezone=billing_timezone)
    except (CoinStatsConfigError, ValueError) as error:
        raise HTTPException(422, str(error)) from None
