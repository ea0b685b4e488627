"""The shared credit poller behind CreditBudgetTrigger: one reading per connection and interval,
single-flight that survives cancellation, and isolation between connections, driven through real
triggers in an event loop against the sandbox and misbehaving servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import pytest
from airflow.sdk.log import redact

from airflow_provider_coinstats.api.client import CoinStatsClient
from airflow_provider_coinstats.api.config import ClientConfig
from airflow_provider_coinstats.common import polling
from airflow_provider_coinstats.exceptions import (
    CoinStatsAuthError,
    CoinStatsTimeoutError,
)
from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook
from airflow_provider_coinstats.testing.sandbox import Fault, Sandbox
from tests.conftest import TEST_KEY, connection_json
from tests.unit.common.gate_helpers import (
    CREDITS,
    TrickleServer,
    fire,
    trigger,
    until,
    when,
)


@pytest.fixture(autouse=True)
def _no_leaked_pollers() -> Any:
    yield
    assert polling.active_pollers() == []  # every trigger released its poller, however it ended


# -- isolation -------------------------------------------------------------------------------


async def test_a_trickling_connection_never_starves_a_healthy_one(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(sandbox.url))
    with TrickleServer(every=0.2) as slow:
        monkeypatch.setenv("AIRFLOW_CONN_COINSTATS_SLOW", connection_json(slow.url))
        # Eight gates on the trickling connection, each cancelled while its reading is on the
        # wire (as the triggerer does when a task is cleared or times out).
        for _ in range(8):
            gate = asyncio.create_task(
                fire(trigger(coinstats_conn_id="coinstats_slow", required_credits=1))
            )
            await until(lambda: slow.requests >= 1 and _users("coinstats_slow") == 1)
            gate.cancel()
            await asyncio.gather(gate, return_exceptions=True)
        # A gate on another connection is served at once.
        started = time.monotonic()
        healthy = await asyncio.wait_for(fire(trigger(required_credits=1)), timeout=60)
        healthy_seconds = time.monotonic() - started
        assert healthy["status"] == "success"
        assert sandbox.count(path=CREDITS) == 1
        # The trickling server saw one request: every later gate joined the one on the wire.
        assert slow.requests == 1
        assert slow.max_in_flight == 1
        # A ninth gate on the trickling connection still joins the same request: when the
        # server finally cuts it off, that gate sees the failure, and no second request is sent.
        ninth = asyncio.create_task(
            fire(
                trigger(
                    coinstats_conn_id="coinstats_slow",
                    required_credits=1,
                    max_consecutive_failures=1,
                )
            )
        )
        await until(lambda: _users("coinstats_slow") == 1)
        slow.stop()
        event = await asyncio.wait_for(ninth, timeout=60)
    assert event["status"] == "error"
    assert event["error"]["error"] == "CoinStatsConnectionError"
    assert slow.requests == 1
    assert healthy_seconds < 30  # generous: 0.1 s interval + one sandbox answer


async def test_a_reading_stops_waiting_at_the_client_deadline_and_never_doubles_the_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client that overruns its own deadline (the layer below, stubbed: the real client ends
    its attempts on time) must not hold a reading past deadline + margin, nor get a second
    request sent beside the stuck one."""
    monkeypatch.setattr(polling, "DEADLINE_MARGIN", 0.2)
    release = threading.Event()
    in_flight: list[int] = []
    calls: list[int] = []

    class OverrunningClient(CoinStatsClient):
        def get_credit_usage(self, *, retry: bool = True) -> Any:
            calls.append(1)
            in_flight.append(1)
            try:
                release.wait(60)  # far past timeout=0.3: only the poller's bound can end the wait
            finally:
                in_flight.pop()
            raise AssertionError("released only after the test")

    async def client(conn_id: str) -> CoinStatsClient:
        config = ClientConfig(
            api_key=TEST_KEY,
            base_url="http://127.0.0.1:9",
            timeout=0.3,
            total_timeout=0.3,
            requests_per_second=1000,
            conn_id=conn_id,
        )
        return OverrunningClient(config)

    poller = polling.acquire_poller("coinstats_deadline", client)
    try:
        for _ in range(2):
            started = time.monotonic()
            with pytest.raises(CoinStatsTimeoutError) as caught:
                await poller.read(max_age=0)
            assert time.monotonic() - started < 30  # bound: 0.3 s + 0.2 s, generously
            assert len(in_flight) == 1
        assert len(calls) == 1  # the second reading waited on the stuck request, sent none
        assert TEST_KEY not in str(caught.value)
    finally:
        release.set()
        polling.release_poller(poller)
    await until(lambda: polling.active_pollers() == [])


async def test_a_poller_never_uses_the_loops_default_executor(
    coinstats_conn: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default executor is shared by every trigger of the triggerer; a connection's hung
    # requests there would delay every other trigger.
    loop = asyncio.get_running_loop()
    original = loop.run_in_executor
    used_default: list[object] = []

    def run_in_executor(executor: Any, func: Any, *args: Any) -> Any:
        if executor is None:
            used_default.append(func)
        return original(executor, func, *args)

    monkeypatch.setattr(loop, "run_in_executor", run_in_executor)
    assert (await fire(trigger(required_credits=1)))["status"] == "success"
    assert used_default == []


async def test_the_event_loop_keeps_running_while_credits_are_read(
    coinstats_conn: Sandbox,
) -> None:
    coinstats_conn.inject(Fault(kind="delay", seconds=0.6))
    gate = asyncio.create_task(fire(trigger(required_credits=1)))
    # Were the request made on the loop, this timeout could only fire after the 0.6 s answer,
    # by which time the gate would have passed.
    done, _ = await asyncio.wait({gate}, timeout=0.2)
    assert not done
    assert (await gate)["status"] == "success"


async def test_cancelled_gates_release_the_shared_poller(coinstats_conn: Sandbox) -> None:
    coinstats_conn.set_credits(used=99_999)
    gates = [asyncio.create_task(fire(trigger(required_credits=10))) for _ in range(3)]
    await when(lambda: coinstats_conn.count(path=CREDITS) >= 1, lambda: None)
    assert len(polling.active_pollers()) == 1
    for gate in gates:
        gate.cancel()
    await asyncio.gather(*gates, return_exceptions=True)
    await until(lambda: polling.active_pollers() == [])  # once any request in flight is back


# -- shared polling --------------------------------------------------------------------------


async def test_500_waiting_gates_cost_one_request_per_interval(
    coinstats_conn: Sandbox,
) -> None:
    interval = 0.2
    coinstats_conn.set_credits(used=99_000)
    freeing = asyncio.create_task(
        when(
            lambda: coinstats_conn.count(path=CREDITS) >= 3,
            lambda: coinstats_conn.set_credits(used=0),
        )
    )
    started = time.monotonic()
    events = await asyncio.gather(
        *(fire(trigger(required_credits=5_000 + n, poke_interval=interval)) for n in range(500))
    )
    elapsed = time.monotonic() - started
    await freeing

    assert [event["status"] for event in events] == ["success"] * 500
    # Each gate judged the shared reading against its own budget.
    assert {event["result"]["required_credits"] for event in events} == set(range(5_000, 5_500))
    requests = coinstats_conn.count(path=CREDITS)
    intervals = elapsed / interval
    assert requests <= intervals + 1, (requests, elapsed)
    # Three waiting readings and a passing one, shared by all 500 gates; one or two more when a
    # loaded loop frees the credits late (the freeing runs on the same loop), never one per gate.
    assert 4 <= requests < 10, requests


async def test_each_connection_has_its_own_poller(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_COINSTATS_A", connection_json(sandbox.url))
    monkeypatch.setenv("AIRFLOW_CONN_COINSTATS_B", connection_json(sandbox.url))
    gates = [
        trigger(coinstats_conn_id=conn, required_credits=1)
        for conn in ("coinstats_a", "coinstats_b") * 10
    ]
    events = await asyncio.gather(*(fire(gate) for gate in gates))
    assert all(event["status"] == "success" for event in events)
    assert sandbox.count(path=CREDITS) == 2


async def test_a_key_fixed_after_a_401_is_read_afresh_without_a_restart(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = "AIRFLOW_CONN_COINSTATS_DEFAULT"
    monkeypatch.setenv(conn, connection_json(sandbox.url, key="revoked-key-123"))
    poller = polling.acquire_poller("coinstats_default", CoinStatsHook.aclient)
    try:
        with pytest.raises(CoinStatsAuthError):
            await poller.read(max_age=0)
        monkeypatch.setenv(conn, connection_json(sandbox.url))  # the key fixed in Airflow
        usage, _ = await poller.read(max_age=0)
        assert usage.remaining_credits == 55_000
    finally:
        polling.release_poller(poller)


async def test_the_hook_builds_an_async_client_from_an_env_var_outside_a_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = f"cs-aclient-{uuid.uuid4().hex}"  # fresh, so no earlier test has masked it
    with Sandbox(api_key=key) as box:
        monkeypatch.setenv("AIRFLOW_CONN_COINSTATS_ASYNC", connection_json(box.url, key=key))
        client = await CoinStatsHook.aclient("coinstats_async")
        try:
            usage = await asyncio.to_thread(client.get_credit_usage)
        finally:
            client.close()
        assert client.config.base_url == box.url
        assert client.config.requests_per_second == 1000  # the extras were read
        assert usage.remaining_credits == box.usage()["remainingCredits"]
        assert redact(f"key={key}") == "key=***"  # masked for every log that follows


def _users(conn_id: str) -> int:
    """Triggers using ``conn_id``'s poller right now (0 when it has none)."""
    return sum(poller.users for poller in polling.active_pollers() if poller.conn_id == conn_id)
