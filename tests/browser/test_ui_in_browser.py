"""The provider in the Airflow UI, as a person uses it: Debian's chromium, driven by Playwright,
against a real Airflow (see conftest.py) and the CoinStats sandbox.

Each step writes a screenshot to ``tests/browser/screenshots/<test name>/``.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

from airflow_provider_coinstats.api.config import DEFAULT_BASE_URL
from airflow_provider_coinstats.get_provider_info import get_provider_info
from airflow_provider_coinstats.plugins.coinstats import DAG_VIEW_ROUTE
from airflow_provider_coinstats.testing.sandbox import Sandbox
from tests.browser.conftest import EXAMPLE_DAG_IDS, SANDBOX_KEY, AirflowUI, Shots, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import FrameLocator, Locator, Page

pytestmark = [pytest.mark.browser, pytest.mark.integration]

#: What get_provider_info declares for the form: the UI must show exactly this.
_CONNECTION_TYPE = get_provider_info()["connection-types"][0]
_BEHAVIOUR = _CONNECTION_TYPE["ui-field-behaviour"]
_EXTRA_FIELDS = _CONNECTION_TYPE["conn-fields"]
#: The example DAG whose only task reads the credits (free): run last, its reading is the final one.
READING_DAG_ID = "example_coinstats_credit_usage"
#: Every example DAG runs once as soon as it is parsed: a few minutes on a loaded machine.
RUNS_DEADLINE_SECONDS = 900


def _open_add_connection_form(page: Page, airflow_ui: AirflowUI, shots: Shots) -> None:
    from playwright.sync_api import expect

    page.goto(airflow_ui.url)
    page.get_by_role("button", name="Admin").click()
    page.get_by_role("menuitem", name="Connections").click()
    expect(page).to_have_url(re.compile(r"/connections$"))
    shots.take("connections-list")
    page.get_by_role("button", name="Add Connection").click()
    expect(page.get_by_role("dialog")).to_be_visible()


def _pick_coinstats(page: Page) -> None:
    combo = page.get_by_role("combobox", name="Connection Type")
    combo.fill("CoinStats")
    page.get_by_role("option", name="CoinStats", exact=True).click()


def _add_connection(page: Page, airflow_ui: AirflowUI, *, conn_id: str, url: str, key: str) -> None:
    """Fill in and save a CoinStats connection, as on the form's first visit."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=connection_id]").fill(conn_id)
    _pick_coinstats(page)
    _fill_standard_fields(page, url=url, key=key)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(_row(page, conn_id)).to_be_visible()


def _fill_standard_fields(page: Page, *, url: str, key: str) -> None:
    dialog = page.get_by_role("dialog")
    standard = dialog.get_by_role("button", name="Standard Fields", exact=True)
    if standard.get_attribute("aria-expanded") != "true":  # one section open at a time
        standard.click()
    dialog.locator("input[name=host]").fill(url)
    dialog.locator("input[name=password]").fill(key)
    # Airflow 3.3's list Test button needs a stored port (see the field's placeholder).
    dialog.locator("input[name=port]").fill(url.rsplit(":", 1)[1])


def _as_typed(number: float) -> str:
    """A number as the form's number input shows it: 30.0 as "30", 10485760 in full."""
    return str(int(number)) if float(number).is_integer() else str(number)


def _row(page: Page, conn_id: str) -> Locator:
    return page.get_by_role("row").filter(has_text=conn_id)


def test_connection_form_save_and_test(
    page: Page, airflow_ui: AirflowUI, shots: Shots, browser_sandbox: Sandbox
) -> None:
    from playwright.sync_api import expect

    _open_add_connection_form(page, airflow_ui, shots)
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=connection_id]").fill("coinstats_browser")
    _pick_coinstats(page)

    # The standard fields, relabelled, with their placeholders; login and schema hidden.
    labels = _BEHAVIOUR["relabeling"]
    placeholders = _BEHAVIOUR["placeholders"]
    host = dialog.locator("input[name=host]")
    key = dialog.locator("input[name=password]")
    port = dialog.locator("input[name=port]")
    expect(dialog.get_by_text(labels["host"], exact=True)).to_be_visible()
    expect(dialog.get_by_text(labels["password"], exact=True)).to_be_visible()
    expect(host).to_have_attribute("placeholder", DEFAULT_BASE_URL)
    expect(key).to_have_attribute("placeholder", placeholders["password"])
    expect(port).to_have_attribute("placeholder", placeholders["port"])
    expect(key).to_have_attribute("type", "password")  # masked
    for hidden in _BEHAVIOUR["hidden-fields"]:
        expect(dialog.locator(f"input[name={hidden}]")).to_have_count(0)
    shots.take("add-coinstats-standard-fields")

    # The typed extras: every conn-field with its label, description and default.
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    for field in _EXTRA_FIELDS.values():
        expect(dialog.get_by_text(field["label"], exact=True)).to_be_visible()
        expect(dialog.get_by_text(field["description"], exact=True)).to_be_visible()
        schema = field["schema"]
        if "number" in schema["type"] or "integer" in schema["type"]:
            expect(dialog.get_by_label(field["label"], exact=True)).to_have_value(
                _as_typed(schema["default"])
            )
    expect(dialog.locator("input[name=element_auth_type]")).to_have_value(
        _EXTRA_FIELDS["auth_type"]["schema"]["default"]
    )
    shots.take("add-coinstats-extra-fields")

    # Save one to the sandbox; the key stays masked as it is typed.
    _fill_standard_fields(page, url=browser_sandbox.url, key=SANDBOX_KEY)
    expect(key).to_have_attribute("type", "password")
    shots.take("add-coinstats-filled")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    row = _row(page, "coinstats_browser")
    expect(row).to_be_visible()
    shots.take("saved")

    # Test: the hook reads the sandbox's credits and says so.
    row.get_by_role("button", name=re.compile("test", re.IGNORECASE)).click()
    expect(page.get_by_text("Test Connection Successful")).to_be_visible()
    success = page.get_by_text("Connection works.")
    # The example DAGs spend meanwhile (conftest), so the figure left moves; the total does not.
    expect(success).to_have_text(
        re.compile(r"Connection works\. CoinStats PRO: [\d,]+ of 100,000 credits left")
    )
    success.hover()  # a toast stays while the pointer is on it: the screenshot shows it
    shots.take("test-success")

    # A wrong key: the Test names the problem, a rejected key, and never shows the key.
    _add_connection(
        page, airflow_ui, conn_id="coinstats_wrong_key", url=browser_sandbox.url, key="wrong-key"
    )
    wrong = _row(page, "coinstats_wrong_key")
    wrong.get_by_role("button", name=re.compile("test", re.IGNORECASE)).click()
    expect(page.get_by_text("Test Connection Failed")).to_be_visible()
    failure = page.get_by_text("CoinStats rejected the API key")
    expect(failure).to_be_visible()
    failure.hover()
    assert "wrong-key" not in failure.inner_text()
    shots.take("test-wrong-key")


def _terminal_runs(airflow_ui: AirflowUI) -> dict[str, str] | None:
    """The state of each example DAG's newest run once every run has finished, else None."""
    rows = airflow_ui.deployment.query(
        "SELECT dag_id, state FROM dag_run WHERE dag_id IN "
        f"({', '.join('?' * len(EXAMPLE_DAG_IDS))}) ORDER BY id",
        *EXAMPLE_DAG_IDS,
    )
    states = dict(rows)
    if set(states) != set(EXAMPLE_DAG_IDS):
        return None
    if any(state not in ("success", "failed") for _, state in rows):
        return None
    return states


def _wait_for_example_runs(airflow_ui: AirflowUI) -> dict[str, str]:
    """Wait until the scheduler has run every example DAG once (they are unpaused on parse)."""

    def finished() -> dict[str, str] | None:
        airflow_ui.check_alive()
        return _terminal_runs(airflow_ui)

    try:
        return wait_until("every example DAG to finish one run", finished, _deadline())
    except AssertionError as error:
        states = airflow_ui.deployment.query("SELECT dag_id, task_id, state FROM task_instance")
        raise AssertionError(f"{error}\ntasks: {states}\n{airflow_ui.logs()}") from None


def _run_once_more(airflow_ui: AirflowUI, dag_id: str) -> str:
    """Trigger a run of ``dag_id`` (as the UI's Trigger button does) and wait for its end."""
    run = airflow_ui.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None})
    path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run['dag_run_id'], safe='')}"

    def finished() -> str | None:
        airflow_ui.check_alive()
        state: str = airflow_ui.api("GET", path)["state"]
        return state if state in ("success", "failed") else None

    return wait_until(f"{dag_id}'s triggered run", finished, _deadline())


def _deadline() -> float:
    return time.monotonic() + RUNS_DEADLINE_SECONDS


def _charged_by_endpoint(sandbox: Sandbox) -> dict[str, float]:
    charged: dict[str, float] = {}
    for record in sandbox.requests:
        if record.credits:
            key = record.endpoint or f"{record.method} {record.path}"
            charged[key] = charged.get(key, 0) + record.credits
    return charged


def _table(frame: FrameLocator | Locator, heading: str) -> list[list[str]]:
    """The rows (cells' text) of the table after the ``<h3>`` named ``heading``."""
    table = frame.locator(f"h3:text-is('{heading}') + table").first
    return [
        [cell.strip() for cell in row.locator("td").all_inner_texts()]
        for row in table.locator("tr").all()
        if row.locator("td").count()
    ]


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def test_credits_page_shows_what_the_sandbox_charged(
    page: Page, airflow_ui: AirflowUI, shots: Shots, browser_sandbox: Sandbox
) -> None:
    from playwright.sync_api import expect

    states = _wait_for_example_runs(airflow_ui)
    assert set(states.values()) == {"success"}, states
    # One more reading after every charge: the page's "left" figure is then the sandbox's own.
    assert _run_once_more(airflow_ui, READING_DAG_ID) == "success"
    charged = _charged_by_endpoint(browser_sandbox)
    total_charged = sum(charged.values())
    usage = browser_sandbox.usage()
    assert total_charged > 0

    # The page, as a user reaches it: Browse -> CoinStats credits.
    page.goto(airflow_ui.url)
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="CoinStats credits").click()
    frame = page.frame_locator("iframe")
    card = frame.locator("#conn-coinstats_default")
    expect(card).to_be_visible()
    shots.take("credits-page")

    figures = dict(
        zip(
            card.locator(".figure span").all_inner_texts(),
            card.locator(".figure b").all_inner_texts(),
            strict=True,
        )
    )
    assert figures["plan"] == usage["subscription"]
    left_label = next(label for label in figures if label.startswith("credits left"))
    assert figures[left_label] == (f"{usage['remainingCredits']:,} of {usage['totalCredits']:,}"), (
        figures
    )
    spent_label = next(label for label in figures if label.startswith("spent this period"))
    assert _number(figures[spent_label]) == total_charged, (figures, charged)
    expect(card.locator("svg.remaining polyline.history")).to_be_attached()

    by_dag = {row[0]: _number(row[1]) for row in _table(card, "Spend per DAG")}
    assert sum(by_dag.values()) == total_charged, by_dag
    assert set(by_dag) <= set(EXAMPLE_DAG_IDS)
    assert {"example_coinstats_market_pull", "example_coinstats_wallet_balances"} <= set(by_dag)

    # Every DAG's own view, a tab of its DAG page; their per-endpoint figures add up to what
    # the sandbox charged.
    seen: dict[str, float] = {}
    for dag_id in sorted(by_dag):
        view = _open_dag_view(page, airflow_ui, dag_id)
        shots.take(f"dag-view-{dag_id}")
        spent = view.locator(".figure b").first.inner_text()
        assert _number(spent) == by_dag[dag_id], (dag_id, spent)
        for endpoint, credits, _calls in _table(view, "Per endpoint"):
            seen[endpoint] = seen.get(endpoint, 0) + _number(credits)
    assert seen == charged


def _open_dag_view(page: Page, airflow_ui: AirflowUI, dag_id: str) -> FrameLocator:
    """A DAG's page, then its "CoinStats credits" tab (the plugin's ``dag`` external view)."""
    from playwright.sync_api import expect

    page.goto(f"{airflow_ui.url}/dags/{dag_id}")
    page.get_by_role("link", name="CoinStats credits", exact=True).click()
    expect(page).to_have_url(re.compile(f"/dags/{dag_id}/plugin/{DAG_VIEW_ROUTE}"))
    view = page.frame_locator("iframe")
    expect(view.get_by_role("heading", name=f"CoinStats credits: {dag_id}")).to_be_visible()
    return view


def test_credits_page_links_to_the_dag_view(page: Page, airflow_ui: AirflowUI) -> None:
    from playwright.sync_api import expect

    dag_id = "example_coinstats_wallet_balances"
    _wait_for_example_runs(airflow_ui)
    page.goto(f"{airflow_ui.url}/plugin/coinstats-credits")
    link = page.frame_locator("iframe").get_by_role("link", name=dag_id, exact=True).first
    expect(link).to_be_visible()
    link.click()
    # The UI shows plugin views in a sandboxed iframe: the link opens the DAG's view inside it.
    view = page.frame_locator("iframe")
    heading = view.get_by_role("heading", name=f"CoinStats credits: {dag_id}")
    expect(heading).to_be_visible(timeout=30_000)
