"""Provider registration, read by Airflow's ProvidersManager through the entry point.

This module imports nothing from Airflow (only the plain defaults in ``config``): every Airflow
CLI call and server start loads it, so it must stay cheap. Airflow 3.2+ builds the connection
form from the ``conn-fields`` and ``ui-field-behaviour`` declared here, without importing the hook.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_coinstats.api.config import (
    AUTH_TYPES,
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_REQUESTS_PER_SECOND,
    DEFAULT_TIMEOUT,
)


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow (``package-name`` must equal the distribution name)."""
    return {
        "package-name": "airflow-provider-coinstats",
        "name": "CoinStats",
        "description": "Credit usage, credit-budget gates and data pulls for the "
        "`CoinStats Public API <https://coinstats.app/api-docs/>`__.",
        "integrations": [
            {
                "integration-name": "CoinStats",
                "external-doc-url": "https://coinstats.app/api-docs/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "CoinStats",
                "python-modules": ["airflow_provider_coinstats.hooks.coinstats"],
            }
        ],
        "operators": [
            {
                "integration-name": "CoinStats",
                "python-modules": ["airflow_provider_coinstats.operators.coinstats"],
            }
        ],
        "sensors": [
            {
                "integration-name": "CoinStats",
                "python-modules": ["airflow_provider_coinstats.sensors.coinstats"],
            }
        ],
        "triggers": [
            {
                "integration-name": "CoinStats",
                "python-modules": ["airflow_provider_coinstats.triggers.coinstats"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "coinstats",
                "hook-class-name": "airflow_provider_coinstats.hooks.coinstats.CoinStatsHook",
                "hook-name": "CoinStats",
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "schema", "port"],
                    "relabeling": {"password": "API key", "host": "Base URL"},
                    "placeholders": {
                        "host": DEFAULT_BASE_URL,
                        "password": "Key from https://openapi.coinstats.app",
                    },
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "Connect and read timeout of every request.",
                        "schema": {
                            "type": ["number", "null"],
                            "default": DEFAULT_TIMEOUT,
                            "exclusiveMinimum": 0,
                        },
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "Retries after a timeout, connection error, 429 rate "
                        "limit or 5xx, with exponential backoff and jitter.",
                        "schema": {
                            "type": ["integer", "null"],
                            "default": DEFAULT_MAX_RETRIES,
                            "minimum": 0,
                            "maximum": 20,
                        },
                    },
                    "requests_per_second": {
                        "label": "Requests per second",
                        "description": "Client-side pace shared by every task in a process "
                        "using this connection. The free plan allows about 2.",
                        "schema": {
                            "type": ["number", "null"],
                            "default": DEFAULT_REQUESTS_PER_SECOND,
                            "exclusiveMinimum": 0,
                        },
                    },
                    "auth_type": {
                        "label": "Auth type",
                        "description": "api_key sends X-API-KEY; bearer sends an OAuth token "
                        "as Authorization: Bearer.",
                        "schema": {
                            "type": ["string", "null"],
                            # No null option: the UI's select has a clear button of its own.
                            "enum": list(AUTH_TYPES),
                            "default": "api_key",
                        },
                    },
                },
            }
        ],
    }
