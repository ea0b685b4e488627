"""JSON bodies parsed within limits: every way a body can break the parser ends in one
:class:`RejectedJSON` that names the problem and quotes nothing of the body.

What is refused, and why a plain ``json.loads`` is not enough:

- nesting deeper than :data:`MAX_DEPTH` (``json.loads`` recurses, and a 2 KB body of brackets
  raises ``RecursionError``; shallower but absurd nesting is refused by an explicit walk);
- integers longer than :data:`MAX_INT_DIGITS` digits (Python builds a 400-digit ``int`` that
  later overflows ``float()``, and refuses 4,300 digits with a ``ValueError``);
- ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON, though Python accepts them), and floats
  that overflow to infinity (``1e400``);
- bytes that are not UTF-8, and anything else that is not JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any

#: Deepest nesting of arrays and objects accepted; CoinStats' answers are 4 levels deep or less.
MAX_DEPTH = 64
#: Most digits an integer may have; a credit count or a token amount in wei fits in 40.
MAX_INT_DIGITS = 64


class RejectedJSON(ValueError):
    """A body that is not JSON we are willing to use; the text says why, without quoting it."""


def loads(content: bytes) -> Any:
    """Parse a UTF-8 JSON body within the limits above.

    :raises RejectedJSON: naming the problem (never quoting the body).
    """
    problem: str | None = None
    try:
        value = json.loads(
            content.decode("utf-8-sig"),
            parse_int=_integer,
            parse_float=_float,
            parse_constant=_constant,
        )
    except RejectedJSON as rejected:
        problem = str(rejected)
    except RecursionError:
        problem = f"JSON nested deeper than {MAX_DEPTH} levels"
    except UnicodeDecodeError as error:
        problem = f"bytes that are not UTF-8 (at byte {error.start})"
    except json.JSONDecodeError as error:
        problem = f"invalid JSON ({error.msg} at line {error.lineno} column {error.colno})"
    except (ValueError, OverflowError) as error:
        problem = f"invalid JSON ({type(error).__name__})"
    # Raised out here, so that nothing holding the body is chained to it as __context__.
    if problem is not None:
        raise RejectedJSON(problem)
    # Bracket count first: most bodies cannot be deep enough to need the walk.
    if content.count(b"[") + content.count(b"{") > MAX_DEPTH:
        _check_depth(value)
    return value


def _check_depth(value: Any) -> None:
    """Refuse nesting deeper than MAX_DEPTH, walking with an explicit stack (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise RejectedJSON(f"JSON nested deeper than {MAX_DEPTH} levels")
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def _integer(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise RejectedJSON(f"an integer of {digits} digits (at most {MAX_INT_DIGITS} are accepted)")
    return int(text)


def _float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise RejectedJSON(f"a number too large for a float ({len(text)} characters)")
    return number


def _constant(name: str) -> Any:
    raise RejectedJSON(f"{name}, which is not a number JSON allows")
