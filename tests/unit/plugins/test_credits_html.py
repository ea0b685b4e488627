"""The page's HTML: figures in readable form, charts inline, every name escaped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow_provider_coinstats.plugins.credits_html import render_dag, render_overview
from airflow_provider_coinstats.plugins.credits_report import (
    connection_report,
    dag_report,
    parse_spend,
)

START = datetime(2026, 12, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)


def overview(**connection: object) -> dict[str, object]:
    return {
        "generated_at": (START + timedelta(days=3)).isoformat(),
        "period": {"start": START.isoformat(), "end": END.isoformat()},
        "connections": [connection],
        "links": {"dag": "/dags/{dag_id}/plugin/x"},
    }


def spent(dag_id: str, credits: float) -> object:
    value = {
        "version": 1,
        "state": "success",
        "ended_at": (START + timedelta(days=1)).isoformat(),
        "connections": {"c": {"credits": credits, "calls": 2, "endpoints": {}}},
    }
    return parse_spend(
        value, dag_id=dag_id, task_id="t<1>", run_id="r", map_index=-1, timestamp=START
    )


def test_overview_shows_figures_charts_and_escapes_names() -> None:
    report = connection_report(
        "c", period=(START, END), records=[spent("<b>evil</b>", 1250)], history=[], gates=[]
    )
    html = render_overview(overview(**report))
    assert "1,250" in html
    assert "<b>evil</b>" not in html and "&lt;b&gt;evil&lt;/b&gt;" in html
    assert 'class="chart remaining"' in html and 'class="chart bars"' in html
    assert "period ends 1 Jan 2027" in html
    assert "/dags/%3Cb%3Eevil%3C%2Fb%3E/plugin/x" in html
    assert "http" not in html.replace("http-equiv", "")  # nothing fetched from elsewhere


def test_a_connection_nothing_used_yet_is_named_in_one_line_not_drawn_as_an_empty_card() -> None:
    used = connection_report(
        "c", period=(START, END), records=[spent("d", 5)], history=[], gates=[]
    )
    unused = connection_report("fresh", period=(START, END), records=[], history=[], gates=[])
    report = {**overview(**used), "connections": [used, unused]}
    html = render_overview(report)
    assert 'id="conn-c"' in html and 'id="conn-fresh"' not in html
    assert "No readings, spend or waiting gates yet for: fresh." in html


def test_dag_links_open_this_apps_own_dag_page_inside_the_frame() -> None:
    report = connection_report(
        "c", period=(START, END), records=[spent("d", 5)], history=[], gates=[]
    )
    links = {"dag": "/dags/{dag_id}/plugin/x", "dag_page": "/coinstats/credits/dag/{dag_id}"}
    html = render_overview({**overview(**report), "links": links})
    assert '<a href="/coinstats/credits/dag/d">d</a>' in html
    assert "_top" not in html  # the UI's sandboxed iframe cannot navigate the page around it


def test_forecast_line_and_text_are_drawn_when_there_is_one() -> None:
    report = connection_report(
        "c",
        period=(START, END),
        records=[],
        history=[],
        gates=[],
        forecast={
            "text": "at the current rate credits run out on 19 Dec",
            "before_period_end": True,
            "line": [[START.isoformat(), 10], [END.isoformat(), 0]],
        },
    )
    html = render_overview(overview(**report))
    assert 'class="forecast late"' in html and "run out on 19 Dec" in html
    assert 'class="forecast" points=' in html


def test_dag_view_lists_tasks_and_runs() -> None:
    html = render_dag(dag_report("d", period=(START, END), records=[spent("d", 7)]))
    assert "t&lt;1&gt;" in html and ">7<" in html
    assert "spent no CoinStats credits" in render_dag(
        dag_report("x", period=(START, END), records=[])
    )
