"""A DAG file that imports the provider must not load what only a running task needs.

Cheap and untimed on purpose (the figures are in bench/parse_cost.py): in a fresh interpreter,
import the sensor, operator and hook modules, then list which heavy modules came with them.
"""

from __future__ import annotations

import json
import subprocess
import sys

#: Loaded when a task runs (the client, the trigger on deferral), never by a DAG file's import.
MUST_NOT_LOAD = (
    "requests",
    "urllib3",
    "asgiref",
    "airflow.triggers.base",
    "airflow.providers.common.compat.connection",
    "airflow_provider_coinstats.api.client",
    "airflow_provider_coinstats.triggers.coinstats",
    "airflow_provider_coinstats.common.polling",
    "airflow_provider_coinstats.testing",
)

DAG_FILE_IMPORTS = """
import json, sys
from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook
from airflow_provider_coinstats.operators.coinstats import CoinStatsOperator, CreditUsageOperator
from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor
print(json.dumps(sorted(sys.modules)))
"""


def loaded_by(code: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_importing_the_adapters_loads_no_http_client_and_no_trigger() -> None:
    loaded = loaded_by(DAG_FILE_IMPORTS)
    assert "airflow_provider_coinstats.sensors.coinstats" in loaded  # the probe itself worked
    assert sorted(name for name in MUST_NOT_LOAD if name in loaded) == []


def test_the_probe_sees_those_modules_when_a_task_needs_them() -> None:
    # Without this, a probe that never saw any module would pass the test above.
    loaded = loaded_by(
        DAG_FILE_IMPORTS.replace(
            "print(", "import airflow_provider_coinstats.triggers.coinstats\nprint("
        )
    )
    assert {"requests", "airflow.triggers.base", "airflow_provider_coinstats.api.client"} <= loaded
