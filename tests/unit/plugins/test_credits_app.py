"""The page's routes and queries on a real SQLite metadata schema (Airflow's own ORM models).

Authentication is Airflow's ``get_user``: without a token the routes answer 401; with a user
(overridden here; the integration test logs in for real) the figures cover the readable DAGs.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.api_fastapi.common.db.common import _get_session
from airflow.api_fastapi.core_api.security import get_user
from airflow.models import import_all_models
from airflow.models.base import Base
from airflow.models.connection import Connection
from airflow.models.renderedtifields import RenderedTaskInstanceFields
from airflow.models.taskinstance import TaskInstance
from airflow.models.variable import Variable
from airflow.models.xcom import XComModel
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, insert
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from airflow_provider_coinstats.common import readings, spend
from airflow_provider_coinstats.plugins import credits_app, credits_queries
from tests.postgres_server import postgres_bindir, running_postgres

NOW = datetime.now(UTC)
RUN_IDS = itertools.count(1)  # each spend row its own dag run (the XCom primary key)


class FakeAuthManager:
    def __init__(self, readable: set[str]) -> None:
        self.readable = readable

    def get_authorized_dag_ids(self, *, user: Any, method: str = "GET") -> set[str]:
        return self.readable

    def is_authorized_dag(self, *, method: str, user: Any, details: Any = None) -> bool:
        return details.id in self.readable


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Airflow's own schema, on SQLite (the demo's) and on Postgres (a deployment's): JSON
    columns and types differ, and SQLite lets through what Postgres refuses."""
    import_all_models()
    if request.param == "sqlite":
        engine = create_engine(
            "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
        )
        Base.metadata.create_all(engine)
        yield engine
        return
    if postgres_bindir() is None:
        pytest.skip("Debian's postgresql is not installed (scripts/setup.sh installs it as root)")
    with running_postgres() as url:
        engine = create_engine(url)

        # The fixtures below insert only the rows the page reads (an XCom without its DAG, run
        # and task instance), as SQLite, which enforces no foreign keys, lets them. On Postgres
        # the test user is the superuser, who can switch the foreign-key triggers off.
        @event.listens_for(engine, "connect")
        def no_foreign_keys(connection: Any, _record: Any) -> None:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = replica")

        Base.metadata.create_all(engine)

        yield engine
        engine.dispose()


@pytest.fixture
def session(engine: Any) -> Iterator[Session]:
    with sessionmaker(bind=engine)() as session:
        yield session
        session.rollback()
        for table in (XComModel, TaskInstance, RenderedTaskInstanceFields, Connection, Variable):
            session.query(table).delete()
        session.commit()


def add_spend(
    session: Session,
    dag_id: str,
    task_id: str,
    credits: float,
    *,
    run_id: str = "r1",
    at: datetime = NOW,
    conn_id: str = "coinstats_default",
) -> None:
    value = {
        "version": 1,
        "dag_id": dag_id,
        "task_id": task_id,
        "run_id": run_id,
        "map_index": -1,
        "try_number": 1,
        "state": "success",
        "ended_at": at.isoformat(),
        "credits": credits,
        "calls": 1,
        "connections": {
            conn_id: {
                "credits": credits,
                "calls": 1,
                "endpoints": {"GET /coins": {"calls": 1, "credits": credits}},
            }
        },
    }
    session.execute(
        insert(XComModel).values(
            dag_run_id=next(RUN_IDS),
            task_id=task_id,
            map_index=-1,
            key="coinstats_spend",
            dag_id=dag_id,
            run_id=run_id,
            value=json.dumps(value),
            timestamp=at,
        )
    )
    session.commit()


def add_gate(session: Session, dag_id: str, state: str, fields: dict[str, Any] | None) -> None:
    session.execute(
        insert(TaskInstance).values(
            id=uuid.uuid4(),
            task_id="wait",
            dag_id=dag_id,
            run_id="r",
            map_index=-1,
            pool="default_pool",
            state=state,
            operator="CreditBudgetSensor",
            start_date=NOW,
            try_number=1,
        )
    )
    if fields is not None:
        session.execute(
            insert(RenderedTaskInstanceFields).values(
                dag_id=dag_id, task_id="wait", run_id="r", map_index=-1, rendered_fields=fields
            )
        )
    session.commit()


@pytest.fixture
def client(session: Session, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setattr(
        credits_app, "get_auth_manager", lambda: FakeAuthManager({"market", "gated"})
    )
    credits_app.app.dependency_overrides[_get_session] = lambda: session
    credits_app.app.dependency_overrides[get_user] = lambda: object()
    try:
        yield TestClient(credits_app.app)
    finally:
        credits_app.app.dependency_overrides.clear()


def test_without_a_token_every_route_is_refused(session: Session) -> None:
    credits_app.app.dependency_overrides[_get_session] = lambda: session
    try:
        anonymous = TestClient(credits_app.app)
        for path in ("/", "/api", "/dag/market", "/dag/market/api"):
            answer = anonymous.get(path)
            assert answer.status_code == 401, path
    finally:
        credits_app.app.dependency_overrides.clear()


def test_overview_adds_up_the_periods_spend_of_readable_dags_only(
    client: TestClient, session: Session
) -> None:
    add_spend(session, "market", "pull", 10, run_id="a")
    add_spend(session, "market", "pull", 10, run_id="b")
    add_spend(session, "secret", "pull", 1000)  # a DAG this user may not read
    add_spend(session, "market", "pull", 500, at=NOW - timedelta(days=40))  # an older period
    report = client.get("/api").json()
    [conn] = report["connections"]
    assert conn["conn_id"] == "coinstats_default"
    assert conn["spend"]["credits"] == 20
    assert [d["dag_id"] for d in conn["spend"]["by_dag"]] == ["market"]
    html = client.get("/").text
    assert "coinstats_default" in html
    assert "secret" not in html
    assert "<svg" in html


def test_waiting_gates_show_their_rendered_needs(client: TestClient, session: Session) -> None:
    plan = [{"method": "GET", "path": "/coins", "params": {"limit": 100}, "times": 3}]
    add_gate(
        session,
        "gated",
        "up_for_reschedule",
        {
            "coinstats_conn_id": "coinstats_gated",
            "required_credits": plan,
            "min_remaining_credits": "500",
        },
    )
    add_gate(session, "market", "success", {"coinstats_conn_id": "coinstats_gated"})  # done
    [conn] = client.get("/api").json()["connections"]
    assert conn["conn_id"] == "coinstats_gated"
    [gate] = conn["gates"]
    assert (gate["dag_id"], gate["required_credits"], gate["min_remaining_credits"]) == (
        "gated",
        6,
        500,
    )


def test_stored_coinstats_connections_are_listed_even_before_any_spend(
    client: TestClient, session: Session
) -> None:
    session.add(Connection(conn_id="coinstats_prod", conn_type="coinstats"))
    session.add(Connection(conn_id="http_other", conn_type="http"))
    session.commit()
    assert [c["conn_id"] for c in client.get("/api").json()["connections"]] == ["coinstats_prod"]


def test_dag_view_needs_read_access_to_that_dag(client: TestClient, session: Session) -> None:
    add_spend(session, "market", "pull", 12)
    assert client.get("/dag/market/api").json()["connections"]["coinstats_default"]["credits"] == 12
    assert "12" in client.get("/dag/market").text
    assert client.get("/dag/secret/api").status_code == 403


def test_a_bad_billing_period_is_a_clear_422(client: TestClient) -> None:
    answer = client.get("/api", params={"billing_timezone": "Mars/Olympus"})
    assert answer.status_code == 422
    assert "billing_timezone" in answer.text
    assert client.get("/api", params={"billing_cycle_day": 32}).status_code == 422


def test_spend_records_reads_a_period_on_the_orm(session: Session) -> None:
    add_spend(session, "market", "pull", 3)
    records = credits_queries.spend_records(
        session, since=NOW - timedelta(hours=1), until=NOW + timedelta(hours=1)
    )
    assert [(r.dag_id, r.connections["coinstats_default"][0]) for r in records] == [("market", 3)]
    assert (
        credits_queries.spend_records(
            session, since=NOW + timedelta(hours=1), until=NOW + timedelta(hours=2)
        )
        == []
    )


def test_plan_and_remaining_come_from_the_readings_history_variable(
    client: TestClient, session: Session
) -> None:
    points = [
        readings.HistoryPoint(
            NOW - timedelta(minutes=m), 1000 - 10 * (5 - m), 10 * (5 - m), 1000, "PRO"
        )
        for m in (5, 3, 1)
    ]
    key = readings.variable_key("coinstats_read")
    session.add(Variable(key=key, val=readings.encode_history("coinstats_read", points)))
    session.add(Variable(key=readings.variable_key("coinstats_broken"), val="not a history"))
    session.commit()
    by_id = {c["conn_id"]: c for c in client.get("/api").json()["connections"]}
    assert set(by_id) == {"coinstats_read", "coinstats_broken"}
    read = by_id["coinstats_read"]
    assert (read["plan"], read["remaining"], read["total"]) == ("PRO", 960, 1000)
    assert [v for _, v in read["history"]] == [1000, 980, 960]
    assert by_id["coinstats_broken"]["history"] == []


def test_failed_tries_ledger_counts_once_beside_xcom(client: TestClient, session: Session) -> None:
    def record(try_number: int, credits: float) -> dict[str, Any]:
        return {
            "version": 1,
            "dag_id": "market",
            "task_id": "pull",
            "run_id": "r1",
            "map_index": -1,
            "try_number": try_number,
            "state": "failed",
            "ended_at": NOW.isoformat(),
            "credits": credits,
            "calls": 1,
            "connections": {"coinstats_default": {"credits": credits, "calls": 1}},
        }

    # Try 1 failed and was retried (its XCom is gone); try 2 failed too and is still in XCom.
    ledger = {"version": 1, "records": [record(1, 5), record(2, 7), {"broken": True}]}
    session.add(Variable(key=spend.FAILED_TRIES_VARIABLE, val=json.dumps(ledger)))
    session.execute(
        insert(XComModel).values(
            dag_run_id=next(RUN_IDS),
            task_id="pull",
            map_index=-1,
            key="coinstats_spend",
            dag_id="market",
            run_id="r1",
            value=json.dumps(record(2, 7)),
            timestamp=NOW,
        )
    )
    session.commit()
    [conn] = client.get("/api").json()["connections"]
    assert (conn["spend"]["credits"], conn["spend"]["failed_credits"]) == (12, 12)
