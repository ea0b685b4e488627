"""The connection form as the Airflow UI gets it: from a real api-server over HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import AIRFLOW, RealAirflow

pytestmark = pytest.mark.integration

STARTUP_DEADLINE_SECONDS = 300


def _get_json(url: str) -> Any:
    # A first request builds the provider list: slow on a loaded machine.
    with urllib.request.urlopen(url, timeout=120) as answer:
        return json.loads(answer.read())


def test_api_server_serves_the_coinstats_connection_form(
    real_airflow: RealAirflow, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **real_airflow.env,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        # No login for this test: every request is an admin's.
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    }
    log = tmp_path / "api-server.log"
    # A file, not a pipe: an unread pipe fills up and stalls a chatty server.
    out = log.open("w")
    server = subprocess.Popen([AIRFLOW, "api-server"], env=env, stdout=out, stderr=out)
    try:
        base = f"http://127.0.0.1:{port}"
        # It starts in about 10 s on 2 idle cores; the deadline only catches a hang.
        deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
        forms = None
        while forms is None:
            assert server.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, (
                f"the api-server did not answer within {STARTUP_DEADLINE_SECONDS} s\n"
                + log.read_text()[-3000:]
            )
            try:
                forms = _get_json(f"{base}/ui/connections/hook_meta")
            except OSError:  # not listening yet (URLError and timeouts are OSErrors too)
                time.sleep(0.5)
        (form,) = [f for f in forms if f["connection_type"] == "coinstats"]
        assert form["hook_name"] == "CoinStats"
        standard = form["standard_fields"]
        assert standard["password"]["title"] == "API key"
        assert standard["host"]["title"] == "Base URL"
        assert standard["host"]["placeholder"] == "https://openapiv1.coinstats.app/v1"
        assert standard["login"]["hidden"] is True
        assert standard["port"]["hidden"] is False  # the list's Test button needs a port
        extras = form["extra_fields"]
        assert extras["timeout"]["schema"]["default"] == 30.0
        assert extras["max_retries"]["schema"]["maximum"] == 20
        assert extras["requests_per_second"]["schema"]["type"] == ["number", "null"]
        assert extras["auth_type"]["schema"]["enum"] == ["api_key", "bearer"]
    finally:
        server.terminate()  # a lone api-server exits cleanly on SIGTERM
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        out.close()
