"""Unit-test defaults."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_reservation_confirmation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Gates that reserve pass without the confirmation's wait (``[coinstats]
    reservation_confirm_delay = 0``), so a unit test about something else does not sleep for it;
    the tests of the confirmation set the delay they need, and the integration tests run with
    the default."""
    monkeypatch.setenv("AIRFLOW__COINSTATS__RESERVATION_CONFIRM_DELAY", "0")
