"""The credits page as one self-contained HTML document: inline CSS and SVG charts, no script,
no CDN, so it renders offline and inside the Airflow UI's plugin iframe alike.

Input is the JSON the page's API also returns (:mod:`.credits_report`); every value is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote

STYLE = """
:root { color-scheme: light dark; --fg:#1a202c; --muted:#4a5568; --line:#e2e8f0; --card:#fff;
  --bg:#f7fafc; --accent:#017cee; --warn:#c05621; --ok:#2f855a; --bar:#4299e1; }
@media (prefers-color-scheme: dark) { :root { --fg:#e2e8f0; --muted:#a0aec0; --line:#2d3748;
  --card:#1a202c; --bg:#11151c; --bar:#63b3ed; } }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
  padding: 16px 20px; color: var(--fg); background: var(--bg); }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 0 0 8px; }
h3 { font-size: 14px; margin: 16px 0 6px; color: var(--muted); text-transform: uppercase;
  letter-spacing: .04em; }
.sub { color: var(--muted); margin: 0 0 16px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  padding: 16px; margin-bottom: 16px; }
.figures { display: flex; gap: 28px; flex-wrap: wrap; margin-bottom: 8px; }
.figure b { display: block; font-size: 22px; } .figure span { color: var(--muted); }
.meter { height: 8px; background: var(--line); border-radius: 4px; overflow: hidden;
  margin: 6px 0 12px; max-width: 560px; } .meter i { display: block; height: 100%;
  background: var(--accent); }
.forecast { margin: 4px 0 8px; } .forecast.late { color: var(--warn); font-weight: 600; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 16px; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left;
  padding: 4px 8px; border-bottom: 1px solid var(--line); } td.n, th.n { text-align: right;
  font-variant-numeric: tabular-nums; } th { color: var(--muted); font-weight: 600; }
svg text { fill: var(--muted); font-size: 11px; } .empty { color: var(--muted); }
a { color: var(--accent); }
"""


def render_overview(report: Mapping[str, Any]) -> str:
    """The nav page: one card per connection that has figures; the connections nothing has
    used yet (no reading, no spend, no gate) are named in one line below them."""
    used = [c for c in report["connections"] if _has_figures(c)]
    unused = [c["conn_id"] for c in report["connections"] if not _has_figures(c)]
    cards = [_connection_card(c, report["links"]) for c in used]
    if unused:
        cards.append(
            '<p class="empty unused">No readings, spend or waiting gates yet for: '
            + ", ".join(escape(conn_id) for conn_id in unused)
            + ".</p>"
        )
    if not used:
        cards = [
            '<div class="card empty">No CoinStats spend, readings or gates recorded yet. Run a '
            "DAG that uses the CoinStats provider and come back.</div>"
        ]
    return _page(
        "CoinStats credits",
        f"Billing period {_day(report['period']['start'])} to {_day(report['period']['end'])}"
        f" · as of {_moment(report['generated_at'])}",
        "".join(cards),
    )


def render_dag(report: Mapping[str, Any]) -> str:
    """The per-DAG view: that DAG's spend in the period, per connection, task and run."""
    dag_id = report["dag_id"]
    parts = []
    for conn_id, spend in report["connections"].items():
        parts.append(
            f'<div class="card"><h2>{escape(conn_id)}</h2>'
            f"{_figures([(_n(spend['credits']), 'credits spent'), (_n(spend['calls']), 'calls')])}"
            f'<div class="grid"><div>{_task_table(spend["by_task"], with_dag=False)}</div>'
            f"<div>{_bars([(t['task_id'], t['credits']) for t in spend['by_task']], 'task')}</div>"
            f"</div>{_endpoint_table(spend['by_endpoint'])}</div>"
        )
    if report["runs"]:
        rows = "".join(
            f"<tr><td>{escape(r['run_id'])}</td><td>{_moment(r['ended_at'])}</td>"
            f'<td class="n">{_n(r["credits"])}</td><td class="n">{_n(r["calls"])}</td></tr>'
            for r in report["runs"][:50]
        )
        parts.append(
            '<div class="card"><h3>Runs</h3><table><tr><th>Run</th><th>Last task ended</th>'
            f'<th class="n">Credits</th><th class="n">Calls</th></tr>{rows}</table></div>'
        )
    if not parts:
        parts = [
            f'<div class="card empty">{escape(dag_id)} spent no CoinStats credits in this '
            "billing period.</div>"
        ]
    return _page(
        f"CoinStats credits: {dag_id}",
        f"Billing period {_day(report['period']['start'])} to {_day(report['period']['end'])}",
        "".join(parts),
    )


def _has_figures(c: Mapping[str, Any]) -> bool:
    drawn = bool((c.get("forecast") or {}).get("line"))
    return c["remaining"] is not None or bool(c["spend"]["calls"]) or bool(c["gates"]) or drawn


def _connection_card(c: Mapping[str, Any], links: Mapping[str, str]) -> str:
    spend = c["spend"]
    remaining, total = c["remaining"], c["total"]
    figures = [
        (escape(str(c["plan"] or "unknown")), "plan"),
        (
            f"{_n(remaining)} <small>of {_n(total)}</small>" if remaining is not None else "?",
            "credits left" + (f" · read {_moment(c['read_at'])}" if c["read_at"] else ""),
        ),
        (_n(spend["credits"]), f"spent this period in {_n(spend['calls'])} calls"),
        (str(len(c["gates"])), "gates waiting"),
    ]
    meter = ""
    if remaining is not None and total:
        share = max(0.0, min(1.0, remaining / total))
        meter = (
            f'<div class="meter" title="{share:.0%} left"><i style="width:{share:.1%}"></i></div>'
        )
    forecast = c["forecast"]
    forecast_line = ""
    if forecast and forecast.get("text"):
        late = " late" if forecast.get("before_period_end") else ""
        forecast_line = f'<p class="forecast{late}">{escape(forecast["text"])}</p>'
    dag_link = links.get("dag_page", links["dag"])
    by_dag = "".join(
        f'<tr><td><a href="{escape(dag_link.format(dag_id=quote(d["dag_id"], safe="")))}">'
        f'{escape(d["dag_id"])}</a></td><td class="n">{_n(d["credits"])}</td>'
        f'<td class="n">{_n(d["calls"])}</td><td class="n">{d["runs"]}</td></tr>'
        for d in spend["by_dag"]
    )
    dag_table = (
        "<table><tr><th>DAG</th><th class=n>Credits</th><th class=n>Calls</th>"
        f"<th class=n>Runs</th></tr>{by_dag}</table>"
        if by_dag
        else '<p class="empty">Nothing spent this period.</p>'
    )
    dag_bars = [(d["dag_id"], d["credits"]) for d in spend["by_dag"]]
    task_bars = [(t["task_id"], t["credits"]) for t in spend["by_task"]]  # DAGs: the table
    return (
        f'<div class="card" id="conn-{escape(c["conn_id"])}"><h2>{escape(c["conn_id"])}</h2>'
        f"{_figures(figures)}{meter}{forecast_line}"
        f"<h3>Remaining credits this period</h3>{_line_chart(c)}"
        f'<div class="grid"><div><h3>Spend per DAG</h3>{dag_table}</div>'
        f"<div><h3>&nbsp;</h3>{_bars(dag_bars, 'DAG')}"
        f"</div></div>"
        f'<div class="grid"><div><h3>Spend per task</h3>{_task_table(spend["by_task"])}</div>'
        "<div><h3>&nbsp;</h3>"
        f"{_bars(task_bars, 'task')}"
        f"</div></div>{_gates_table(c['gates'])}</div>"
    )


def _figures(items: Sequence[tuple[str, str]]) -> str:
    return (
        '<div class="figures">'
        + "".join(
            f'<div class="figure"><b>{value}</b><span>{label}</span></div>'
            for value, label in items
        )
        + "</div>"
    )


def _task_table(rows: Sequence[Mapping[str, Any]], *, with_dag: bool = True) -> str:
    if not rows:
        return '<p class="empty">Nothing spent this period.</p>'
    head = "<th>DAG</th>" if with_dag else ""
    body = "".join(
        "<tr>"
        + (f"<td>{escape(r['dag_id'])}</td>" if with_dag else "")
        + f'<td>{escape(r["task_id"])}</td><td class="n">{_n(r["credits"])}</td>'
        f'<td class="n">{_n(r["calls"])}</td><td class="n">{r["runs"]}</td></tr>'
        for r in rows
    )
    return (
        f"<table><tr>{head}<th>Task</th><th class=n>Credits</th><th class=n>Calls</th>"
        f"<th class=n>Runs</th></tr>{body}</table>"
    )


def _endpoint_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return ""
    body = "".join(
        f'<tr><td>{escape(r["endpoint"])}</td><td class="n">{_n(r["credits"])}</td>'
        f'<td class="n">{_n(r["calls"])}</td></tr>'
        for r in rows
    )
    return (
        "<h3>Per endpoint</h3><table><tr><th>Endpoint</th><th class=n>Credits</th>"
        f"<th class=n>Calls</th></tr>{body}</table>"
    )


def _gates_table(gates: Sequence[Mapping[str, Any]]) -> str:
    if not gates:
        return '<h3>Gates waiting now</h3><p class="empty">No credit gate is waiting.</p>'
    body = "".join(
        f"<tr><td>{escape(g['dag_id'])}</td><td>{escape(g['task_id'])}</td>"
        f"<td>{escape(g['run_id'])}</td><td>{escape(g['state'])}</td>"
        f'<td class="n">{_n(g["required_credits"])}</td>'
        f'<td class="n">{_n(g["min_remaining_credits"])}</td>'
        f'<td class="n">{_n(g["short_by"])}</td></tr>'
        for g in gates
    )
    return (
        "<h3>Gates waiting now</h3><table><tr><th>DAG</th><th>Task</th><th>Run</th>"
        "<th>State</th><th class=n>Needs</th><th class=n>+ reserve</th>"
        f"<th class=n>Short by</th></tr>{body}</table>"
    )


def _line_chart(c: Mapping[str, Any]) -> str:
    """Remaining credits over the period (solid), the forecast (dashed), the period end."""
    width, height, left, bottom, top, right = 1000, 260, 56, 22, 10, 12
    start = _ts(c["period"]["start"])
    end = _ts(c["period"]["end"])
    points = [(_ts(at), value) for at, value in c["history"]]
    forecast = (c["forecast"] or {}).get("line") or []
    line2 = [(_ts(at), value) for at, value in forecast]
    ceiling = c["total"] or max([v for _, v in points + line2] or [1]) or 1
    span = max(end - start, 1.0)

    def x(t: float) -> float:
        return left + (min(max(t, start), end) - start) / span * (width - left - right)

    def y(v: float) -> float:
        return top + (1 - max(0.0, min(v, ceiling)) / ceiling) * (height - top - bottom)

    parts = [
        f'<svg class="chart remaining" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="Remaining credits over the billing period">'
    ]
    for share in (0, 0.5, 1):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(ceiling * share):.1f}" '
            f'y2="{y(ceiling * share):.1f}" stroke="currentColor" stroke-opacity=".12"/>'
            f'<text x="{left - 6}" y="{y(ceiling * share) + 4:.1f}" text-anchor="end">'
            f"{_short(ceiling * share)}</text>"
        )
    parts.append(
        f'<text x="{left}" y="{height - 6}">{_day(c["period"]["start"])}</text>'
        f'<line class="period-end" x1="{x(end):.1f}" x2="{x(end):.1f}" y1="{top}" '
        f'y2="{height - bottom}" stroke="#c05621" stroke-dasharray="2 3"/>'
        f'<text x="{width - right}" y="{height - 6}" text-anchor="end">period ends '
        f"{_day(c['period']['end'])}</text>"
    )
    if points:
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
        parts.append(
            f'<polyline class="history" points="{coords}" fill="none" stroke="#017cee" '
            'stroke-width="2"/>'
        )
        tx, tv = points[-1]
        parts.append(f'<circle cx="{x(tx):.1f}" cy="{y(tv):.1f}" r="3" fill="#017cee"/>')
    else:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no credit readings '
            "recorded in this period yet</text>"
        )
    if len(line2) >= 2:
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in line2)
        parts.append(
            f'<polyline class="forecast" points="{coords}" fill="none" stroke="#c05621" '
            'stroke-width="2" stroke-dasharray="6 4"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _bars(rows: Sequence[tuple[str, float]], what: str) -> str:
    """A horizontal bar per row, longest first (rows come ranked)."""
    rows = [r for r in rows if r[1] > 0][:15]
    if not rows:
        return ""
    width, bar, gap, label_w = 560, 16, 6, 260
    height = len(rows) * (bar + gap) + gap
    top = max(v for _, v in rows)
    parts = [
        f'<svg class="chart bars" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="Credits per {escape(what)}">'
    ]
    for i, (name, value) in enumerate(rows):
        y0 = gap + i * (bar + gap)
        w = max(1.0, value / top * (width - label_w - 60))
        label = name if len(name) <= 38 else name[:37] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y0 + 12}" text-anchor="end">{escape(label)}'
            f"<title>{escape(name)}</title></text>"
            f'<rect x="{label_w}" y="{y0}" width="{w:.1f}" height="{bar}" rx="3" '
            f'fill="var(--bar)"/><text x="{label_w + w + 4:.1f}" y="{y0 + 12}">{_n(value)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _page(title: str, subtitle: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f'<h1>{escape(title)}</h1><p class="sub">{escape(subtitle)}</p>{body}</body></html>'
    )


def _n(value: float | None) -> str:
    """A credit figure as people read it: 126, 1,250, 0.5; a dash when unknown."""
    if value is None:
        return "&ndash;"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _short(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _day(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%-d %b %Y")


def _moment(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%-d %b %H:%M UTC")
