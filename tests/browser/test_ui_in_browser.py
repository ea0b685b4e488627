"""The provider in the Airflow UI, as a person uses it: Debian's chromium, driven by Playwright,
against a real Airflow (see conftest.py) and the CoinStats sandbox.

Each step writes a screenshot to ``tests/browser/screenshots/<test name>/``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from airflow_provider_coinstats.api.config import DEFAULT_BASE_URL
from airflow_provider_coinstats.get_provider_info import get_provider_info
from airflow_provider_coinstats.testing.sandbox import Sandbox
from tests.browser.conftest import SANDBOX_KEY, AirflowUI, Shots

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = [pytest.mark.browser, pytest.mark.integration]

#: What get_provider_info declares for the form: the UI must show exactly this.
_CONNECTION_TYPE = get_provider_info()["connection-types"][0]
_BEHAVIOUR = _CONNECTION_TYPE["ui-field-behaviour"]
_EXTRA_FIELDS = _CONNECTION_TYPE["conn-fields"]


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
    usage = browser_sandbox.usage()
    row.get_by_role("button", name=re.compile("test", re.IGNORECASE)).click()
    expect(page.get_by_text("Test Connection Successful")).to_be_visible()
    success = page.get_by_text("Connection works.")
    expect(success).to_contain_text(
        f"{usage['remainingCredits']:,} of {usage['totalCredits']:,} credits left"
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
