"""CoinStatsOperator through the real hook against the sandbox: pagination, output to storage,
the XCom size guard, templating, and credit estimates set against the sandbox's charges."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_coinstats.credits.estimates import estimate_plan
from airflow_provider_coinstats.exceptions import CoinStatsConfigError
from airflow_provider_coinstats.operators.coinstats import CoinStatsOperator
from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor
from airflow_provider_coinstats.testing.sandbox import Sandbox
from airflow_provider_coinstats.testing.sandbox.data import COINS
from tests.conftest import TEST_KEY

EXAMPLE_DAGS = Path(__file__).resolve().parents[3] / "example_dags"
CTX: Any = {}


def run(**kwargs: Any) -> dict[str, Any]:
    result: dict[str, Any] = CoinStatsOperator(task_id="pull", **kwargs).execute(CTX)
    return result


def charged(sandbox: Sandbox) -> float:
    return sum(record.credits for record in sandbox.requests)


def pages_asked(sandbox: Sandbox) -> list[str]:
    return [record.query.get("page", "-") for record in sandbox.requests]


# ---------------------------------------------------------------- pagination


def test_walks_coins_to_the_last_page_and_logs_what_each_call_cost(
    coinstats_conn: Sandbox, task_logs: Any
) -> None:
    result = run(endpoint="/coins", query={"limit": 100}, paginate=True)
    assert pages_asked(coinstats_conn) == ["1", "2", "3"]  # meta.hasNextPage false on page 3
    assert [coin["id"] for coin in result["data"]] == [coin["id"] for coin in COINS]
    assert result["calls"] == 3 and result["items"] == 250 and result["truncated"] is False
    assert result["estimated_credits"] == 6 == charged(coinstats_conn)
    assert result["planned_credits"] == 20  # the default max_pages=10 pages x 2 credits
    logs = task_logs()
    assert "CoinStats GET /coins page 3: 2 credits (50 items)" in logs
    assert "CoinStats GET /coins: 3 calls cost 6 credits by the price list" in logs
    assert TEST_KEY not in logs + json.dumps(result)


def test_a_single_page_is_one_call(coinstats_conn: Sandbox) -> None:
    result = run(endpoint="/coins", query={"limit": 1000}, paginate=True)
    assert result["calls"] == 1 and result["items"] == 250
    assert coinstats_conn.count("/coins") == 1


def test_an_empty_result_ends_the_walk_after_one_call(coinstats_conn: Sandbox) -> None:
    result = run(endpoint="/coins", query={"name": "no-such-coin", "limit": 5}, paginate=True)
    assert result["data"] == [] and result["items"] == 0 and result["calls"] == 1
    assert coinstats_conn.count("/coins") == 1


def test_the_walk_starts_at_the_page_asked_for(coinstats_conn: Sandbox) -> None:
    result = run(endpoint="/coins", query={"limit": 100, "page": 2}, paginate=True)
    assert pages_asked(coinstats_conn) == ["2", "3"]
    assert result["data"][0]["rank"] == 101 and result["items"] == 150


def test_reaching_max_pages_warns_and_flags_the_result(
    coinstats_conn: Sandbox, task_logs: Any
) -> None:
    result = run(endpoint="/coins", query={"limit": 10}, paginate=True, max_pages=2)
    assert coinstats_conn.count("/coins") == 2
    assert result["truncated"] is True and result["items"] == 20
    assert result["estimated_credits"] == 4 == charged(coinstats_conn) == result["planned_credits"]
    assert "stopped at max_pages=2 (page 2) although more pages remain" in task_logs()


@pytest.mark.parametrize(
    ("limit", "pages"),
    [
        (25, ["1", "2", "3"]),  # 25 + 25 + 10: the short third page is the last
        (20, ["1", "2", "3", "4"]),  # 20 + 20 + 20 are all full: only the empty fourth tells
    ],
)
def test_answers_without_meta_end_on_a_short_or_empty_page(
    coinstats_conn: Sandbox, limit: int, pages: list[str]
) -> None:
    result = run(endpoint="/news", query={"limit": limit}, paginate=True)  # {"result": [...]}
    assert pages_asked(coinstats_conn) == pages
    assert result["items"] == 60 and result["truncated"] is False
    assert result["estimated_credits"] == 5 * len(pages) == charged(coinstats_conn)


class _ListPages:
    """A hook stand-in whose endpoint answers bare lists, as some CoinStats list endpoints do."""

    def __init__(self, pages: dict[int, list[int]]) -> None:
        self.pages = pages
        self.asked: list[int] = []

    def request(self, method: str, path: str, params: Any = None, json: Any = None) -> Any:
        self.asked.append(params["page"])
        return self.pages.get(params["page"], [])


@pytest.mark.parametrize(
    ("query", "pages", "asked"),
    [
        ({"limit": 2}, {1: [1, 2], 2: [3, 4], 3: [5]}, [1, 2, 3]),  # short page, no call more
        ({}, {1: [1, 2], 2: [3, 4], 3: [5]}, [1, 2, 3, 4]),  # no limit known: empty page ends
    ],
)
def test_bare_list_pages(
    query: dict[str, Any], pages: dict[int, list[int]], asked: list[int]
) -> None:
    operator = CoinStatsOperator(task_id="t", endpoint="/nft/trending", query=query, paginate=True)
    operator.hook = _ListPages(pages)  # type: ignore[assignment]
    result = operator.execute(CTX)
    assert operator.hook.asked == asked  # type: ignore[attr-defined]
    assert result["data"] == [1, 2, 3, 4, 5] and result["estimated_credits"] == 2 * len(asked)


def test_paginating_an_answer_without_pages_is_a_clear_error(coinstats_conn: Sandbox) -> None:
    with pytest.raises(
        CoinStatsConfigError,
        match=r"GET /markets answered dict without a "
        r"'result' list.*set paginate=False",
    ):
        run(endpoint="/markets", paginate=True)


# ---------------------------------------------------------------- output


def test_output_path_writes_to_object_storage_and_skips_the_xcom_guard(
    coinstats_conn: Sandbox, tmp_path: Path, task_logs: Any
) -> None:
    url = f"file://{tmp_path}/market/2026-01-02/coins.json"
    result = run(
        endpoint="/coins", query={"limit": 100}, paginate=True, output_path=url, max_xcom_bytes=100
    )
    assert result["output_path"] == url and "data" not in result
    written = ObjectStoragePath(url)
    coins = json.loads(written.read_text())
    assert [coin["id"] for coin in coins] == [coin["id"] for coin in COINS]
    assert written.stat().st_size == result["bytes"]
    assert f"wrote {result['bytes']:,} bytes to {url}" in task_logs()


def test_a_plain_absolute_path_is_written_as_a_file_url(
    coinstats_conn: Sandbox, tmp_path: Path
) -> None:
    result = run(endpoint="/markets", output_path=str(tmp_path / "markets.json"))
    assert result["output_path"] == f"file://{tmp_path}/markets.json"
    assert json.loads((tmp_path / "markets.json").read_text())["btcDominance"] > 0


def test_a_relative_output_path_is_refused_before_any_call(coinstats_conn: Sandbox) -> None:
    with pytest.raises(CoinStatsConfigError, match=r"'out/coins\.json' is relative"):
        run(endpoint="/markets", output_path="out/coins.json")
    operator = CoinStatsOperator(task_id="t", endpoint="/markets", output_path="{{ ds }}.json")
    operator.output_path = "2026-01-02.json"  # what rendering produced
    with pytest.raises(CoinStatsConfigError, match="is relative"):
        operator.execute(CTX)
    assert coinstats_conn.count() == 0


def test_xcom_guard_stops_a_walk_as_soon_as_the_result_is_too_big(coinstats_conn: Sandbox) -> None:
    with pytest.raises(AirflowFailException) as caught:
        run(endpoint="/coins", query={"limit": 100}, paginate=True, max_xcom_bytes=50_000)
    message = str(caught.value)
    assert "over max_xcom_bytes=50,000" in message and "Set output_path" in message
    assert "1 call(s) so far cost 2 credits" in message
    assert coinstats_conn.count("/coins") == 1  # pages 2 and 3 were never bought


def test_xcom_guard_names_the_size_of_a_single_answer(coinstats_conn: Sandbox) -> None:
    size = len(
        json.dumps(run(endpoint="/coins", query={"limit": 20})["data"], separators=(",", ":"))
    )
    with pytest.raises(
        AirflowFailException,
        match=rf"is {size:,} bytes of JSON, over "
        r"max_xcom_bytes=1,000\. Set output_path",
    ):
        run(endpoint="/coins", query={"limit": 20}, max_xcom_bytes=1_000)


# ---------------------------------------------------------------- templating and validation


def test_endpoint_query_json_and_output_path_are_templated(
    coinstats_conn: Sandbox, tmp_path: Path
) -> None:
    assert {"endpoint", "query", "json", "output_path"} <= set(CoinStatsOperator.template_fields)
    context: Any = {"params": {"coin": "bitcoin", "cur": "EUR", "pid": "p-42"}, "ds": "2026-01-02"}
    coin = CoinStatsOperator(
        task_id="coin",
        endpoint="/coins/{{ params.coin }}",
        query={"currency": "{{ params.cur }}"},
        output_path=f"file://{tmp_path}/{{{{ ds }}}}/coin.json",
    )
    coin.render_template_fields(context)
    result = coin.execute(context)
    assert coinstats_conn.requests[-1].path == "/coins/bitcoin"
    assert coinstats_conn.requests[-1].query == {"currency": "EUR"}
    assert result["output_path"] == f"file://{tmp_path}/2026-01-02/coin.json"

    # Without portfolioId in the body, PATCH /portfolio/sync costs 10x (300): 30 proves the
    # rendered body reached both the estimate and the request.
    sync = CoinStatsOperator(
        task_id="sync",
        method="PATCH",
        endpoint="/portfolio/sync",
        json={"portfolioId": "{{ params.pid }}"},
    )
    sync.render_template_fields(context)
    assert sync.json == {"portfolioId": "p-42"}
    assert sync.execute(context)["estimated_credits"] == 30 == coinstats_conn.requests[-1].credits


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"endpoint": "/coins", "method": "FETCH"}, "method must be one of"),
        ({"endpoint": "/coins", "max_pages": 0}, "max_pages must be a positive integer"),
        ({"endpoint": "/coins", "max_pages": True}, "max_pages must be a positive integer"),
        ({"endpoint": "/coins", "max_xcom_bytes": -1}, "max_xcom_bytes must be a positive"),
        ({"endpoint": "/coins?limit=5"}, "pass query parameters as query="),
        ({"endpoint": ""}, "endpoint should be an API path"),
        ({"endpoint": "/no/such/thing"}, r'price_overrides=\{"GET /no/such/thing"'),
    ],
)
def test_bad_settings_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(CoinStatsConfigError, match=expected):
        CoinStatsOperator(task_id="t", **kwargs)


def test_init_is_cheap_and_overrides_price_new_endpoints(coinstats_conn: Sandbox) -> None:
    operator = CoinStatsOperator(
        task_id="t", endpoint="/no/such/thing", price_overrides={"GET /no/such/thing": 7}
    )
    assert "hook" not in operator.__dict__  # no connection looked up while parsing
    assert coinstats_conn.count() == 0
    CoinStatsOperator(task_id="templated", endpoint="{{ params.endpoint }}")  # checked later


def test_a_query_rendered_to_a_string_is_a_clear_error(coinstats_conn: Sandbox) -> None:
    operator = CoinStatsOperator(task_id="t", endpoint="/coins", query="{{ params.q }}")  # type: ignore[arg-type]
    operator.query = "{'limit': 5}"  # type: ignore[assignment]
    with pytest.raises(CoinStatsConfigError, match="template its values, not the whole mapping"):
        operator.execute(CTX)
    assert coinstats_conn.count() == 0


# ---------------------------------------------------------------- estimates, plans and charges


def test_planned_calls_feed_the_gate(coinstats_conn: Sandbox) -> None:
    pull = CoinStatsOperator(
        task_id="pull", endpoint="/coins", query={"limit": 100}, paginate=True, max_pages=4
    )
    balances = CoinStatsOperator(
        task_id="balances",
        endpoint="/wallet/balances",
        query={"address": "0xabc", "networks": "ethereum,polygon,all"},
    )
    assert estimate_plan(pull.planned_calls()) == 8  # 4 pages x 2 credits
    assert estimate_plan(balances.planned_calls()) == 40 * (1 + 1 + 10)  # "all" counts 10
    gate = CreditBudgetSensor(
        task_id="gate", required_credits=pull.planned_calls() + balances.planned_calls()
    )
    assert gate.poke(CTX).xcom_value["required_credits"] == 8 + 480


def _example_operators(tmp_path: Path) -> list[tuple[CoinStatsOperator, Any, Any]]:
    """Every CoinStatsOperator of the example DAGs, rendered as a run would render it, with the
    gate that guards it."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined]

    found = []
    for dag in DagBag(dag_folder=str(EXAMPLE_DAGS)).dags.values():
        context: Any = {
            "params": {name: dag.params[name] for name in dag.params},
            "ds": "2026-01-02",
            "var": {"value": {"coinstats_output_root": f"file://{tmp_path}"}},
        }
        for task in dag.tasks:
            if isinstance(task, CoinStatsOperator):
                gates = [t for t in task.upstream_list if isinstance(t, CreditBudgetSensor)]
                task.render_template_fields(context)
                found.append((task, gates, context))
    return found


def test_estimates_equal_sandbox_charges_for_every_example_call(
    coinstats_conn: Sandbox, tmp_path: Path
) -> None:
    estimates = {}
    for operator, gates, context in _example_operators(tmp_path):
        coinstats_conn.clear_requests()
        result = operator.execute(context)
        assert result["estimated_credits"] == charged(coinstats_conn), operator.task_id
        assert result["estimated_credits"] <= result["planned_credits"], operator.task_id
        # The example's gate prices the very calls the operator plans.
        assert len(gates) == 1, operator.task_id
        assert estimate_plan(gates[0].required_credits) == result["planned_credits"]
        estimates[f"{operator.method} {operator.endpoint}"] = result["estimated_credits"]
    # 3 pages of /coins at 2 credits; /wallet/balances on 3 networks at 40 credits each.
    assert estimates == {"GET /coins": 6, "GET /wallet/balances": 120}
