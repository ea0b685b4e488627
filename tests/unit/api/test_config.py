"""Connection fields in, client settings out: every extra, the key rules, the plain-http rule."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_coinstats.api.config import (
    DEFAULT_BASE_URL,
    ClientConfig,
    normalize_base_url,
)
from airflow_provider_coinstats.exceptions import CoinStatsConfigError
from airflow_provider_coinstats.hooks.coinstats import CoinStatsHook
from airflow_provider_coinstats.testing.sandbox import Sandbox
from tests.conftest import TEST_KEY


def read(extra: dict[str, Any] | None = None, **fields: Any) -> ClientConfig:
    fields.setdefault("host", None)
    fields.setdefault("password", "k")
    return ClientConfig.from_connection_fields("c", extra=extra or {}, **fields)


def refusal(extra: dict[str, Any] | None = None, **fields: Any) -> str:
    with pytest.raises(CoinStatsConfigError) as raised:
        read(extra, **fields)
    return str(raised.value)


def chain_text(error: BaseException) -> str:
    """Every message and repr along an exception's cause and context chain."""
    seen: list[str] = []
    current: BaseException | None = error
    while current is not None:
        seen += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    return "\n".join(seen)


# --- base URL -----------------------------------------------------------------------------------


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
        # No scheme means https, except for this machine, where a local server speaks http.
        ("127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("localhost:8765/v1", "http://localhost:8765/v1"),
        ("[::1]:8765", "http://[::1]:8765"),
        ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
        ("10.0.0.1:8765", "https://10.0.0.1:8765"),
    ],
)
def test_base_url_normalisation(host: str | None, expected: str) -> None:
    assert normalize_base_url(host) == expected


def test_uri_parts_port_and_schema_are_folded_into_the_base_url() -> None:
    # AIRFLOW_CONN_X=coinstats://:KEY@http://127.0.0.1:8765/v1 arrives as host, port and schema.
    assert (
        normalize_base_url("http://127.0.0.1", port=8765, path="v1") == "http://127.0.0.1:8765/v1"
    )
    # A port in the host wins over the separate one.
    assert normalize_base_url("127.0.0.1:9000", port=8765) == "http://127.0.0.1:9000"
    assert normalize_base_url("[::1]", port=8765) == "http://[::1]:8765"


def test_host_and_port_given_apart_reach_a_local_sandbox() -> None:
    # airflow connections add ... --conn-host 127.0.0.1 --conn-port 8765 used to mean https.
    assert read(host="127.0.0.1", port=8765).base_url == "http://127.0.0.1:8765"
    assert read(host="openapiv1.coinstats.app", port=443).base_url == (
        "https://openapiv1.coinstats.app:443"
    )


@pytest.mark.parametrize(
    ("host", "port", "problem"),
    [
        ("ftp://example.com", None, "is not an http(s) URL"),
        ("https://", None, "is not an http(s) URL"),
        ("https://x.io/v1?key=1", None, "must not carry a query"),
        ("http://127.0.0.1:99999", None, "invalid port"),
        ("127.0.0.1", 70000, "invalid port"),
        ("[", None, "is not an http(s) URL"),  # urlsplit: "Invalid IPv6 URL"
        ("http://[::1", None, "is not an http(s) URL"),
    ],
)
def test_unusable_hosts_are_rejected_with_the_connection_named(
    host: str, port: int | None, problem: str
) -> None:
    with pytest.raises(CoinStatsConfigError, match="'my_conn'") as raised:
        normalize_base_url(host, port=port, conn_id="my_conn")
    assert problem in str(raised.value)
    assert raised.value.__cause__ is None


# --- extras -------------------------------------------------------------------------------------


def test_defaults() -> None:
    config = read(password=" key-1 \n")
    assert (config.api_key, config.base_url, config.auth_type) == (
        "key-1",
        DEFAULT_BASE_URL,
        "api_key",
    )
    assert (config.timeout, config.max_retries, config.requests_per_second) == (30.0, 3, 1.0)
    assert (config.total_timeout, config.max_response_bytes, config.allow_insecure_http) == (
        120.0,
        10 * 1024 * 1024,
        False,
    )
    assert config.conn_id == "c"


def test_every_extra_is_read_from_numbers_and_from_uri_strings() -> None:
    as_json = read(
        {
            "timeout": 5,
            "max_retries": 0,
            "requests_per_second": 4,
            "auth_type": "Bearer",
            "total_timeout": 60,
            "max_response_bytes": 2048,
            "allow_insecure_http": True,
        }
    )
    # URI query strings deliver strings; old forms used prefixed names.
    as_uri = read(
        {
            "timeout": "5",
            "max_retries": "0",
            "extra__coinstats__requests_per_second": "4.0",
            "auth_type": " bearer ",
            "total_timeout": "60",
            "max_response_bytes": "2048",
            "allow_insecure_http": "TRUE",
        }
    )
    for config in (as_json, as_uri):
        assert (config.timeout, config.max_retries, config.requests_per_second) == (5.0, 0, 4.0)
        assert (config.total_timeout, config.max_response_bytes) == (60.0, 2048)
        assert config.auth_type == "bearer"
        assert config.allow_insecure_http is True
        assert isinstance(config.max_retries, int) and isinstance(config.timeout, float)


def test_empty_form_values_mean_the_default() -> None:
    config = read({"timeout": "", "max_retries": None, "allow_insecure_http": ""})
    assert (config.timeout, config.max_retries, config.allow_insecure_http) == (30.0, 3, False)


def test_total_timeout_grows_with_a_long_timeout_unless_given() -> None:
    assert read({"timeout": 300}).total_timeout == 300.0
    assert read({"timeout": 300, "total_timeout": 900}).total_timeout == 900.0
    message = refusal({"timeout": 300, "total_timeout": 60})
    assert message == (
        "connection 'c' extra 'total_timeout' must be at least its 'timeout' (300 s), got 60: it "
        "bounds the whole call, every attempt and the waits between them"
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"timeout": 1e10},
            "connection 'c' extra 'timeout' must be a positive number of seconds up to 3,600, "
            "got 10000000000.0",
        ),
        (
            {"timeout": 0},
            "connection 'c' extra 'timeout' must be a positive number of seconds up to 3,600, "
            "got 0",
        ),
        (
            {"timeout": "soon"},
            "connection 'c' extra 'timeout' must be a positive number of seconds up to 3,600, "
            "got 'soon'",
        ),
        (
            {"timeout": "1,5"},
            "connection 'c' extra 'timeout' must be a positive number of seconds up to 3,600, "
            "got '1,5' (no commas: write 1500 for fifteen hundred, 1.5 for one and a half)",
        ),
        (
            {"total_timeout": 86401},
            "connection 'c' extra 'total_timeout' must be a positive number of seconds up to "
            "86,400, got 86401",
        ),
        (
            {"requests_per_second": 1e-300},
            "connection 'c' extra 'requests_per_second' must be a number from 0.001 to 100,000, "
            "got 1e-300",
        ),
        (
            {"requests_per_second": -1},
            "connection 'c' extra 'requests_per_second' must be a number from 0.001 to 100,000, "
            "got -1",
        ),
        (
            {"max_retries": 10**400},
            "connection 'c' extra 'max_retries' must be a whole number from 0 to 20, got an "
            "integer of about 401 digits",
        ),
        (
            {"max_retries": "9" * 400},
            "connection 'c' extra 'max_retries' must be a whole number from 0 to 20, got "
            f"'{'9' * 40}'... (400 chars)",
        ),
        (
            {"max_retries": 2.5},
            "connection 'c' extra 'max_retries' must be a whole number from 0 to 20, got 2.5",
        ),
        (
            {"max_retries": 99},
            "connection 'c' extra 'max_retries' must be a whole number from 0 to 20, got 99",
        ),
        (
            {"max_retries": True},
            "connection 'c' extra 'max_retries' must be a whole number from 0 to 20, got True "
            "(True and False are not numbers)",
        ),
        (
            {"max_response_bytes": 100},
            "connection 'c' extra 'max_response_bytes' must be a whole number of bytes from "
            "1,024 to 1,073,741,824, got 100",
        ),
        (
            {"max_response_bytes": 2 * 1024**3},
            "connection 'c' extra 'max_response_bytes' must be a whole number of bytes from "
            "1,024 to 1,073,741,824, got 2147483648",
        ),
        (
            {"allow_insecure_http": "yes"},
            "connection 'c' extra 'allow_insecure_http' must be true or false (or 1 or 0), got "
            "'yes'",
        ),
        (
            {"allow_insecure_http": 2},
            "connection 'c' extra 'allow_insecure_http' must be true or false (or 1 or 0), got 2",
        ),
        (
            {"auth_type": "basic"},
            "connection 'c' extra 'auth_type' must be one of api_key, bearer, got 'basic'",
        ),
    ],
)
def test_bad_extras_name_the_connection_the_field_the_value_and_the_range(
    extra: dict[str, object], message: str
) -> None:
    with pytest.raises(CoinStatsConfigError) as raised:
        read(extra)
    assert str(raised.value) == message
    assert raised.value.__cause__ is None and raised.value.__context__ is None


@pytest.mark.parametrize(
    "extra",
    [
        {"timeout": 3600, "total_timeout": 86400},
        {"requests_per_second": 0.001},
        {"requests_per_second": 100_000},
        {"max_retries": 20},
        {"max_response_bytes": 1024},
        {"max_response_bytes": 1024**3},
        {"allow_insecure_http": 0},
        {"allow_insecure_http": "false"},
    ],
)
def test_range_bounds_are_inclusive(extra: dict[str, object]) -> None:
    read(extra)


# --- the key ------------------------------------------------------------------------------------


def test_missing_key_names_the_connection_and_where_to_get_one() -> None:
    for password in ("", None, "  \n"):
        with pytest.raises(CoinStatsConfigError, match=r"'c' has no CoinStats API key.*openapi"):
            read(password=password)


SECRET = "cs-Live-9f8e7d6c5b4a3210"


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (SECRET[:10] + "\r\n" + SECRET[10:], "contains a line break (character 11)"),
        (SECRET[:12] + "\n" + SECRET[12:], "contains a line break (character 13)"),
        (SECRET[:5] + "\u200b" + SECRET[5:], "contains a zero-width space (U+200B) at character 6"),
        ("\ufeff" + SECRET, "contains a byte-order mark (U+FEFF) at character 1"),
        (SECRET[:11] + "é" + SECRET[11:], "contains a non-ASCII character at character 12"),
        (SECRET[:3] + "\x00" + SECRET[3:], "contains a control character at character 4"),
        (SECRET[:3] + "\t" + SECRET[3:], "contains a control character at character 4"),
        (SECRET + "\x7f", "contains a control character at character 25"),
    ],
)
def test_unsendable_keys_are_refused_without_showing_any_part_of_them(
    key: str, problem: str
) -> None:
    with pytest.raises(CoinStatsConfigError) as raised:
        read(password=key)
    message = str(raised.value)
    assert message.startswith(
        "The API key of connection 'c' cannot be sent in an HTTP header, which takes printable "
        f"ASCII only: it {problem}. Paste the key again"
    )
    seen = chain_text(raised.value)
    for start in range(len(key) - 2):
        assert key[start : start + 3] not in seen, key[start : start + 3]


def test_surrounding_whitespace_is_trimmed_not_refused() -> None:
    assert read(password="\t " + SECRET + " \r\n").api_key == SECRET


def test_repr_never_shows_the_key() -> None:
    assert SECRET not in repr(read(password=SECRET))


# --- plain http ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "http://127.0.0.1:8765",
        "http://127.8.9.10:8765",
        "http://localhost:8765",
        "http://LOCALHOST.:8765",
        "http://[::1]:8765",
        "http://[::ffff:127.0.0.1]:8765",
        "127.0.0.1:8765",
    ],
)
def test_plain_http_to_this_machine_needs_no_opt_in(host: str) -> None:
    assert read(host=host).base_url.startswith("http://")


@pytest.mark.parametrize(
    "host",
    ["http://10.0.0.1:8765", "http://example.com", "http://[2001:db8::1]", "http://127.evil.io"],
)
def test_plain_http_elsewhere_needs_the_opt_in(host: str) -> None:
    message = refusal(host=host, password=SECRET)
    assert message.startswith(f"Base URL {host!r} of connection 'c' is plain http to ")
    assert "which is not this machine" in message
    assert '"allow_insecure_http": true' in message and "https://" in message
    assert SECRET not in message

    assert read({"allow_insecure_http": True}, host=host).base_url == host
    assert read({"allow_insecure_http": "1"}, host=host).allow_insecure_http is True


def test_https_needs_no_opt_in() -> None:
    assert read(host="https://10.0.0.1").base_url == "https://10.0.0.1"


# --- through the hook, from AIRFLOW_CONN_* ------------------------------------------------------


def test_hook_reads_every_extra_from_the_environment(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {"total_timeout": 45, "max_response_bytes": 4096, "allow_insecure_http": "false"}
    conn = {"conn_type": "coinstats", "host": sandbox.url, "password": TEST_KEY, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_CS_EXTRAS", json.dumps(conn))
    hook = CoinStatsHook(coinstats_conn_id="cs_extras")
    assert (hook.client.config.total_timeout, hook.client.config.max_response_bytes) == (45, 4096)
    assert hook.get_credit_usage().remaining_credits == 55_000


def test_hook_refuses_a_bad_key_before_any_request(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = TEST_KEY[:8] + "\r\nX-Injected: 1"
    conn = {"conn_type": "coinstats", "host": sandbox.url, "password": key}
    monkeypatch.setenv("AIRFLOW_CONN_CS_BADKEY", json.dumps(conn))
    with pytest.raises(
        CoinStatsConfigError,
        match=r"'cs_badkey' cannot be sent in an HTTP header.*: it contains a line break",
    ) as raised:
        CoinStatsHook(coinstats_conn_id="cs_badkey").get_credit_usage()
    assert TEST_KEY[:8] not in chain_text(raised.value)
    assert sandbox.count() == 0


def test_hook_refuses_plain_http_off_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "coinstats", "host": "http://10.0.0.1:8765", "password": TEST_KEY}
    monkeypatch.setenv("AIRFLOW_CONN_CS_PLAIN", json.dumps(conn))
    with pytest.raises(CoinStatsConfigError, match=r"'cs_plain' is plain http to 10\.0\.0\.1"):
        CoinStatsHook(coinstats_conn_id="cs_plain").get_credit_usage()


def test_hook_uri_with_host_and_port_apart_reaches_the_sandbox(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = sandbox.url.rsplit(":", 1)[1]
    uri = f"coinstats://:{TEST_KEY}@127.0.0.1:{port}?requests_per_second=1000"
    monkeypatch.setenv("AIRFLOW_CONN_CS_APART", uri)
    assert CoinStatsHook(coinstats_conn_id="cs_apart").get_credit_usage().total_credits == 100_000


def test_connection_test_never_names_the_ui_tests_temporary_id(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The api-server's Test exports the connection as AIRFLOW_CONN_<8 random letters/digits>.
    conn = {"conn_type": "coinstats", "host": sandbox.url, "password": "revoked-1234"}
    monkeypatch.setenv("AIRFLOW_CONN_CISVH4S3", json.dumps(conn))
    ok, message = CoinStatsHook(coinstats_conn_id="CiSVH4S3").test_connection()
    assert ok is False
    assert message.startswith("CoinStats rejected the API key of this connection (HTTP 401")
    assert "CiSVH4S3" not in message

    # A connection the user named keeps its name.
    monkeypatch.setenv("AIRFLOW_CONN_CS_NAMED", json.dumps(conn))
    _, named = CoinStatsHook(coinstats_conn_id="cs_named").test_connection()
    assert "rejected the API key of connection 'cs_named'" in named


extra_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=2),
)
# Words a message is made of anyway; a key that happens to be one of them proves nothing.
CONFIG_WORDS = (
    " The API key of connection 'c' contains a line break non-ASCII control character at "
    "is empty printable ASCII Paste the key again https://openapi.coinstats.app extra must be "
    "number of seconds from to up positive whole bytes true false one of api_key bearer got "
    "Connection host is not an http(s) URL; leave it empty for invalid port plain http "
)
EXTRAS = (
    "timeout",
    "total_timeout",
    "max_retries",
    "requests_per_second",
    "max_response_bytes",
    "allow_insecure_http",
    "auth_type",
)


@settings(max_examples=300, deadline=None)
@given(
    extra=st.dictionaries(st.sampled_from(EXTRAS), extra_values),
    host=st.one_of(st.none(), st.text(max_size=30), st.sampled_from(["http://10.0.0.1", "::1"])),
    port=st.one_of(st.none(), st.integers(min_value=-5, max_value=70_000)),
    password=st.text(max_size=30),
)
def test_any_connection_gives_a_config_or_a_config_error(
    extra: dict[str, Any], host: str | None, port: int | None, password: str
) -> None:
    try:
        config = read(extra, host=host, port=port, password=password)
    except CoinStatsConfigError as error:
        message = str(error)
        key = password.strip()
        if len(key) >= 3 and key not in f"{host!r} {port!r} {extra!r}" + CONFIG_WORDS:
            assert key not in message
    else:
        assert 0 < config.timeout <= config.total_timeout <= 86_400
        assert 0 <= config.max_retries <= 20
        assert 0.001 <= config.requests_per_second <= 100_000
        assert 1024 <= config.max_response_bytes <= 1024**3
        assert config.base_url.startswith(("http://", "https://"))
