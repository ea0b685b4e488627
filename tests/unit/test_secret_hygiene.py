"""The API key never leaves the connection.

Checked with a recognisable key (``TEST_KEY``), looking for the whole key or any 12-character
piece of it, in: stdlib log records (caplog, at DEBUG, so urllib3's request lines are in), Airflow's
structlog console output (capsys: task loggers write there, not to stdlib logging), exception
texts (str, repr and args, chained causes and contexts included), XCom values (what the operator
and the sensor return), rendered template fields, trigger kwargs, reprs, and the tracebacks
Airflow prints in DEV mode with every frame's locals.

In-process output is not redacted (Airflow masks secrets in the supervisor, and ``dag.test()``
console output not at all), so a leak anywhere below shows up in what the tests capture.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import structlog
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from airflow.sdk.log import redact

from airflow_provider_coinstats.exceptions import (
    CoinStatsAuthError,
    CoinStatsError,
    CoinStatsRequestError,
    CoinStatsResponseError,
)
from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook
from airflow_provider_coinstats.operators.coinstats import CreditUsageOperator
from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor
from airflow_provider_coinstats.testing.retries import record_retry_waits
from airflow_provider_coinstats.testing.sandbox import Fault, Sandbox
from airflow_provider_coinstats.triggers.coinstats import CreditBudgetTrigger
from tests.conftest import TEST_KEY, connection_json
from tests.unit.hooks.test_fault_matrix import CASES, CONN_ID, Case, error_texts, run_case

FRAGMENT = 12


def leaked(text: str, key: str = TEST_KEY) -> list[str]:
    """The FRAGMENT-character pieces of ``key`` found in ``text``: a key cut short still counts."""
    pieces = {key[i : i + FRAGMENT] for i in range(len(key) - FRAGMENT + 1)}
    return sorted(piece for piece in pieces if piece in text)


def operator_call(case: Case, conn_id: str) -> object:
    """The row through CreditUsageOperator.execute: its return value is the XCom."""
    return CreditUsageOperator(task_id="usage", coinstats_conn_id=conn_id).execute({})  # type: ignore[arg-type]


def sensor_call(case: Case, conn_id: str) -> object:
    """The row through one CreditBudgetSensor poke: its XCom, or the failure it raises."""
    sensor = CreditBudgetSensor(task_id="gate", coinstats_conn_id=conn_id, required_credits=1)
    try:
        return sensor.poke({}).xcom_value  # type: ignore[arg-type]
    except AirflowFailException as failure:
        return failure


def test_the_whole_fault_matrix_leaks_the_key_nowhere(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture, task_logs: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    for case in CASES:
        calls = [run_case(case, sandbox)]
        # Operator and sensor read credits; slow rows fail them no differently than a reset.
        if (case.method, case.path) == ("GET", "/usage/credits") and not case.delayed:
            calls += [run_case(case, sandbox, call=operator_call)]
            calls += [run_case(case, sandbox, call=sensor_call)]
        for outcome in calls:
            seen.append(error_texts(outcome.error))
            value = outcome.value
            seen.append(error_texts(value) if isinstance(value, BaseException) else repr(value))
    logs = task_logs()

    # The capture really holds what the runs said: urllib3's request lines (stdlib logging),
    # the operator's summary and the sensor's warnings (Airflow's structlog console).
    assert '"GET /usage/credits HTTP/1.1" 500' in logs
    assert "CoinStats PRO: 55,000 of 100,000 credits left" in logs
    assert "not yet: could not read credits" in logs
    assert any("'subscription': 'PRO'" in text for text in seen)  # an XCom value was scanned
    assert leaked(logs) == []
    assert leaked("\n".join(seen)) == []


def _echoes(key: str) -> dict[str, tuple[Fault, type[CoinStatsError]]]:
    """Answers in which a broken server or proxy echoes the key back, in every text the client
    may quote, and the error each must raise."""
    page = "<html>" + "<br>" * 493 + f"X-API-KEY: {key}</html>"
    assert page.index(key) < 2000 < page.index(key) + len(key)  # across the snippet's cut
    usage = {"totalCredits": 10, "usedCredits": 0, "remainingCredits": 10, "subscription": "PRO"}
    return {
        "message": (Fault("status", status=400, message=f"header {key}"), CoinStatsRequestError),
        "401 message": (Fault("status", status=401, message=f"Key {key}"), CoinStatsAuthError),
        "old-shape error": (
            Fault("status", status=404, body={"error": f"no route for key {key}"}),
            CoinStatsRequestError,
        ),
        "requestId": (
            Fault("status", status=404, body={"statusCode": 404, "message": "x", "requestId": key}),
            CoinStatsRequestError,
        ),
        "HTML page, key across the 2,000-byte cut": (
            Fault("html", status=200, body=page),
            CoinStatsResponseError,
        ),
        "invalid JSON": (
            Fault("invalid_json", body=f'{{"echo": "{key}", "cut'),
            CoinStatsResponseError,
        ),
        "field value": (
            Fault("status", status=200, body={**usage, "usedCredits": key}),
            CoinStatsResponseError,
        ),
        "field name": (
            Fault("status", status=200, body={key: 1, "subscription": "PRO"}),
            CoinStatsResponseError,
        ),
    }


ECHOES = _echoes(TEST_KEY)


@pytest.mark.parametrize("echo", ECHOES)
def test_a_key_echoed_by_the_server_is_scrubbed_from_the_error(
    echo: str, sandbox: Sandbox, task_logs: Any
) -> None:
    fault, expected = ECHOES[echo]
    outcome = run_case(Case(echo, (fault,), expected, 1), sandbox)
    assert type(outcome.error) is expected
    assert leaked(error_texts(outcome.error)) == []
    assert leaked(repr(vars(outcome.error))) == []  # api_message, request_id
    assert "***" in error_texts(outcome.error)  # quoted, with the key blotted out
    assert leaked(task_logs()) == []


def test_the_key_is_registered_with_the_secret_masker(sandbox: Sandbox) -> None:
    """Airflow then redacts it from task logs and rendered template fields. The masker is
    process-wide, so each path gets a key no other test has used."""
    sync_key, async_key = "cs-sync-MASK-1f2e3d4c5b6a", "cs-async-MASK-6a5b4c3d2e1f"
    for conn_id, key in (("mask_sync", sync_key), ("mask_async", async_key)):
        env = f"AIRFLOW_CONN_{conn_id.upper()}"
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(env, connection_json(sandbox.url, key=key))
            assert redact(f"key={key}") == f"key={key}"  # not yet known
            if conn_id == "mask_sync":
                CoinStatsHook(coinstats_conn_id=conn_id).get_conn()  # what every task does
            else:
                asyncio.run(CoinStatsHook.aclient(conn_id)).close()  # what the trigger does
            assert redact(f"key={key}") == "key=***"


def test_rendered_template_fields_hold_no_key(coinstats_conn: Sandbox) -> None:
    context: Any = {"params": {"conn": "coinstats_default", "floor": 10, "limit": 5}}
    operator = CreditUsageOperator(
        task_id="usage",
        coinstats_conn_id="{{ params.conn }}",
        min_remaining_credits="{{ params.floor }}",
    )
    sensor = CreditBudgetSensor(
        task_id="gate",
        coinstats_conn_id="{{ params.conn }}",
        required_credits=[
            {"method": "GET", "path": "/coins", "params": {"limit": "{{ params.limit }}"}}
        ],
        min_remaining_credits="{{ params.floor }}",
    )
    for task in (operator, sensor):
        task.render_template_fields(context)
        rendered = {name: getattr(task, name) for name in task.template_fields}
        assert rendered["coinstats_conn_id"] == "coinstats_default"
        assert leaked(repr(rendered)) == []
    assert operator.execute(context)["remaining_credits"] == 55_000  # rendered, and it works
    # A user who templates the key in anyway (e.g. from the connection) still does not see it:
    # Airflow passes rendered fields through redact(), and the hook registered the key.
    operator.min_remaining_credits = TEST_KEY  # what such a template would render
    assert redact(operator.min_remaining_credits) == "***"


def test_trigger_kwargs_and_events_hold_no_key(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(sandbox.url))
    sensor = CreditBudgetSensor(
        task_id="gate",
        coinstats_conn_id=CONN_ID,
        required_credits=90_000,
        deferrable=True,
        poke_interval=0.1,
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})  # type: ignore[arg-type]
    trigger = deferred.value.trigger
    assert isinstance(trigger, CreditBudgetTrigger)
    classpath, kwargs = trigger.serialize()
    assert kwargs["coinstats_conn_id"] == CONN_ID
    assert leaked(json.dumps(kwargs) + classpath + repr(trigger)) == []

    # A rejected key ends the trigger with an error event: its message names no key either.
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(sandbox.url, key="rejected-0123456789ab")
    )

    async def first_event() -> dict[str, Any]:
        async for event in CreditBudgetTrigger(**kwargs).run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    event = asyncio.run(first_event())
    assert event["status"] == "error" and event["error"] == "CoinStatsAuthError"
    assert leaked(json.dumps(event), key="rejected-0123456789ab") == []


def test_reprs_and_attributes_hold_no_key(coinstats_conn: Sandbox) -> None:
    hook = CoinStatsHook()
    hook.get_credit_usage()
    client = hook.client
    texts = [repr(hook), repr(vars(hook)), repr(client), repr(vars(client)), repr(client.config)]
    assert leaked("\n".join(texts)) == []


def _raise_through_the_hook() -> BaseException:
    try:
        CoinStatsHook().get_credit_usage()
    except CoinStatsError as error:
        return error
    raise AssertionError("the call did not fail")


@pytest.mark.parametrize("fault", [Fault("status", status=500), Fault("reset"), Fault("mistyped")])
def test_dev_mode_tracebacks_with_frame_locals_show_no_key(
    fault: Fault, coinstats_conn: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With DEV set, Airflow renders tracebacks with structlog's RichTracebackFormatter, which
    prints every frame's local variables: none of ours may hold the key."""
    coinstats_conn.inject(Fault(**{**fault.to_dict(), "times": None}))
    with record_retry_waits():
        error = _raise_through_the_hook()
    out = io.StringIO()
    structlog.dev.RichTracebackFormatter(show_locals=True, width=200, color_system=None)(
        out, (type(error), error, error.__traceback__)
    )
    rendered = out.getvalue()
    assert "CoinStatsClient(base_url=" in rendered  # the client's frames and locals are in
    assert leaked(rendered) == []


class _Recorder(BaseHTTPRequestHandler):
    """Answers 200 and remembers the headers of each request."""

    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        type(self).seen.append(dict(self.headers))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def redirect_to_recorder() -> Iterator[str]:
    """A server on 127.0.0.1 that redirects every request to another server, which records."""
    _Recorder.seen = []
    recorder = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    target = f"http://localhost:{recorder.server_address[1]}/elsewhere"

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    redirector = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    servers = (recorder, redirector)
    for server in servers:
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
    yield f"http://127.0.0.1:{redirector.server_address[1]}"
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("auth_type", ["api_key", "bearer"])
def test_a_redirect_is_not_followed_so_the_key_goes_nowhere_else(
    auth_type: str, redirect_to_recorder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests would resend X-API-KEY to the new host (it strips only Authorization)."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_COINSTATS_DEFAULT",
        connection_json(redirect_to_recorder, auth_type=auth_type),
    )
    with pytest.raises(CoinStatsRequestError, match="redirected GET /usage/credits to") as caught:
        CoinStatsHook().get_credit_usage()
    assert caught.value.status_code == 302
    assert "/elsewhere" in str(caught.value)
    assert _Recorder.seen == []


def test_leak_detector_finds_pieces_of_the_key() -> None:
    """The detector itself: a whole key, or a cut one, is found; unrelated text is not."""
    assert leaked(f"header {TEST_KEY}") != []
    assert leaked(f"cut at {TEST_KEY[:14]}") != []
    assert leaked(f"{TEST_KEY[-13:]} at the start") != []
    assert leaked(f"only {TEST_KEY[: FRAGMENT - 1]} is too short to tell") == []
    assert leaked("nothing here") == []
