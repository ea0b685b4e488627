"""Constructors only assign: template fields are stored as given, and a DAG parse does no I/O.

Airflow renders template fields after ``__init__``, so logic on them in the constructor acts on
the unrendered value (a Jinja string, an ``XComArg``). Airflow's own CI enforces this for its
providers with ``scripts/ci/prek/validate_operators_init.py``; :func:`constructor_findings`
applies the same rule to every operator and sensor of this package:

1. every template field is assigned in ``__init__`` from the parameter of the same name
   (``self.f = f``, ``self.f = f or default``, or ``super().__init__(f=f)``);
2. no other assignment to ``self.f`` anywhere in ``__init__``;
3. no other read of ``f`` or ``self.f`` in ``__init__`` (a validation call, a condition, a
   transformation), except ``f is None`` / ``f is not None``.

Literal values are still checked at parse, so that a typo breaks the DAG import: the
constructors call a ``_check_literal*`` method that skips anything Airflow will render and
stores nothing. The runtime tests below hold that method to it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG, BaseHook, Connection, task
from airflow.sdk.io.path import ObjectStoragePath

import airflow_provider_coinstats
from airflow_provider_coinstats.operators.coinstats import CoinStatsOperator, CreditUsageOperator
from airflow_provider_coinstats.sensors.coinstats import CreditBudgetSensor

PACKAGE = Path(airflow_provider_coinstats.__file__).parent
EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"
OPERATOR_BASES = ("BaseOperator", "BaseSensorOperator")


# -- the rule ----------------------------------------------------------------------------------


def constructor_findings(source: str, filename: str = "<snippet>") -> list[str]:
    """Every breach of the rule in the operator and sensor classes of ``source``, one line each:
    ``file:line Class.__init__: what is wrong``."""
    tree = ast.parse(source)
    lines = source.splitlines()
    findings: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and _is_operator(node):
            fields = _template_fields(node)
            init = next(
                (i for i in node.body if isinstance(i, ast.FunctionDef) and i.name == "__init__"),
                None,
            )
            if init is not None and fields:
                where = f"{filename}:{{line}} {node.name}.__init__"
                findings += _check_init(init, fields, lines, where)
    return findings


def _base_name(base: ast.expr) -> str:
    if isinstance(base, ast.Subscript):
        base = base.value
    if isinstance(base, ast.Attribute):
        return base.attr
    return base.id if isinstance(base, ast.Name) else ""


def _is_operator(node: ast.ClassDef) -> bool:
    return any(_base_name(base).endswith(OPERATOR_BASES) for base in node.bases)


def _template_fields(node: ast.ClassDef) -> set[str]:
    for item in node.body:
        target = item.target if isinstance(item, ast.AnnAssign) else None
        if isinstance(item, ast.Assign) and len(item.targets) == 1:
            target = item.targets[0]
        value = getattr(item, "value", None)
        named = isinstance(target, ast.Name) and target.id == "template_fields"
        if named and isinstance(value, ast.Tuple | ast.List):
            return {e.value for e in value.elts if isinstance(e, ast.Constant)}
    return set()


def _self_attr(node: ast.AST) -> str | None:
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    ):
        return node.attr
    return None


def _plain_value(value: ast.expr | None, field: str) -> ast.Name | None:
    """The ``field`` name node when ``value`` is ``field`` or ``field or <default>``."""
    if isinstance(value, ast.BoolOp) and isinstance(value.op, ast.Or):
        value = value.values[0]
    if isinstance(value, ast.Name) and value.id == field:
        return value
    return None


def _is_super_init(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "__init__"
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Name)
        and node.func.value.func.id == "super"
    )


def _walk_scope(node: ast.AST) -> Iterator[ast.AST]:
    """Every node of the constructor, but not of functions or classes defined inside it."""
    for child in ast.iter_child_nodes(node):
        if not isinstance(
            child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda
        ):
            yield child
            yield from _walk_scope(child)


def _check_init(init: ast.FunctionDef, fields: set[str], lines: list[str], where: str) -> list[str]:
    findings: list[str] = []
    sanctioned: set[int] = set()  # ids of name nodes that are part of an allowed pattern
    assigned: set[str] = set()
    params = {a.arg for a in [*init.args.posonlyargs, *init.args.args, *init.args.kwonlyargs]}
    for node in _walk_scope(init):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                field = _self_attr(target) or (target.id if isinstance(target, ast.Name) else None)
                if field not in fields:
                    continue
                plain = _plain_value(node.value, field)
                if plain is not None:
                    sanctioned.add(id(plain))
                    if _self_attr(target) and node in init.body:  # top level: always runs
                        assigned.add(field)
                elif _self_attr(target):
                    findings.append(
                        f"{where.format(line=node.lineno)}: self.{field} is assigned "
                        f"{ast.unparse(node.value) if node.value else '?'}, not {field} as given"
                    )
        elif _is_super_init(node):
            assert isinstance(node, ast.Call)
            for keyword in node.keywords:
                if keyword.arg in fields:
                    plain = _plain_value(keyword.value, keyword.arg)
                    if plain is None:
                        findings.append(
                            f"{where.format(line=node.lineno)}: super().__init__ gets "
                            f"{keyword.arg}={ast.unparse(keyword.value)}, not {keyword.arg}"
                        )
                    else:
                        sanctioned.add(id(plain))
                        assigned.add(keyword.arg)
        elif (
            isinstance(node, ast.Compare)
            and len(node.ops) == 1
            and isinstance(node.ops[0], ast.Is | ast.IsNot)
            and isinstance(node.comparators[0], ast.Constant)
            and node.comparators[0].value is None
        ):
            sanctioned.add(id(node.left))  # whether it was passed, not what it is
    for node in _walk_scope(init):
        read = None
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in params:
            read = node.id
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            read = _self_attr(node)
        if read in fields and id(node) not in sanctioned:
            text = lines[node.lineno - 1].strip()
            findings.append(
                f"{where.format(line=node.lineno)}: uses template field {read!r} before it is "
                f"rendered: {text}"
            )
    for field in sorted(fields - assigned):
        findings.append(
            f"{where.format(line=init.lineno)}: template field {field!r} is not assigned as "
            f"self.{field} = {field}"
        )
    return findings


# -- the rule on this package ------------------------------------------------------------------


def package_operator_classes() -> list[tuple[Path, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and _is_operator(node):
                found.append((path, node.name))
    return found


def test_every_operator_and_sensor_constructor_only_assigns_its_template_fields() -> None:
    classes = {name for _, name in package_operator_classes()}
    assert classes >= {"CoinStatsOperator", "CreditUsageOperator", "CreditBudgetSensor"}
    findings = []
    for path in sorted({path for path, _ in package_operator_classes()}):
        findings += constructor_findings(path.read_text(), str(path.relative_to(PACKAGE.parent)))
    assert findings == [], "\n".join(findings)


VIOLATING = """
class PullOperator(BaseOperator):
    template_fields = ("endpoint", "output_path", "query", "conn_id")

    def __init__(self, *, endpoint, output_path=None, query=None, conn_id="c", **kwargs):
        super().__init__(**kwargs)
        self.endpoint = endpoint.strip()
        self.output_path = output_path
        if output_path is not None and not is_template(output_path):
            _storage_path(output_path)
        self.query = dict(query) if query else None
"""


def test_the_rule_names_each_breach_with_its_line() -> None:
    findings = constructor_findings(VIOLATING, "pull.py")
    assert findings == [
        "pull.py:7 PullOperator.__init__: self.endpoint is assigned endpoint.strip(), "
        "not endpoint as given",
        "pull.py:11 PullOperator.__init__: self.query is assigned dict(query) if query else "
        "None, not query as given",
        "pull.py:7 PullOperator.__init__: uses template field 'endpoint' before it is rendered: "
        "self.endpoint = endpoint.strip()",
        "pull.py:9 PullOperator.__init__: uses template field 'output_path' before it is "
        "rendered: if output_path is not None and not is_template(output_path):",
        "pull.py:10 PullOperator.__init__: uses template field 'output_path' before it is "
        "rendered: _storage_path(output_path)",
        "pull.py:11 PullOperator.__init__: uses template field 'query' before it is rendered: "
        "self.query = dict(query) if query else None",
        "pull.py:11 PullOperator.__init__: uses template field 'query' before it is rendered: "
        "self.query = dict(query) if query else None",
        "pull.py:5 PullOperator.__init__: template field 'conn_id' is not assigned as "
        "self.conn_id = conn_id",
        "pull.py:5 PullOperator.__init__: template field 'endpoint' is not assigned as "
        "self.endpoint = endpoint",
        "pull.py:5 PullOperator.__init__: template field 'query' is not assigned as "
        "self.query = query",
    ]


def test_the_rule_accepts_the_sanctioned_forms() -> None:
    clean = """
class Gate(BaseSensorOperator):
    template_fields: Sequence[str] = ("a", "b", "c")

    def __init__(self, *, a, b=None, c=0, **kwargs):
        super().__init__(c=c, **kwargs)
        self.a = a
        self.b = b or {}
        if b is None:
            self.note = "no b"
        self._check_literals()
"""
    assert constructor_findings(clean) == []


# -- at run time: stored as given, no I/O at parse ---------------------------------------------


@pytest.fixture
def no_io_at_parse(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Connection lookups and ObjectStoragePath fail (and are recorded) while this is active."""
    seen: list[str] = []

    def refuse(what: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            seen.append(what)
            raise AssertionError(f"{what} called while a DAG was parsed")

        return call

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(refuse("get_connection")))
    monkeypatch.setattr(Connection, "get", classmethod(refuse("Connection.get")))
    monkeypatch.setattr(ObjectStoragePath, "__init__", refuse("ObjectStoragePath"))
    monkeypatch.setattr("airflow.sdk.io.store.attach", refuse("attach"))
    return seen


def test_the_guard_catches_what_it_guards(no_io_at_parse: list[str]) -> None:
    with pytest.raises(AssertionError):
        ObjectStoragePath("file:///tmp/x.json")
    with pytest.raises(AssertionError):
        BaseHook.get_connection("coinstats_default")
    assert no_io_at_parse == ["ObjectStoragePath", "get_connection"]


def test_example_dags_parse_without_connections_or_object_storage(
    no_io_at_parse: list[str],
) -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined]

    bag = DagBag(dag_folder=str(EXAMPLE_DAGS))
    assert bag.import_errors == {}
    tasks = [t for dag in bag.dags.values() for t in dag.tasks]
    ours = [t for t in tasks if type(t).__module__.startswith("airflow_provider_coinstats")]
    assert len(ours) >= 5
    assert no_io_at_parse == []


def test_literal_values_are_checked_without_storage_or_connections(
    no_io_at_parse: list[str],
) -> None:
    # A literal URL is only checked for its shape at parse; the path is built when the task runs.
    pull = CoinStatsOperator(
        task_id="pull", endpoint="/coins", output_path="s3://aws_default@bucket/coins.json"
    )
    assert pull.output_path == "s3://aws_default@bucket/coins.json"
    CreditUsageOperator(task_id="usage", min_remaining_credits=10)
    CreditBudgetSensor(task_id="gate", required_credits=pull.planned_calls())
    assert no_io_at_parse == []


def test_template_fields_are_stored_exactly_as_given() -> None:
    query = {"limit": "{{ params.limit }}"}
    body = {"address": "{{ params.address }}"}
    overrides = {"GET /new": 3}
    with DAG("stored_as_given", schedule=None):

        @task
        def endpoint() -> str:
            return "/coins"

        upstream = endpoint()
        pull = CoinStatsOperator(
            task_id="pull",
            endpoint=upstream,  # an XComArg: nothing to check until it is resolved
            method="post",
            query=query,
            json=body,
            output_path="{{ var.value.root }}/coins.json",
            coinstats_conn_id="{{ var.value.conn }}",
            price_overrides=overrides,
        )
        usage = CreditUsageOperator(task_id="usage", min_remaining_credits="{{ params.min }}")
        required = [{"method": "GET", "path": "/coins/{{ params.coin }}"}]
        gate = CreditBudgetSensor(
            task_id="gate", required_credits=required, min_remaining_ratio=upstream
        )
    assert pull.endpoint is upstream
    assert pull.query is query and pull.json is body and pull.price_overrides is overrides
    assert pull.output_path == "{{ var.value.root }}/coins.json"
    assert pull.coinstats_conn_id == "{{ var.value.conn }}"
    assert (pull.method, pull.http_method) == ("post", "POST")  # normalised when used
    assert usage.min_remaining_credits == "{{ params.min }}"
    assert gate.required_credits is required and gate.min_remaining_ratio is upstream
