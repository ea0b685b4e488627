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
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_REQUESTS_PER_SECOND,
    DEFAULT_TIMEOUT,
    DEFAULT_TOTAL_TIMEOUT,
    MAX_REQUESTS_PER_SECOND,
    MAX_RESPONSE_BYTES,
    MAX_RETRIES,
    MAX_TIMEOUT,
    MAX_TOTAL_TIMEOUT,
    MIN_REQUESTS_PER_SECOND,
    MIN_RESPONSE_BYTES,
)
from airflow_provider_coinstats.common.reservations import DEFAULT_CONFIRM_DELAY


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
        "config": {
            "coinstats": {
                "description": "Settings of the CoinStats provider.",
                "options": {
                    "reservation_confirm_delay": {
                        "description": "Seconds a credit gate that reserved waits before it "
                        "reads the reservation ledger again and passes only if its reservation "
                        "is still there (another process's write at the same moment can drop "
                        "it). Must exceed the slowest Variable read-and-write of any process; a "
                        "write slower than 0.8 of it is logged. 0 turns the check off, which "
                        "leaves concurrent gates in different processes able to overspend.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "10",
                        "default": str(DEFAULT_CONFIRM_DELAY),
                    },
                },
            },
        },
        "connection-types": [
            {
                "connection-type": "coinstats",
                "hook-class-name": "airflow_provider_coinstats.hooks.coinstats.CoinStatsHook",
                "hook-name": "CoinStats",
                "ui-field-behaviour": {
                    # Port stays visible: on Airflow 3.3 the Connections list's Test button
                    # answers 400 for a saved connection without a port (it sends port 0 for
                    # none), so a user must be able to fill it in.
                    "hidden-fields": ["login", "schema"],
                    "relabeling": {"password": "API key", "host": "Base URL"},
                    "placeholders": {
                        "host": DEFAULT_BASE_URL,
                        "password": "Key from https://openapi.coinstats.app",
                        "port": "443, or the port in Base URL (the Test button needs one)",
                    },
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "Wall-clock bound of each attempt, from connect to the "
                        f"last byte of the answer; at most {MAX_TIMEOUT:g}.",
                        "schema": {
                            "type": ["number", "null"],
                            "default": DEFAULT_TIMEOUT,
                            "exclusiveMinimum": 0,
                            "maximum": MAX_TIMEOUT,
                        },
                    },
                    "total_timeout": {
                        "label": "Total timeout (seconds)",
                        "description": "Wall-clock bound of a whole call: every attempt and the "
                        "waits between retries. At least the timeout; empty means "
                        f"{DEFAULT_TOTAL_TIMEOUT:g}, or the timeout if that is longer.",
                        "schema": {
                            "type": ["number", "null"],
                            "default": DEFAULT_TOTAL_TIMEOUT,
                            "exclusiveMinimum": 0,
                            "maximum": MAX_TOTAL_TIMEOUT,
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
                            "maximum": MAX_RETRIES,
                        },
                    },
                    "requests_per_second": {
                        "label": "Requests per second",
                        "description": "Client-side pace of this connection within one process "
                        "(a task, or the triggerer). The free plan allows about 2.",
                        "schema": {
                            "type": ["number", "null"],
                            "default": DEFAULT_REQUESTS_PER_SECOND,
                            "minimum": MIN_REQUESTS_PER_SECOND,
                            "maximum": MAX_REQUESTS_PER_SECOND,
                        },
                    },
                    "max_response_bytes": {
                        "label": "Max response size (bytes)",
                        "description": "The largest answer accepted, counted after "
                        "decompression; a larger one fails the call.",
                        "schema": {
                            "type": ["integer", "null"],
                            "default": DEFAULT_MAX_RESPONSE_BYTES,
                            "minimum": MIN_RESPONSE_BYTES,
                            "maximum": MAX_RESPONSE_BYTES,
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
                    "allow_insecure_http": {
                        "label": "Allow plain http",
                        "description": "Send the key over an http:// Base URL to a host that is "
                        "not this machine (unencrypted). Loopback needs no opt-in.",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                },
            }
        ],
    }
