"""The real-browser harness: one real Airflow on 127.0.0.1 (api-server, scheduler, dag-processor
and triggerer as separate processes, a LocalExecutor, a SQLite metadata DB) with the provider
installed and the example DAGs, a CoinStats sandbox it talks to, and Debian's chromium driven by
Playwright's Python package, logged in through the UI's own login form.

Every fixture here is module-scoped: one Airflow serves every browser step (it takes a minute or
two to start on a loaded 2-core machine), and all of it, Playwright's event loop included, is
gone before the rest of the suite runs (a sync Playwright left open keeps an event loop running
in the main thread, and every asyncio test after it fails). Everything started is stopped by PID
at the end, also when a step fails or the run is interrupted (SIGTERM is turned into
KeyboardInterrupt so pytest's teardown runs).

Screenshots go to ``tests/browser/screenshots/<test name>/`` (or under
``$COINSTATS_BROWSER_SCREENSHOTS``); the run's summary prints the folders.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from airflow_provider_coinstats.testing.sandbox import Sandbox
from tests.conftest import connection_json
from tests.integration.conftest import EXAMPLE_DAGS, LOADED_MACHINE_ENV, RealAirflow
from tests.integration.test_deferrable_e2e import Deployment, free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
#: Where the screenshots go; COINSTATS_BROWSER_SCREENSHOTS moves them (e.g. for two runs at once).
SCREENSHOTS = Path(
    os.environ.get("COINSTATS_BROWSER_SCREENSHOTS")
    or Path(__file__).resolve().parent / "screenshots"
)
#: The sandbox's key; the one a user types into the connection form.
SANDBOX_KEY = "sandbox-key"
USERNAME = "admin"
#: Starting the four components takes about 30 s on 2 idle cores, several times that on a
#: loaded machine; only a hang should reach this.
STARTUP_DEADLINE_SECONDS = 600
#: Playwright's bound for one browser action or expectation: pages of the UI load in a second or
#: two when idle; a loaded machine with Airflow's four processes can take many times that.
UI_TIMEOUT_MS = 120_000
#: The example DAGs, unpaused when parsed: the scheduler runs each once at start while the first
#: browser steps go on, so their spend is on the credits page by the time it is read.
EXAMPLE_DAG_IDS = tuple(sorted(path.stem for path in EXAMPLE_DAGS.glob("example_*.py")))
T = TypeVar("T")

_screenshot_folders: list[Path] = []


def _missing_browser_prerequisite() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return (
            "Playwright's Python package is not installed: install the test extra "
            "(`bash scripts/setup.sh`, or `pip install -e '.[test]'`)"
        )
    if not CHROMIUM.exists():
        return (
            f"Debian's chromium is not installed ({CHROMIUM} is missing): run "
            "`apt-get install -y chromium` as root (scripts/setup.sh does it when run as root)"
        )
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = _missing_browser_prerequisite()
    if missing is None:
        return
    skip = pytest.mark.skip(reason=f"browser tests skipped: {missing}")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for folder in _screenshot_folders:
        shots = sorted(path.name for path in folder.glob("*.png"))
        terminalreporter.write_line(f"browser screenshots: {folder} ({len(shots)} files)")
        for name in shots:
            terminalreporter.write_line(f"  {name}")


@contextlib.contextmanager
def _sigterm_runs_teardown() -> Iterator[None]:
    """A SIGTERM (a CI time-out, say) becomes KeyboardInterrupt, so fixtures are torn down and
    no Airflow process outlives the run."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def wait_until(what: str, probe: Callable[[], T | None], deadline: float, *, why: str = "") -> T:
    """Poll ``probe`` every half second until it returns a value; fail at the deadline."""
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up waiting for {what}{why}")
        time.sleep(0.5)


@dataclass
class AirflowUI:
    """A running Airflow: its UI's base URL, the login, and its metadata DB and processes."""

    url: str
    username: str
    password: str
    deployment: Deployment
    cli: RealAirflow
    _token: str | None = field(default=None, repr=False)

    def api(self, method: str, path: str, body: object = None) -> Any:
        """Call the public REST API (``/api/v2/...``) as the logged-in user; JSON in and out."""
        if self._token is None:
            self._token = _login_token(self.url, self.username, self.password)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self._token}"},
        )
        with urllib.request.urlopen(request, timeout=120) as answer:
            return json.loads(answer.read() or b"null")

    def check_alive(self) -> None:
        self.deployment.check_alive()

    def logs(self, chars: int = 2000) -> str:
        return "\n".join(
            f"--- {name}\n{self.deployment.output(name)[-chars:]}"
            for name in self.deployment.processes
        )


def _login_token(url: str, username: str, password: str) -> str:
    request = urllib.request.Request(
        f"{url}/auth/token",
        data=json.dumps({"username": username, "password": password}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        token: str = json.loads(answer.read())["access_token"]
        return token


def _health(url: str) -> dict[str, Any] | None:
    """``/api/v2/monitor/health`` (public), or None while the api-server does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=30) as answer:
            health: dict[str, Any] = json.loads(answer.read())
            return health
    except (OSError, ValueError):  # not listening yet, too slow, or a half-started answer
        return None


def _all_healthy(health: dict[str, Any] | None) -> bool:
    if health is None:
        return False
    parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
    return all((health.get(part) or {}).get("status") == "healthy" for part in parts)


@pytest.fixture(scope="module")
def browser_sandbox() -> Iterator[Sandbox]:
    """The CoinStats stand-in every browser step talks to; its key is ``sandbox-key``."""
    with Sandbox(
        api_key=SANDBOX_KEY, plan="PRO", total_credits=100_000, used_credits=45_000
    ) as box:
        yield box


@pytest.fixture(scope="module")
def airflow_ui(
    tmp_path_factory: pytest.TempPathFactory, browser_sandbox: Sandbox
) -> Iterator[AirflowUI]:
    """A real Airflow with the provider, the example DAGs and a password login, on 127.0.0.1.

    ``coinstats_default`` (what the example DAGs use) points at the sandbox through the
    environment; connections a step saves in the UI go to the metadata DB as a user's would.
    """
    missing = _missing_browser_prerequisite()
    if missing is not None:
        pytest.skip(f"browser tests skipped: {missing}")
    home = tmp_path_factory.mktemp("browser-airflow-home")
    api_port = free_port()
    url = f"http://127.0.0.1:{api_port}"
    password = secrets.token_urlsafe(12)
    passwords = home / "simple_auth_manager_passwords.json"
    passwords.write_text(json.dumps({USERNAME: password}))
    cli = RealAirflow(home)
    env = {
        **cli.env,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",  # LocalExecutor forks this many workers up front
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        # Scheduler and api-server must agree on it to sign and check task tokens.
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        # The UI's login: one admin, with a password we chose (written where Airflow reads it).
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",  # the Connections page's Test button
        # Never 0.0.0.0: log servers stay off (--skip-serve-logs), but keep their ports free too.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW_CONN_COINSTATS_DEFAULT": connection_json(browser_sandbox.url, key=SANDBOX_KEY),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW_VAR_COINSTATS_OUTPUT_ROOT": f"file://{home / 'coins'}",  # the market pull's files
        **LOADED_MACHINE_ENV,
    }
    cli.env = env
    cli.cli("db", "migrate")
    deployment = Deployment(home, env)
    with _sigterm_runs_teardown():
        try:
            deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
            deployment.start(deadline)

            def healthy() -> bool | None:
                deployment.check_alive()
                return _all_healthy(_health(url)) or None

            try:
                wait_until("every Airflow component to report healthy", healthy, deadline)
            except AssertionError as error:
                raise AssertionError(f"{error}; health {_health(url)}") from None
            yield AirflowUI(url, USERNAME, password, deployment, cli)
        finally:
            deployment.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, through Playwright (never a browser Playwright downloads)."""
    missing = _missing_browser_prerequisite()
    if missing is not None:
        pytest.skip(f"browser tests skipped: {missing}")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)  # every expect() waits as long as an action
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Shots:
    """Numbered screenshots of one test, in a folder named after it."""

    page: Page
    folder: Path
    taken: list[Path] = field(default_factory=list)

    def take(self, name: str) -> Path:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path


@pytest.fixture
def page(browser: Browser, airflow_ui: AirflowUI) -> Iterator[Page]:
    """A fresh browser tab, logged in to the UI through its login form."""
    context = browser.new_context(viewport={"width": 1440, "height": 1600})
    context.set_default_timeout(UI_TIMEOUT_MS)
    context.set_default_navigation_timeout(UI_TIMEOUT_MS)
    tab = context.new_page()
    try:
        log_in(tab, airflow_ui)
        yield tab
    finally:
        context.close()


@pytest.fixture
def shots(page: Page, request: pytest.FixtureRequest) -> Shots:
    folder = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    _screenshot_folders.append(folder)
    print(f"screenshots of {request.node.name}: {folder}")
    return Shots(page, folder)


def log_in(page: Page, airflow_ui: AirflowUI) -> None:
    """Log in as a person would: open the UI, get sent to the login form, fill it in."""
    from playwright.sync_api import expect

    page.goto(airflow_ui.url)
    page.get_by_label(re.compile("username", re.IGNORECASE)).fill(airflow_ui.username)
    page.get_by_label(re.compile("password", re.IGNORECASE)).fill(airflow_ui.password)
    page.get_by_role("button", name=re.compile("sign in|log ?in", re.IGNORECASE)).click()
    expect(page).not_to_have_url(re.compile("/auth/login"))
