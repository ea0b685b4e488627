"""Every code block in README.md runs as written, the way a reader would run it.

Each fenced block is one test, named after its section and line:

- ``python`` with a DAG (``with DAG(`` or ``@dag``): written to a DAGs folder of its own and run
  with ``airflow dags test`` against the offline sandbox; the run must succeed.
- ``python`` that is a single expression (an XCom value, say): it must parse as Python.
- any other ``python``: run as a script with the sandbox as ``coinstats_default``.
- ``bash``: run with ``bash -euo pipefail`` in a fresh, migrated AIRFLOW_HOME, with the example
  DAGs as the DAGs folder and a sandbox running (its key is ``sandbox-key``). Lines that
  start a sandbox are left out (the test's own sandbox stands in), and ``127.0.0.1:8765``, the
  port the README uses, is replaced by that sandbox's address.
- ``text`` (output, tables of messages) and any other language: not run.

A block after an HTML comment ``<!-- not-run: reason -->`` is not run; the reason is required.
The real CoinStats API is never reached: HTTPS goes through a proxy on a closed local port.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pytest

from airflow_provider_coinstats.testing.sandbox import Sandbox
from tests.integration.conftest import CLI_TIMEOUT, ROOT, RealAirflow

pytestmark = pytest.mark.integration

README = ROOT / "README.md"
SANDBOX_KEY = "sandbox-key"  # the key the README gives for the sandbox
README_SANDBOX_ADDRESS = "127.0.0.1:8765"
FENCE = re.compile(r"^```(\S*)\s*$")
NOT_RUN = re.compile(r"<!--\s*not-run:(.*?)-->", re.DOTALL)
STARTS_SANDBOX = re.compile(r"^\s*python3? -m airflow_provider_coinstats\.testing\.sandbox\b")
DAG_ID = re.compile(r"""dag_id\s*=\s*["']([\w.-]+)["']""")
DECORATED_DAG = re.compile(r"^@dag\b.*?\ndef (\w+)\(", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Block:
    section: str
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    not_run: str | None  # the reason given, when exempted

    @property
    def name(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.section.lower()).strip("-")
        return f"L{self.line}-{slug}-{self.language or 'plain'}"

    @property
    def kind(self) -> str:
        if self.not_run is not None:
            return "exempt"
        if self.language == "python":
            if "with DAG(" in self.code or re.search(r"^@dag\b", self.code, re.MULTILINE):
                return "dag"
            return "value" if _is_one_expression(self.code) else "script"
        if self.language in ("bash", "sh", "shell", "console"):
            return "bash"
        return "text"


def _is_one_expression(code: str) -> bool:
    try:
        body = ast.parse(code).body
    except SyntaxError:
        return False
    return len(body) == 1 and isinstance(body[0], ast.Expr)


def readme_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    section = "top"
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#") and not line.startswith("#!"):
            section = line.lstrip("#").strip()
        fence = FENCE.match(line)
        if fence:
            start = index
            index += 1
            body: list[str] = []
            while index < len(lines) and not lines[index].startswith("```"):
                body.append(lines[index])
                index += 1
            before = "\n".join(lines[max(0, start - 3) : start])
            marker = NOT_RUN.search(before)
            reason = marker.group(1).strip() if marker else None
            blocks.append(Block(section, start + 1, fence.group(1), "\n".join(body), reason))
        index += 1
    return blocks


BLOCKS = readme_blocks(README.read_text())


def _blocks(*kinds: str) -> list[Block]:
    return [block for block in BLOCKS if block.kind in kinds]


def test_the_readme_has_blocks_of_every_kind() -> None:
    """Guards the parser: a README change that hides every block from it fails here."""
    kinds = {block.kind for block in BLOCKS}
    assert {"dag", "bash", "text"} <= kinds, kinds
    for block in _blocks("exempt"):
        assert block.not_run, f"{block.name}: say why the block is not run"


def test_no_path_from_a_particular_machine() -> None:
    text = README.read_text()
    assert not re.findall(r"/tmp/tmp\w+|/tmp/[\w.-]*-[A-Za-z0-9]{6,}/|/home/\w+/|/Users/\w+/", text)


@pytest.fixture
def readme_sandbox() -> Iterator[Sandbox]:
    with Sandbox(api_key=SANDBOX_KEY) as box:
        yield box


def _env(real_airflow: RealAirflow, home: Path, sandbox: Sandbox) -> dict[str, str]:
    venv_bin = Path(sys.executable).parent
    # Never a real key, even a developer's: it would send scripts/demo.sh to the real API. A
    # block that needs one is marked not-run.
    inherited = {k: v for k, v in real_airflow.env.items() if k != "COINSTATS_API_KEY"}
    return {
        **inherited,
        "AIRFLOW_HOME": str(home),
        # Where DAG blocks that write files (output_path) put them.
        "AIRFLOW_VAR_COINSTATS_OUTPUT_ROOT": f"file://{home.parent / 'output'}",
        "AIRFLOW_CONN_COINSTATS_DEFAULT": (
            f'{{"conn_type": "coinstats", "host": "{sandbox.url}", '
            f'"password": "{SANDBOX_KEY}", "extra": {{"requests_per_second": 1000}}}}'
        ),
        # Never the real API: anything not on this machine goes to a closed local port.
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        # scripts/*.sh use this environment as it is (setup.sh finds it set up already).
        "VENV": str(venv_bin.parent),
        "AIRFLOW_VERSION": version("apache-airflow"),
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def _fresh_home(real_airflow: RealAirflow, home: Path) -> Path:
    """A new AIRFLOW_HOME with a copy of the session's migrated DB (a migration takes 10 s)."""
    home.mkdir()
    shutil.copy(real_airflow.db, home / "airflow.db")
    return home


@pytest.mark.parametrize("block", _blocks("dag"), ids=lambda b: b.name)
def test_dag_block_runs(
    block: Block, real_airflow: RealAirflow, readme_sandbox: Sandbox, tmp_path: Path
) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "readme_block.py").write_text(block.code)
    found = DAG_ID.findall(block.code) or DECORATED_DAG.findall(block.code)
    assert len(found) == 1, f"{block.name}: one DAG per block, with a dag_id; found {found}"
    env = _env(real_airflow, _fresh_home(real_airflow, tmp_path / "home"), readme_sandbox)
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "dags", "test", found[0]],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{block.name}:\n{output[-4000:]}"
    assert _run_state(tmp_path / "home", found[0]) == "success", output[-4000:]


def _run_state(home: Path, dag_id: str) -> str:
    with sqlite3.connect(home / "airflow.db") as con:
        row = con.execute(
            "SELECT state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
    return str(row[0]) if row else "no run"


@pytest.mark.parametrize("block", _blocks("value"), ids=lambda b: b.name)
def test_value_block_parses(block: Block) -> None:
    ast.parse(block.code)


@pytest.mark.parametrize("block", _blocks("script"), ids=lambda b: b.name)
def test_script_block_runs(
    block: Block, real_airflow: RealAirflow, readme_sandbox: Sandbox, tmp_path: Path
) -> None:
    env = _env(real_airflow, _fresh_home(real_airflow, tmp_path / "home"), readme_sandbox)
    done = subprocess.run(
        [sys.executable, "-c", block.code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"{block.name}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"


@pytest.mark.parametrize("block", _blocks("bash"), ids=lambda b: b.name)
def test_bash_block_runs(
    block: Block, real_airflow: RealAirflow, readme_sandbox: Sandbox, tmp_path: Path
) -> None:
    address = readme_sandbox.url.removeprefix("http://")
    script = "\n".join(
        "" if STARTS_SANDBOX.match(line) else line.replace(README_SANDBOX_ADDRESS, address)
        for line in block.code.splitlines()
    )
    env = _env(real_airflow, _fresh_home(real_airflow, tmp_path / "home"), readme_sandbox)
    del env["AIRFLOW_CONN_COINSTATS_DEFAULT"]  # the block sets up its own connections
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=env,
        cwd=ROOT,  # commands such as `bash scripts/demo.sh` run from a checkout
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"{block.name}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
