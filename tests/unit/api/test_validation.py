"""The validation layer: each rule; messages name the parameter, the value and the range."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_coinstats.api.exceptions import CoinStatsConfigError
from airflow_provider_coinstats.api.validation import (
    MAX_CREDITS,
    boolean,
    choice,
    header_problem,
    is_number,
    mapping,
    number,
    show,
    text,
)


def message_of(check: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(CoinStatsConfigError) as raised:
        check(*args, **kwargs)
    # Raised by us, not from inside float() or int(): nothing chained.
    assert raised.value.__cause__ is None and raised.value.__context__ is None
    return str(raised.value)


def test_is_number_refuses_bools_and_strings() -> None:
    assert is_number(1) and is_number(1.5) and is_number(10**400)
    assert not any(is_number(v) for v in (True, False, "1", None, [1]))


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"minimum": 0, "maximum": 20, "whole": True}, "a whole number from 0 to 20"),
        ({"minimum": 1, "whole": True}, "a positive integer"),
        ({"minimum": 1, "maximum": 31, "whole": True}, "a positive integer up to 31"),
        (
            {"above": 0, "maximum": 3600, "unit": "seconds"},
            "a positive number of seconds up to 3,600",
        ),
        ({"above": 0.5}, "a number above 0.5"),
        ({"above": 0.5, "maximum": 2}, "a number above 0.5 and up to 2"),
        ({"minimum": 0.001, "maximum": 100_000}, "a number from 0.001 to 100,000"),
        ({"minimum": 0}, "a non-negative number"),
        ({"minimum": 5}, "a number of at least 5"),
        ({"maximum": 5}, "a finite number up to 5"),
        ({}, "a finite number"),
    ],
)
def test_the_message_states_the_allowed_range(rule: dict[str, Any], expected: str) -> None:
    assert message_of(number, "knob", math.nan, **rule) == f"knob must be {expected}, got nan"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (10**400, "an integer of about 401 digits"),
        (-(10**400), "an integer of about 401 digits"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (True, "True (True and False are not numbers)"),
        (None, "None"),
        ([1], "list [1]"),
        ("12", "the string '12'"),  # strings are not accepted here
    ],
)
def test_values_that_are_not_numbers_in_range(value: object, shown: str) -> None:
    message = message_of(number, "required_credits", value, minimum=0, maximum=MAX_CREDITS)
    assert message == (
        f"required_credits must be a number from 0 to 1,000,000,000,000,000, got {shown}"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1500", 1500), (" 2.5 ", 2.5), ("1e3", 1000.0), ("+7", 7), (".5", 0.5), ("0", 0)],
)
def test_plain_decimal_strings_are_read_when_allowed(value: str, expected: float) -> None:
    result = number("x", value, minimum=0, strings=True)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    "value",
    ["1,5", "1,500", "1_500", "0x10", "nan", "inf", "1e400", "", " ", "½", "١٢", "5 credits"],
)
def test_other_strings_are_refused(value: str) -> None:
    message = message_of(number, "x", value, minimum=0, strings=True)
    assert message.startswith(f"x must be a non-negative number, got {value!r}")
    if "," in value:
        assert message.endswith(
            "(no commas: write 1500 for fifteen hundred, 1.5 for one and a half)"
        )


def test_whole_numbers_are_ints_or_digit_strings() -> None:
    assert number("n", 3, minimum=0, whole=True) == 3
    assert number("n", " 3 ", minimum=0, whole=True, strings=True) == 3
    for value in (3.0, "3.0", "3e0"):
        message = message_of(number, "n", value, minimum=0, maximum=9, whole=True, strings=True)
        assert (
            message
            == f"n must be a whole number from 0 to 9, got {show(value, strings_expected=True)}"
        )


def test_huge_digit_strings_are_refused_before_parsing() -> None:
    # int() of more than 4,300 digits raises ValueError; the layer never gets that far.
    message = message_of(number, "n", "9" * 5000, minimum=0, strings=True)
    assert message.endswith("(5000 chars)")


def test_a_hint_is_appended() -> None:
    message = message_of(
        number, "ratio", 10, minimum=0, maximum=1, hint="(a fraction: 0.1 means 10%)"
    )
    assert message == "ratio must be a number from 0 to 1, got 10 (a fraction: 0.1 means 10%)"


@given(
    st.one_of(
        st.integers(),
        st.integers(min_value=10**20, max_value=10**500),
        st.floats(),
        st.text(max_size=60),
        st.booleans(),
        st.none(),
    )
)
@settings(max_examples=300, deadline=None)
def test_any_input_gives_a_number_in_range_or_a_config_error(value: object) -> None:
    errors: list[str] = []
    try:
        result = number("x", value, above=0, maximum=3600, strings=True)
    except CoinStatsConfigError as error:
        errors.append(str(error))
    if errors:
        assert errors[0].startswith("x must be a positive number up to 3,600, got ")
        assert len(errors[0]) < 600  # 40 characters at most, each escaped to 10 at most
    else:
        assert is_number(result) and 0 < result <= 3600 and math.isfinite(result)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        (" False ", False),
        ("TRUE", True),
        (1, True),
        (0, False),
        ("1", True),
        ("0", False),
    ],
)
def test_loose_booleans(value: object, expected: bool) -> None:
    assert boolean("flag", value, loose=True) is expected


@pytest.mark.parametrize("value", ["yes", "no", "on", "", 2, -1, 1.0, None, "t"])
def test_anything_else_is_not_guessed_as_a_boolean(value: object) -> None:
    message = message_of(boolean, "flag", value, loose=True)
    assert (
        message
        == f"flag must be true or false (or 1 or 0), got {show(value, strings_expected=True)}"
    )


@pytest.mark.parametrize("value", ["false", 1, 0, None])
def test_strict_booleans_take_only_true_and_false(value: object) -> None:
    assert message_of(boolean, "pace", value) == f"pace must be True or False, got {show(value)}"


def test_choice_text_and_mapping() -> None:
    assert choice("auth", " Bearer ", ("api_key", "bearer")) == "bearer"
    assert message_of(choice, "auth", None, ("a", "b")) == "auth must be one of a, b, got None"
    assert text("path", " /coins ", example="/coins") == "/coins"
    assert message_of(text, "path", "  ", example="/coins") == (
        "path must be a non-empty string such as '/coins', got '  '"
    )
    assert mapping("q", {"a": 1}, example="{}") == {"a": 1}
    assert message_of(mapping, "q", "x", example="{'limit': 100}", hint="(why)") == (
        "q must be a mapping such as {'limit': 100}, got the string 'x' (why)"
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "is empty"),
        ("ab\rcd", "contains a line break (character 3)"),
        ("ab\ncd", "contains a line break (character 3)"),
        ("abc\u200b", "contains a zero-width space (U+200B) at character 4"),
        ("\ufeffabc", "contains a byte-order mark (U+FEFF) at character 1"),
        ("a\u00a0b", "contains a no-break space (U+00A0) at character 2"),
        ("abcé", "contains a non-ASCII character at character 4"),
        ("ключ", "contains a non-ASCII character at character 1"),
        ("a\x1bb", "contains a control character at character 2"),
        ("ab\x7f", "contains a control character at character 3"),
        ("abc-DEF_123.~+/=", None),
        ("with space", None),
    ],
)
def test_header_problems_say_what_and_where_never_the_value(
    value: str, problem: str | None
) -> None:
    assert header_problem(value) == problem


PROBLEM_SHAPES = {
    "is empty",
    "contains a line break (character N)",
    "contains a non-ASCII character at character N",
    "contains a control character at character N",
    "contains a zero-width space (U+200B) at character N",
    "contains a zero-width non-joiner (U+200C) at character N",
    "contains a zero-width joiner (U+200D) at character N",
    "contains a word joiner (U+2060) at character N",
    "contains a byte-order mark (U+FEFF) at character N",
    "contains a no-break space (U+00A0) at character N",
}


@given(st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_a_header_problem_is_a_fixed_sentence_and_a_position(value: str) -> None:
    # Nothing of the value can appear: only fixed words and the position of the bad character.
    problem = header_problem(value)
    if problem is None:
        assert value and all(0x20 <= ord(char) <= 0x7E for char in value)
    else:
        assert re.sub(r"character \d+", "character N", problem) in PROBLEM_SHAPES
