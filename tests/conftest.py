"""Shared fixtures: an offline CoinStats sandbox on 127.0.0.1 and connections pointing at it."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

# Airflow reads its home when first imported: never let a test touch ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="coinstats-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from airflow_provider_coinstats.testing.retries import reset_pacing
from airflow_provider_coinstats.testing.sandbox import Sandbox

#: A key that is easy to spot if it ever leaks into a log, an error or XCom.
TEST_KEY = "cs-test-KEY-7f3a9c2e51d84b6a"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh sandbox per test: PRO plan, 55,000 of 100,000 credits left."""
    with Sandbox(api_key=TEST_KEY, plan="PRO", total_credits=100_000, used_credits=45_000) as box:
        yield box


def connection_json(url: str, key: str = TEST_KEY, **extra: object) -> str:
    """Airflow's JSON connection form for a sandbox; pacing is lifted unless a test sets it."""
    extra = {"requests_per_second": 1000, **extra}
    return json.dumps({"conn_type": "coinstats", "host": url, "password": key, "extra": extra})


@pytest.fixture
def coinstats_conn(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """``coinstats_default`` pointing at the sandbox, through the environment like in production."""
    monkeypatch.setenv("AIRFLOW_CONN_COINSTATS_DEFAULT", connection_json(sandbox.url))
    return sandbox


@pytest.fixture(autouse=True)
def _fresh_rate_limiters() -> Iterator[None]:
    """Per-connection buckets are process-wide by design; tests must not share them."""
    reset_pacing()
    yield
    reset_pacing()


@pytest.fixture
def task_logs(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Any:
    """Everything a task logged so far. Airflow's structlog writes task loggers to the
    console rather than to stdlib logging, so both places are read."""

    seen: list[str] = []

    def read() -> str:
        captured = capsys.readouterr()  # consumes, so keep what was read
        seen.append(captured.out + captured.err)
        return "".join(seen) + caplog.text

    return read
