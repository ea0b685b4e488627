"""What a waiting gate writes to its log (WaitLog), with a fake clock and a recording logger;
and how it reads rendered budget parameters (build_budget)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_coinstats.common.gate import SUMMARY_EVERY_SECONDS, WaitLog, build_budget
from airflow_provider_coinstats.exceptions import (
    CoinStatsConfigError,
    CoinStatsConnectionError,
    CoinStatsServerError,
    CoinStatsTimeoutError,
)


class Lines:
    """A logger that keeps the formatted lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str, *args: Any) -> None:
        self.lines.append(msg % args)

    warning = info


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_repeated_decision_is_logged_once_then_summarised_every_ten_minutes() -> None:
    log, clock = Lines(), Clock()
    waits = WaitLog("coinstats_default", log, clock=clock)
    for _ in range(42):  # a check a minute, for 42 minutes
        waits.decision("waiting: 10 credits left, need 50 + reserve 0")
        clock.now += 60
    assert log.lines[0] == "waiting: 10 credits left, need 50 + reserve 0"
    summaries = log.lines[1:]
    assert len(summaries) == 42 * 60 // int(SUMMARY_EVERY_SECONDS)  # 4, not 41
    assert summaries[0] == (
        "still waiting after 11 checks over 10 min: waiting: 10 credits left, need 50 + reserve 0"
    )
    clock.now += 3600
    waits.decision("waiting: 10 credits left, need 50 + reserve 0")
    assert log.lines[-1].startswith("still waiting after 43 checks over 1 h 42 min: ")


def test_new_figures_are_news_a_clock_driven_allowance_is_not() -> None:
    log, clock = Lines(), Clock()
    waits = WaitLog("c", log, clock=clock)
    waits.decision("waiting: pacing allows 1,514.73 ...", figures=(False, 100, 45, 55))
    waits.decision("waiting: pacing allows 1,514.74 ...", figures=(False, 100, 45, 55))
    waits.decision("waiting: pacing allows 1,514.75 ...", figures=(False, 100, 46, 54))
    waits.decision("passed: ...", figures=(True, 100, 0, 100))
    assert log.lines == [
        "waiting: pacing allows 1,514.73 ...",
        "waiting: pacing allows 1,514.75 ...",
        "passed: ...",
    ]


def test_every_failure_is_a_line_and_the_decision_after_it_is_news_again() -> None:
    log = Lines()
    waits = WaitLog("c", log, clock=Clock())
    waits.decision("waiting: a")
    waits.failure(CoinStatsServerError("503"), "not yet: 503")
    waits.failure(CoinStatsServerError("503"), "not yet: 503")
    waits.decision("waiting: a")
    assert log.lines == ["waiting: a", "not yet: 503", "not yet: 503", "waiting: a"]


def test_an_unreachable_host_gets_one_hint_after_three_connection_failures_in_a_row() -> None:
    log = Lines()
    waits = WaitLog("coinstats_prod", log, clock=Clock())
    waits.failure(CoinStatsConnectionError("refused"), "refused")
    waits.failure(CoinStatsServerError("503"), "503")  # a server answered: the host is right
    for _ in range(2):
        waits.failure(CoinStatsConnectionError("refused"), "refused")
    assert not any("Base URL" in line for line in log.lines)
    waits.failure(CoinStatsTimeoutError("timed out"), "timed out")
    for _ in range(10):
        waits.failure(CoinStatsConnectionError("refused"), "refused")
    hints = [line for line in log.lines if "Base URL" in line]
    assert hints == [
        "CoinStats has been unreachable through connection 'coinstats_prod' for 3 checks in a "
        "row; if this persists, check the connection's Base URL (host): a mistyped host fails "
        "exactly like this"
    ]


@pytest.mark.parametrize(
    ("ratio", "expected"), [(0.25, 0.25), ("0.25", 0.25), (" 0.1 ", 0.1), (0, 0)]
)
def test_build_budget_reads_a_rendered_ratio_as_a_number(ratio: object, expected: float) -> None:
    assert build_budget(min_remaining_ratio=ratio).min_remaining_ratio == expected


@pytest.mark.parametrize(
    ("ratio", "named"),
    [
        (True, "True and False are not numbers"),  # float(True) would be a 100% reserve
        ("10%", "'10%'"),
        ("nan", "'nan'"),
        (10, "from 0 to 1, got 10"),
    ],
)
def test_build_budget_refuses_a_ratio_that_is_not_a_fraction(ratio: object, named: str) -> None:
    with pytest.raises(CoinStatsConfigError, match="min_remaining_ratio") as caught:
        build_budget(min_remaining_ratio=ratio)
    assert named in str(caught.value)
