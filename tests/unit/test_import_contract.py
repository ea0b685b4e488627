"""The layers hold in the imports: every import statement of the package, checked against
what its layer may import.

=========================  =================================================================
layer                      may not import
=========================  =================================================================
``api``                    ``airflow``; any other layer of this package
``credits``                ``airflow``; ``requests``, ``urllib3``; ``api.client``,
                           ``api.pacing``, ``api.retry``; any layer but ``api``
``common``                 the adapters (``hooks``, ``operators``, ``sensors``, ``triggers``)
``hooks``                  the other adapters
``operators``              ``sensors``, ``triggers`` (``hooks`` is declared)
``triggers``               ``operators``, ``sensors`` (``hooks`` is declared)
``sensors``                ``operators``; ``triggers`` only inside a function (lazily)
``get_provider_info``      ``airflow``, ``requests``, the adapters (every CLI call loads it)
every layer but testing    ``testing`` (the shipped sandbox is a test utility)
every runtime layer        ``plugins`` (the Airflow plugin: only Airflow loads it)
=========================  =================================================================

Every import counts: module level, inside functions (a lazy import is still a dependency), and
inside ``if TYPE_CHECKING:`` blocks. The last is a choice: such an import never runs, but it is
what the module knows about, and mypy resolves it, so ``api`` naming an Airflow type there
would tie the plain client to Airflow all the same. Relative imports are resolved; dynamic
imports (``importlib``) are not seen. ``testing`` may import anything.

Run it on its own to print the contract's report: ``python tests/unit/test_import_contract.py``.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "airflow_provider_coinstats"
PACKAGE = PACKAGE_DIR.name
ADAPTERS = ("hooks", "operators", "sensors", "triggers")
LAYERS = ("api", "credits", "common", *ADAPTERS, "plugins", "testing")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    line: int
    name: str  # the imported module, absolute (``from a import b`` -> ``a.b`` and ``a``)
    lazy: bool  # inside a function body


@dataclass(frozen=True)
class Rule:
    layer: str
    forbidden: tuple[str, ...]  # module names; a name also forbids its submodules
    why: str
    eager_only: bool = False  # forbidden only at module level (lazy imports allowed)


def ours(layer: str) -> str:
    return f"{PACKAGE}.{layer}"


RULES = (
    Rule("api", ("airflow",), "the API client is plain Python, usable without Airflow"),
    Rule("api", tuple(ours(x) for x in LAYERS if x != "api"), "api is the bottom layer"),
    Rule("credits", ("airflow",), "the credit domain is plain Python"),
    Rule(
        "credits",
        ("requests", "urllib3", ours("api.client"), ours("api.pacing"), ours("api.retry")),
        "the credit domain does no HTTP",
    ),
    Rule(
        "credits",
        tuple(ours(x) for x in LAYERS if x not in ("api", "credits")),
        "credits builds on api only",
    ),
    Rule("common", tuple(ours(x) for x in ADAPTERS), "helpers serve the adapters, not reverse"),
    Rule("hooks", tuple(ours(x) for x in ADAPTERS if x != "hooks"), "the hook is the base"),
    Rule("operators", (ours("sensors"), ours("triggers")), "operators use the hook only"),
    Rule("triggers", (ours("operators"), ours("sensors")), "triggers use the hook only"),
    Rule("sensors", (ours("operators"),), "sensors use the hook (and the trigger, lazily)"),
    Rule(
        "get_provider_info",
        ("airflow", "requests", *(ours(x) for x in ADAPTERS)),
        "every Airflow CLI call and server start loads the provider info",
    ),
    Rule(
        "sensors",
        (ours("triggers"),),
        "the trigger loads on deferral, not when a DAG file imports the sensor",
        eager_only=True,
    ),
    *(
        Rule(layer, (ours("plugins"),), "only Airflow loads the plugin (its entry point)")
        for layer in ("api", "credits", "common", *ADAPTERS, "get_provider_info", "exceptions")
    ),
    *(
        Rule(layer, (ours("testing"),), "nothing at run time imports the test sandbox")
        for layer in (*LAYERS, "get_provider_info", "exceptions")
        if layer != "testing"
    ),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(module: str, source: str, *, is_package: bool = False) -> Iterator[Import]:
    """Every import in ``source``, with relative names resolved against ``module``."""
    tree = ast.parse(source)
    package = module if is_package else module.rpartition(".")[0]
    lazy_nodes = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        lazy = id(node) in lazy_nodes
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, node.lineno, alias.name, lazy)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            yield Import(module, node.lineno, base, lazy)
            for alias in node.names:  # ``from pkg import submodule`` imports the submodule
                if alias.name != "*":
                    yield Import(module, node.lineno, f"{base}.{alias.name}", lazy)


def layer_of(module: str) -> str | None:
    """The subpackage (or top-level module) of ours that ``module`` belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == PACKAGE else None


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(found: Iterator[Import] | list[Import]) -> list[str]:
    """One line per import that breaks a rule: ``module:line imports name (why)``."""
    # One line per statement and rule: ``from a.b import c`` names the shortest match.
    worst: dict[tuple[str, int, Rule], str] = {}
    for imp in found:
        layer = layer_of(imp.module)
        for rule in RULES:
            if rule.layer != layer or (rule.eager_only and imp.lazy):
                continue
            if any(within(imp.name, forbidden) for forbidden in rule.forbidden):
                key = (imp.module, imp.line, rule)
                worst[key] = min(worst.get(key, imp.name), imp.name, key=len)
    return sorted(
        f"{module}:{line} imports {name} {'at module level ' if rule.eager_only else ''}"
        f"- forbidden: {rule.why}"
        for (module, line, rule), name in worst.items()
    )


def package_imports() -> list[Import]:
    found: list[Import] = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        found += imports_of(
            module_name(path), path.read_text(), is_package=path.name == "__init__.py"
        )
    return found


def report() -> str:
    found = package_imports()
    modules = {imp.module for imp in found}
    broken = violations(found)
    lines = [
        f"import contract: {len(RULES)} rules, {len(modules)} modules, "
        f"{len(found)} imported names ({sum(i.lazy for i in found)} lazy)",
        *(broken or ["no violations"]),
    ]
    return "\n".join(lines)


# -- tests -------------------------------------------------------------------------------------


def test_the_package_keeps_its_import_contract() -> None:
    found = package_imports()
    modules = {imp.module for imp in found}
    assert {f"{PACKAGE}.api.client", f"{PACKAGE}.sensors.coinstats"} <= modules
    assert len(modules) >= 25  # the walk saw the whole package
    assert violations(found) == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        (
            f"{PACKAGE}.api.client",
            "import json\nfrom airflow.sdk import BaseHook\n",
            f"{PACKAGE}.api.client:2 imports airflow.sdk - forbidden: the API client is plain "
            "Python, usable without Airflow",
        ),
        (
            f"{PACKAGE}.credits.budget",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import requests\n",
            f"{PACKAGE}.credits.budget:3 imports requests - forbidden: the credit domain does "
            "no HTTP",
        ),
        (
            f"{PACKAGE}.credits.estimates",
            "def price():\n    from ..api import client\n",
            f"{PACKAGE}.credits.estimates:2 imports {PACKAGE}.api.client - forbidden: the credit "
            "domain does no HTTP",
        ),
        (
            f"{PACKAGE}.sensors.coinstats",
            "from airflow_provider_coinstats.triggers.coinstats import CreditBudgetTrigger\n",
            f"{PACKAGE}.sensors.coinstats:1 imports {PACKAGE}.triggers.coinstats at module level "
            "- forbidden: the trigger loads on deferral, not when a DAG file imports the sensor",
        ),
        (
            f"{PACKAGE}.hooks.coinstats",
            "from airflow_provider_coinstats.testing.sandbox import Sandbox\n",
            f"{PACKAGE}.hooks.coinstats:1 imports {PACKAGE}.testing.sandbox - forbidden: nothing "
            "at run time imports the test sandbox",
        ),
        (
            f"{PACKAGE}.operators.coinstats",
            "from ..sensors import coinstats\n",
            f"{PACKAGE}.operators.coinstats:1 imports {PACKAGE}.sensors - forbidden: operators "
            "use the hook only",
        ),
    ],
    ids=[
        "api-airflow",
        "credits-requests-type-checking",
        "credits-client-lazy-relative",
        "sensor-trigger-eager",
        "hook-testing",
        "operator-sensor-relative",
    ],
)
def test_a_violation_names_module_line_and_import(module: str, source: str, expected: str) -> None:
    assert expected in violations(list(imports_of(module, source)))


def test_declared_imports_pass() -> None:
    allowed = [
        (f"{PACKAGE}.sensors.coinstats", "def execute():\n    from ..triggers import coinstats\n"),
        (f"{PACKAGE}.triggers.coinstats", "from ..hooks.coinstats import CoinStatsHook\n"),
        (f"{PACKAGE}.credits.budget", "from ..api.models import whole\n"),
        (f"{PACKAGE}.testing.sandbox.server", "import airflow\nimport requests\n"),
    ]
    for module, source in allowed:
        assert violations(list(imports_of(module, source))) == [], module


if __name__ == "__main__":
    print(report())
    sys.exit(1 if violations(package_imports()) else 0)
