"""The one validation layer: checks of what DAG authors and connections supply.

Plain Python, no Airflow and no third-party import: budgets with literal values are validated
while a DAG file is parsed, so this must cost nothing to import (a pydantic model class costs
1-2 ms to build, several of them more than the provider's whole parse budget).

Every check raises :class:`~airflow_provider_coinstats.api.exceptions.CoinStatsConfigError` with
one message shape, ``<name> must be <what is allowed>, got <the value>``, where the caller's
``name`` says where the value came from (``required_credits``, ``connection 'cs' extra
'timeout'``, ``calls[2]: 'times'``). Values are shown bounded, never as a 400-digit number. The
checks never raise from inside ``float()`` or ``int()``: no OverflowError, no ValueError chain.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeGuard

from airflow_provider_coinstats.api.exceptions import CoinStatsConfigError

#: The largest credit figure accepted anywhere (required, reserve, price): far above any plan,
#: far below where float arithmetic loses whole credits (2**53 ~ 9e15).
MAX_CREDITS = 10**15

# What a plain decimal may be written with. Checked before int() and float(), which also read
# "1_500", "nan", "infinity" and other scripts' digits ("١٢" is 12).
_DECIMAL_CHARS = frozenset("0123456789+-.eE")
#: Longer numeric strings are refused before parsing: int() of 4,300+ digits raises.
_MAX_NUMBER_TEXT = 40
_TRUE, _FALSE = ("true", "1"), ("false", "0")
# Characters that survive copy and paste unseen; named, since they cannot be shown.
_INVISIBLE = {
    "\u00a0": "a no-break space (U+00A0)",
    "\u200b": "a zero-width space (U+200B)",
    "\u200c": "a zero-width non-joiner (U+200C)",
    "\u200d": "a zero-width joiner (U+200D)",
    "\u2060": "a word joiner (U+2060)",
    "\ufeff": "a byte-order mark (U+FEFF)",
}


def is_number(value: object) -> TypeGuard[int | float]:
    """An ``int`` or ``float`` that is not a ``bool``: bool is an int in Python, but ``True``
    is a mistake wherever a count or an amount is expected, never the number 1."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def number(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    whole: bool = False,
    strings: bool = False,
    unit: str = "",
    hint: str = "",
) -> int | float:
    """A finite number within bounds, returned as given (an int stays an int).

    :param name: what the value is, as the message should name it.
    :param minimum: the smallest allowed value (inclusive).
    :param maximum: the largest allowed value (inclusive).
    :param above: the value must be greater than this (exclusive lower bound).
    :param whole: only integers (``15.0`` is refused: a day or a page count is an int).
    :param strings: also accept a plain decimal string such as ``"1500"`` or ``"0.5"``, as URI
        query strings and rendered templates deliver; ``"1,500"`` is refused, since a comma is a
        thousands separator in one locale and a decimal point in another.
    :param unit: what the number counts, e.g. ``"seconds"``, for the message.
    :param hint: appended to the message, e.g. ``"(a fraction: 0.1 means 10%)"``.
    :raises CoinStatsConfigError: naming ``name``, the allowed range and the value.
    """
    allowed = _describe(minimum=minimum, maximum=maximum, above=above, whole=whole, unit=unit)
    parsed: int | float | None = None
    advice = hint
    if is_number(value):
        parsed = value
    elif isinstance(value, str) and strings:
        parsed = _parse(value.strip(), whole=whole)
        if parsed is None and "," in value:
            advice = "(no commas: write 1500 for fifteen hundred, 1.5 for one and a half)"
    if (
        parsed is None
        or (whole and not isinstance(parsed, int))
        # Ints are compared exactly whatever their size; only floats can be NaN or infinite.
        or (isinstance(parsed, float) and not math.isfinite(parsed))
        or (above is not None and not parsed > above)
        or (minimum is not None and not parsed >= minimum)
        or (maximum is not None and not parsed <= maximum)
    ):
        shown = show(value, strings_expected=strings)
        if isinstance(value, bool):
            advice = "(True and False are not numbers)"
        raise CoinStatsConfigError(f"{name} must be {allowed}, got {shown}{_suffix(advice)}")
    return parsed


def boolean(name: str, value: object, *, loose: bool = False) -> bool:
    """``True`` or ``False``.

    :param loose: also accept ``"true"``/``"false"`` (any case) and ``1``/``0`` (ints or
        strings), as connection extras arrive from URIs and forms; anything else is refused
        rather than guessed (``"no"`` or ``"off"`` are not read as false).
    """
    if isinstance(value, bool):
        return value
    if loose:
        text = value.strip().lower() if isinstance(value, str) else None
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise CoinStatsConfigError(
            f"{name} must be true or false (or 1 or 0), got {show(value, strings_expected=True)}"
        )
    raise CoinStatsConfigError(f"{name} must be True or False, got {show(value)}")


def choice(name: str, value: object, options: Iterable[str]) -> str:
    """One of ``options``, compared stripped and lower-cased; returns the option."""
    allowed = tuple(options)
    option = value.strip().lower() if isinstance(value, str) else None
    if option is None or option not in allowed:
        raise CoinStatsConfigError(
            f"{name} must be one of {', '.join(allowed)}, got {show(value, strings_expected=True)}"
        )
    return option


def text(name: str, value: object, *, example: str) -> str:
    """A non-blank string, stripped."""
    if not isinstance(value, str) or not value.strip():
        raise CoinStatsConfigError(
            f"{name} must be a non-empty string such as {example!r}, got "
            f"{show(value, strings_expected=True)}"
        )
    return value.strip()


def mapping(name: str, value: object, *, example: str, hint: str = "") -> Mapping[Any, Any]:
    """A mapping (a dict); ``None`` is not one."""
    if not isinstance(value, Mapping):
        raise CoinStatsConfigError(
            f"{name} must be a mapping such as {example}, got {show(value)}{_suffix(hint)}"
        )
    return value


def header_problem(value: str) -> str | None:
    """What makes ``value`` unfit for an HTTP header (printable ASCII only), or None.

    The answer describes the problem and its 1-based position, never the value nor any
    character of it, so that it can describe a secret.
    """
    if not value:
        return "is empty"
    for position, char in enumerate(value, start=1):
        if char in "\r\n":
            return f"contains a line break (character {position})"
        if char in _INVISIBLE:
            return f"contains {_INVISIBLE[char]} at character {position}"
        if ord(char) < 0x20 or ord(char) == 0x7F:
            return f"contains a control character at character {position}"
        if ord(char) > 0x7F:
            return f"contains a non-ASCII character at character {position}"
    return None


def show(value: object, *, strings_expected: bool = False) -> str:
    """A bounded, readable rendering of a bad value for a message.

    Strings are quoted (and called "the string" where a number was expected but strings are
    not accepted); other types are named; integers too long to print are described.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        digits = int(value.bit_length() * math.log10(2)) + 1
        return f"an integer of about {digits} digits"
    if isinstance(value, str):
        quoted = repr(value) if len(value) <= 40 else f"{value[:40]!r}... ({len(value)} chars)"
        return quoted if strings_expected else f"the string {quoted}"
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    rendered = repr(value)
    rendered = rendered if len(rendered) <= 60 else rendered[:60] + "..."
    return f"{type(value).__name__} {rendered}"


def _parse(text: str, *, whole: bool) -> int | float | None:
    if len(text) > _MAX_NUMBER_TEXT or not _DECIMAL_CHARS.issuperset(text):
        return None
    digits = text[1:] if text[:1] in "+-" else text
    if digits.isdigit():
        return int(text)
    if whole:
        return None
    try:
        return float(text)  # "1e400" becomes inf, which the range check refuses
    except ValueError:  # "1e", "+-1", "1.2.3": not a number, reported by the caller
        return None


def _describe(
    *,
    minimum: float | None,
    maximum: float | None,
    above: float | None,
    whole: bool,
    unit: str,
) -> str:
    counted = f" of {unit}" if unit else ""
    up_to = "" if maximum is None else f" up to {_figure(maximum)}"
    if whole and minimum == 1:
        return f"a positive integer{counted}{up_to}"
    noun = f"{'a whole number' if whole else 'a number'}{counted}"
    if above == 0 and minimum is None:
        return f"a positive number{counted}{up_to}"
    if above is not None:
        return f"{noun} above {_figure(above)}{up_to.replace(' up to', ' and up to')}"
    if minimum is not None and maximum is not None:
        return f"{noun} from {_figure(minimum)} to {_figure(maximum)}"
    if minimum == 0:
        return f"a non-negative {noun.removeprefix('a ')}"
    if minimum is not None:
        return f"{noun} of at least {_figure(minimum)}"
    return f"a finite {noun.removeprefix('a ')}{up_to}"


def _figure(bound: float) -> str:
    if float(bound).is_integer():
        return f"{int(bound):,}"
    return f"{bound:g}"


def _suffix(hint: str) -> str:
    return f" {hint}" if hint else ""
