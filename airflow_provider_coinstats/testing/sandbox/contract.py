"""Check a sandbox against CoinStats' OpenAPI description, operation by operation.

For every operation of the spec it sends the spec's example parameters (under ``/`` and
``/v1``), validates the answer against the spec's response schema, and compares the credits
charged with the operation's ``x-mint`` rule and with the price list. The contract test
(``tests/unit/testing/test_openapi_contract.py``) asserts on the rows; run as a script it prints
them as a table::

    python -m airflow_provider_coinstats.testing.sandbox.contract [--spec PATH]

The spec is CoinStats' document, never copied into this package: it is read from ``--spec``,
``$COINSTATS_OPENAPI_SPEC``, or ``../shared/reference/coinstats-openapi.json`` beside the project
root. Needs ``jsonschema`` (the ``test`` extra).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests

from airflow_provider_coinstats.credits.estimates import estimate_credits
from airflow_provider_coinstats.credits.prices import ALL_MULTIPLIER, DEVIATIONS, PRICES
from airflow_provider_coinstats.testing.sandbox.params import PARAMETERS

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from airflow_provider_coinstats.testing.sandbox.server import Sandbox

SPEC_ENV = "COINSTATS_OPENAPI_SPEC"
SPEC_RELATIVE = Path("shared") / "reference" / "coinstats-openapi.json"
METHODS = ("get", "post", "put", "patch", "delete")


def spec_path(project_root: Path | str | None = None) -> Path:
    """Where the spec is looked for: ``$COINSTATS_OPENAPI_SPEC``, else beside the project root."""
    if os.environ.get(SPEC_ENV):
        return Path(os.environ[SPEC_ENV])
    root = Path(project_root) if project_root is not None else Path(__file__).parents[3]
    return root.resolve().parent / SPEC_RELATIVE


def load_spec(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(METHOD, path template, operation)`` for every operation, in the spec's order."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method.upper(), path, operation


# ---------------------------------------------------------------- the x-mint rule


@dataclass(frozen=True, slots=True)
class MintRule:
    """An operation's ``x-mint`` credit note: base credits, and per-field multipliers.

    :param multipliers: ``{field: credits when the field is all}``, per field whose number of
        values multiplies the cost.
    """

    credits: int | None
    multipliers: dict[str, int]

    def charge(self, query: dict[str, str], body: object) -> int | None:
        """What this rule charges for a request; None when the note states no cost."""
        if self.credits is None:
            return None
        total = self.credits
        for field, all_credits in self.multipliers.items():
            value = query.get(field)
            if value is None and isinstance(body, dict):
                value = body.get(field)
            items = _values(value)
            if items:
                all_weight = all_credits // self.credits if self.credits else ALL_MULTIPLIER
                total *= sum(all_weight if item == "all" else 1 for item in items)
        return total


def _values(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [
            str(item.get("connectionId") or item.get("blockchain") or "")
            if isinstance(item, dict)
            else str(item)
            for item in value
        ]
    return [part.split(":", 1)[0].strip() for part in str(value).split(",") if part.strip()]


def mint_rule(operation: dict[str, Any]) -> MintRule:
    content = str(operation.get("x-mint", {}).get("content", ""))
    base = re.search(r"\*\*(\d+)\*\* credits? per request", content)
    multipliers: dict[str, int] = {}
    for field in re.findall(r'field \*\*"(\w+)"\*\*: credits are multiplied', content):
        multipliers.setdefault(field, 0)
    for field, credits in re.findall(
        r'value of \*\*"(\w+)"\*\*.*?multiplier is \*\*(\d+)\*\*', content
    ):
        multipliers[field] = int(credits)
    credits = int(base[1]) if base else None
    for field, all_credits in multipliers.items():
        if not all_credits and credits is not None:
            multipliers[field] = credits * ALL_MULTIPLIER  # the multipliers page: all counts 10
    return MintRule(credits, multipliers)


# ---------------------------------------------------------------- the spec's parameters


def _schema_of(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = _pointer(spec, schema["$ref"])
    return schema


def _pointer(spec: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = spec
    for part in ref.lstrip("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node  # type: ignore[no-any-return]


def spec_parameters(spec: dict[str, Any], operation: dict[str, Any]) -> list[dict[str, Any]]:
    """The operation's parameters, body fields included as ``{"in": "body", ...}``."""
    params = [dict(param) for param in operation.get("parameters", [])]
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body:
        schema = _schema_of(spec, body["schema"])
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            params.append(
                {"name": name, "in": "body", "required": name in required, "schema": prop}
            )
    return params


def table_mismatches(spec: dict[str, Any]) -> dict[str, list[str]]:
    """Where :data:`PARAMETERS` differs from the spec, per operation (empty when it agrees)."""
    found: dict[str, list[str]] = {}
    for method, path, operation in operations(spec):
        key = f"{method} {path}"
        ours = {(p.location, p.name): p for p in PARAMETERS.get(key, ())}
        problems = []
        theirs = {(p["in"], p["name"]): p for p in spec_parameters(spec, operation)}
        for where, name in sorted(set(ours) ^ set(theirs)):
            side = "only in the sandbox" if (where, name) in ours else "missing from the sandbox"
            problems.append(f"{where} {name}: {side}")
        for ident in sorted(set(ours) & set(theirs)):
            param, schema = ours[ident], theirs[ident].get("schema", {})
            want = {
                "required": bool(theirs[ident].get("required")),
                "kind": schema.get("type", "string"),
                "enum": tuple(str(v) for v in schema.get("enum", ())),
                "default": None if "default" not in schema else str(schema["default"]),
            }
            have = {
                "required": param.required,
                "kind": param.kind,
                "enum": param.enum,
                "default": param.default,
            }
            for attr, value in want.items():
                if have[attr] != value:
                    problems.append(f"{ident[0]} {ident[1]}: {attr} {have[attr]!r} != {value!r}")
        if problems:
            found[key] = problems
    return found


# ---------------------------------------------------------------- example calls


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    template: str
    path: str
    query: dict[str, str]
    body: object


def _example(param: dict[str, Any]) -> object:
    schema = param.get("schema", {})
    for source in (param, schema):
        if "example" in source:
            return source["example"]
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    return None


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def example_call(
    spec: dict[str, Any], method: str, template: str, operation: dict[str, Any], ids: dict[str, str]
) -> Call:
    """The operation called with the spec's examples; ``ids`` replaces values that must name
    something in the sandbox's state (``portfolioId``, a news ``id``)."""
    path_values: dict[str, str] = {}
    query: dict[str, str] = {}
    for param in operation.get("parameters", []):
        name, where = param["name"], param["in"]
        value = ids.get(name) if name in ids else _example(param)
        if value is None:
            if where == "path":
                value = {"coinId": "bitcoin", "address": "0xabc"}.get(name, "x")
            elif param.get("required"):
                value = ids.get(name, "x")
            else:
                continue
        if where == "path":
            path_values[name] = _text(value)
        elif where == "query":
            query[name] = _text(value)
    body: object = None
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content:
        schema = _schema_of(spec, content["schema"])
        body = {
            name: ids.get(name, prop.get("example"))
            for name, prop in schema.get("properties", {}).items()
            if prop.get("example") is not None or name in ids
        }
    path = re.sub(r"\{(\w+)\}", lambda match: quote(path_values[match[1]], safe=""), template)
    return Call(method, template, path, query, body)


# ---------------------------------------------------------------- response schemas


def _openapi_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects as JSON Schema: ``nullable: true`` allows null."""
    if isinstance(node, dict):
        converted = {key: _openapi_to_json_schema(value) for key, value in node.items()}
        if converted.pop("nullable", False):
            return {"anyOf": [converted, {"type": "null"}]}
        return converted
    if isinstance(node, list):
        return [_openapi_to_json_schema(item) for item in node]
    return node


class SchemaBook:
    """Validators for the spec's response schemas, ``$ref``s resolved through a registry."""

    URI = "urn:coinstats:openapi"

    def __init__(self, spec: dict[str, Any]) -> None:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        self.spec = spec
        resource = Resource.from_contents(
            _openapi_to_json_schema(copy.deepcopy(spec)), default_specification=DRAFT202012
        )
        self.registry: Registry[Any] = Registry().with_resource(self.URI, resource)

    def errors(self, method: str, template: str, body: object) -> list[str] | None:
        """Schema errors of a 200 body; None when the spec gives no 200 schema."""
        from jsonschema import Draft202012Validator

        response = self.spec["paths"][template][method.lower()]["responses"].get("200", {})
        if "schema" not in response.get("content", {}).get("application/json", {}):
            return None
        pointer = "/paths/" + template.replace("~", "~0").replace("/", "~1")
        pointer += f"/{method.lower()}/responses/200/content/application~1json/schema"
        validator = Draft202012Validator({"$ref": f"{self.URI}#{pointer}"}, registry=self.registry)
        return [
            f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message[:160]}"
            for error in validator.iter_errors(body)
        ][:5]


# ---------------------------------------------------------------- running it


@dataclass(frozen=True, slots=True)
class Row:
    """One operation's outcome against the sandbox."""

    key: str
    status: int
    status_v1: int
    schema_errors: list[str] | None  # None: the spec has no 200 schema
    charged: float
    estimated: float
    rule: int | None  # the x-mint rule's charge; None without a note
    note: str

    @property
    def schema_valid(self) -> bool:
        return self.schema_errors is not None and not self.schema_errors

    @property
    def charge_ok(self) -> bool:
        agrees = self.rule is None or self.charged == self.rule or self.key in DEVIATIONS
        return self.charged == self.estimated and agrees


#: Endpoints newer than the spec that CoinStats' MCP server calls, with the parameters it sends.
NEWER_CALLS: dict[str, dict[str, str]] = {
    "GET /portfolio/list": {},
    "GET /wallet/pl/history": {
        "address": "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045",
        "connectionId": "ethereum",
        "range": "1m",
        "interval": "daily",
        "currency": "USD",
    },
    "GET /exchange/pl/history": {"portfolioId": "", "range": "1m", "interval": "daily"},
    "GET /portfolio/pl/history": {"range": "1m", "interval": "daily", "currency": "EUR"},
}


def state_ids(sandbox: Sandbox, session: requests.Session) -> dict[str, str]:
    """Ids from the sandbox's own state for the parameters that must name something."""
    exchange = next(p for p in sandbox.accounts.all() if p.kind == "exchange")
    news = session.get(f"{sandbox.url}/news", params={"limit": 1}, timeout=30).json()
    return {"portfolioId": exchange.id, "id": str(news["result"][0]["id"])}


def run(sandbox: Sandbox, spec: dict[str, Any]) -> list[Row]:
    """Call every operation (plus the newer ones the price list knows) and describe each."""
    book = SchemaBook(spec)
    rows = []
    with requests.Session() as session:
        session.trust_env = False
        session.headers["X-API-KEY"] = sandbox.api_key
        ids = state_ids(sandbox, session)
        for method, template, operation in operations(spec):
            call_ids = dict(ids)
            if method == "DELETE":  # delete one made for the purpose
                call_ids["portfolioId"] = _doomed(sandbox)
            call = example_call(spec, method, template, operation, call_ids)
            rows.append(_row(sandbox, session, book, call, mint_rule(operation)))
        for key, query in NEWER_CALLS.items():
            method, template = key.split(" ", 1)
            filled = {name: value or ids.get(name, "") for name, value in query.items()}
            call = Call(method, template, template, filled, None)
            rows.append(_row(sandbox, session, book, call, MintRule(None, {})))
    return rows


def _doomed(sandbox: Sandbox) -> str:
    """A portfolio to delete (the same id each time it is made anew)."""
    portfolio, _ = sandbox.accounts.connect_wallet("0xdoomed", "ethereum", "doomed")
    return portfolio.id


def _row(
    sandbox: Sandbox,
    session: requests.Session,
    book: SchemaBook,
    call: Call,
    rule: MintRule,
) -> Row:
    key = f"{call.method} {call.template}"
    statuses = []
    charges = []
    bodies: list[object] = []
    for prefix in ("/v1", ""):
        if call.method == "DELETE":
            _doomed(sandbox)
        before = sandbox.usage()["usedCredits"]
        response = session.request(
            call.method,
            sandbox.url + prefix + call.path,
            params=call.query,
            json=call.body,
            timeout=30,
        )
        charges.append(float(sandbox.usage()["usedCredits"]) - float(before))  # type: ignore[arg-type]
        statuses.append(response.status_code)
        bodies.append(response.json())
    errors: list[str] | None = []
    for status, body in zip(statuses, bodies, strict=True):
        in_spec = call.template in book.spec["paths"]
        found = book.errors(call.method, call.template, body) if in_spec else None
        if status != 200:
            errors = [f"status {status}: {body}"]
            break
        if found is None:
            errors = None  # the spec gives no 200 schema
        elif errors is not None:
            errors += [error for error in found if error not in errors]
    note = DEVIATIONS.get(key, "")
    if rule.credits is None:
        where = "not in the spec" if call.template not in book.spec["paths"] else "no x-mint note"
        note = note or f"{where}; price list: {PRICES[key].source}"
    return Row(
        key=key,
        status=statuses[1],
        status_v1=statuses[0],
        schema_errors=errors,
        charged=charges[0] if charges[0] == charges[1] else math.nan,
        estimated=float(estimate_credits(call.method, call.path, call.query, call.body)),
        rule=rule.charge(call.query, call.body),
        note=note,
    )


def format_table(rows: list[Row]) -> str:
    header = f"{'operation':<46} {'status':>6} {'/v1':>4}  {'schema':<7} {'charged':>7}"
    lines = [f"{header} {'x-mint':>7}  ok  note"]
    for row in rows:
        schema = (
            "n/a" if row.schema_errors is None else ("valid" if row.schema_valid else "INVALID")
        )
        rule = "-" if row.rule is None else str(row.rule)
        ok = "yes" if row.charge_ok else "NO"
        lines.append(
            f"{row.key:<46} {row.status:>6} {row.status_v1:>4}  {schema:<7} {row.charged:>7g} "
            f"{rule:>7}  {ok:<3} {row.note}"
        )
        for error in row.schema_errors or ():
            lines.append(f"{'':<8}{error}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from airflow_provider_coinstats.testing.sandbox.server import Sandbox

    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_coinstats.testing.sandbox.contract",
        description="Call every operation of CoinStats' OpenAPI description on a fresh sandbox "
        "and print status, schema validity and credits charged against the x-mint rule.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--spec", type=Path, default=spec_path(Path.cwd()), help="the spec file")
    args = parser.parse_args(argv)
    if not args.spec.is_file():
        print(f"error: no OpenAPI spec at {args.spec} (set --spec or ${SPEC_ENV})", file=sys.stderr)
        return 2
    spec = load_spec(args.spec)
    with Sandbox(plan="DEGEN", total_credits=10_000_000, used_credits=0) as sandbox:
        rows = run(sandbox, spec)
    print(format_table(rows))
    valid = sum(row.schema_valid for row in rows)
    charges = sum(row.charge_ok for row in rows)
    print(f"\n{len(rows)} operations: {valid} schema-valid, {charges} charged as priced")
    mismatches = table_mismatches(spec)
    print(f"parameter table vs spec: {sum(map(len, mismatches.values()))} differences")
    for key, problems in mismatches.items():
        print(f"  {key}: {'; '.join(problems)}")
    with_schema = len(rows) - sum(row.schema_errors is None for row in rows)
    return 0 if valid == with_schema and charges == len(rows) and not mismatches else 1


if __name__ == "__main__":
    raise SystemExit(main())
