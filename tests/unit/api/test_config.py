from __future__ import annotations

import pytest

from airflow_provider_coinstats.api.config import DEFAULT_BASE_URL, ClientConfig, normalize_base_url
from airflow_provider_coinstats.exceptions import CoinStatsConfigError


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (None, DEFAULT_BASE_URL),
        ("", DEFAULT_BASE_URL),
        ("openapiv1.coinstats.app", "https://openapiv1.coinstats.app"),
        ("openapiv1.coinstats.app/v1/", "https://openapiv1.coinstats.app/v1"),
        ("https://openapiv1.coinstats.app///", "https://openapiv1.coinstats.app"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("  https://api.coinstats.app/v1  ", "https://api.coinstats.app/v1"),
    ],
)
def test_base_url_normalisation(host: str | None, expected: str) -> None:
    assert normalize_base_url(host) == expected


def test_uri_parts_port_and_schema_are_folded_into_the_base_url() -> None:
    # AIRFLOW_CONN_X=coinstats://:KEY@http://127.0.0.1:8765/v1 arrives as host, port and schema.
    assert (
        normalize_base_url("http://127.0.0.1", port=8765, path="v1") == "http://127.0.0.1:8765/v1"
    )
    assert normalize_base_url("127.0.0.1:9000", port=8765) == "https://127.0.0.1:9000"


@pytest.mark.parametrize("host", ["ftp://example.com", "https://", "https://x.io/v1?key=1"])
def test_unusable_hosts_are_rejected_with_the_connection_named(host: str) -> None:
    with pytest.raises(CoinStatsConfigError, match="'my_conn'"):
        normalize_base_url(host, conn_id="my_conn")


def test_defaults_and_extras() -> None:
    config = ClientConfig.from_connection_fields("c", host=None, password=" key-1 ", extra={})
    assert (config.api_key, config.base_url, config.auth_type) == (
        "key-1",
        DEFAULT_BASE_URL,
        "api_key",
    )
    assert (config.timeout, config.max_retries, config.requests_per_second) == (30.0, 3, 1.0)

    tuned = ClientConfig.from_connection_fields(
        "c",
        host="h",
        password="k",
        # URI query strings deliver strings; old forms used prefixed names.
        extra={
            "timeout": "5",
            "max_retries": "0",
            "extra__coinstats__requests_per_second": 4,
            "auth_type": "Bearer",
        },
    )
    assert (tuned.timeout, tuned.max_retries, tuned.requests_per_second) == (5.0, 0, 4.0)
    assert tuned.auth_type == "bearer"


def test_missing_key_names_the_connection_and_where_to_get_one() -> None:
    with pytest.raises(CoinStatsConfigError, match=r"'prod_cs' has no CoinStats API key.*openapi"):
        ClientConfig.from_connection_fields("prod_cs", host=None, password="", extra={})


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": "soon"}, "timeout"),
        ({"requests_per_second": -1}, "requests_per_second"),
        ({"max_retries": 2.5}, "max_retries"),
        ({"max_retries": 99}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"auth_type": "basic"}, "auth_type"),
    ],
)
def test_bad_extras_name_the_field(extra: dict[str, object], field: str) -> None:
    with pytest.raises(CoinStatsConfigError, match=f"'c' extra '{field}'"):
        ClientConfig.from_connection_fields("c", host=None, password="k", extra=extra)


def test_repr_never_shows_the_key() -> None:
    config = ClientConfig.from_connection_fields("c", host=None, password="s3cr3t-key", extra={})
    assert "s3cr3t-key" not in repr(config)
