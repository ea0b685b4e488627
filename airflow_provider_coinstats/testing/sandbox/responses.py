"""The bodies the sandbox answers with: CoinStats' error shapes, and the broken bodies of faults.

Shapes follow research/coinstats-api.md §6: errors are ``{statusCode, message, requestId, path}``;
the invalid-key 401 is CoinStats' exact ``InvalidApiKeyException`` body (no requestId, no path);
the spec's 503 example has no requestId either.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_coinstats.testing.sandbox.faults import Fault

JSON_TYPE = "application/json; charset=utf-8"

INVALID_KEY_BODY: dict[str, object] = {
    "statusCode": 401,
    "message": (
        "Your API Key is invalid. Please login to https://openapi.coinstats.app "
        "and generate your API Key."
    ),
}

# CoinStats' wording where the spec or live observations give it; the HTTP phrase otherwise.
_MESSAGES = {
    403: "Forbidden resource",
    406: "Insufficient credits for this request",
    409: "Transactions not synced",
    429: "Rate limit exceeded",
    500: "Internal server error",
    503: "Service Unavailable. Please Contact Support",
}


@dataclass(frozen=True, slots=True)
class Reply:
    """One HTTP answer.

    :param declared_length: the Content-Length to claim when it differs from the body's (a
        cut-off body); None means the body's own length.
    """

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    declared_length: int | None = None


def default_message(status: int) -> str:
    """CoinStats' message for a status, e.g. 429 -> ``Rate limit exceeded``."""
    if status in _MESSAGES:
        return _MESSAGES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def dumps(payload: object) -> bytes:
    """Compact JSON, as CoinStats sends it (so the 401 body matches theirs byte for byte)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def json_reply(status: int, payload: object, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status, dumps(payload), headers=headers)


def error_reply(
    status: int,
    message: str,
    path: str,
    *,
    with_request_id: bool = True,
    headers: tuple[tuple[str, str], ...] = (),
) -> Reply:
    """A CoinStats error, ``{statusCode, message, requestId, path}``."""
    body: dict[str, object] = {"statusCode": status, "message": message}
    if with_request_id:
        body |= {"requestId": str(uuid.uuid4()), "path": path}
    return json_reply(status, body, headers)


def fault_reply(fault: Fault, path: str, usage: Mapping[str, object]) -> Reply:
    """The answer of every fault kind but ``delay`` and ``reset``, which are not bodies."""
    status = fault.http_status
    headers: tuple[tuple[str, str], ...] = ()
    if fault.retry_after is not None:
        headers = (("Retry-After", _header_value(fault.retry_after)),)
    if fault.kind == "html":
        html = fault.body if isinstance(fault.body, str) else _html_page(status)
        return Reply(status, html.encode(), "text/html; charset=utf-8", headers)
    if fault.kind == "status" and fault.body is None:
        message = fault.message or default_message(status)
        return error_reply(
            status, message, path, with_request_id=fault.with_request_id, headers=headers
        )
    if isinstance(fault.body, str):
        full = fault.body.encode()
        if fault.kind == "invalid_json":
            return Reply(status, full, headers=headers)  # the caller's own broken text, as is
    elif fault.body is not None:
        full = dumps(fault.body)
    elif fault.kind == "mistyped":
        full = dumps({**usage, "remainingCredits": "lots"})
    else:
        full = dumps(usage)
    if fault.kind == "invalid_json":
        # Valid JSON up to a point, then it stops: what a truncating proxy delivers.
        return Reply(status, full[: max(1, len(full) // 2)], headers=headers)
    if fault.kind == "partial_body":
        # Claims the whole length, sends half; the server then closes the connection.
        return Reply(status, full[: len(full) // 2], headers=headers, declared_length=len(full))
    return Reply(status, full, headers=headers)


def _header_value(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)


def _html_page(status: int) -> str:
    title = f"{status} {default_message(status)}"
    # The shape of an nginx or CDN error page, which is what a proxy in front of an API sends.
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
