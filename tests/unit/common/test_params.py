"""Task parameters that may be templates: skipped at parse time, validated once rendered."""

from __future__ import annotations

import pytest

from airflow_provider_coinstats.api.exceptions import CoinStatsConfigError
from airflow_provider_coinstats.common.params import credits_param, is_template


def test_templates_are_recognised() -> None:
    assert is_template("{{ params.cost }}") and is_template("{% if x %}1{% endif %}")
    assert not any(is_template(v) for v in ("1500", "{ not jinja }", 1500, None))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(2500, 2500), (2500.0, 2500), ("2500", 2500), (" 12.5 ", 12.5), ("0", 0), (10**15, 10**15)],
)
def test_credit_figures_from_numbers_and_rendered_strings(value: object, expected: float) -> None:
    result = credits_param("required_credits", value)
    assert result == expected and type(result) is type(expected)


def test_none_stays_none_and_templates_wait_for_rendering() -> None:
    assert credits_param("required_credits", None) is None
    assert credits_param("required_credits", "{{ params.cost }}", allow_template=True) is None
    # Unless templates are allowed, a template is just a bad value.
    with pytest.raises(CoinStatsConfigError, match=r"got '\{\{ params.cost \}\}'"):
        credits_param("required_credits", "{{ params.cost }}")


@pytest.mark.parametrize(
    ("value", "shown", "hint"),
    [
        ("1,5", "'1,5'", " (no commas: write 1500 for fifteen hundred, 1.5 for one and a half)"),
        (
            "1,500",
            "'1,500'",
            " (no commas: write 1500 for fifteen hundred, 1.5 for one and a half)",
        ),
        (10**400, "an integer of about 401 digits", ""),
        (10**15 + 1, "1000000000000001", ""),
        ("1e400", "'1e400'", ""),
        (-1, "-1", ""),
        ("lots", "'lots'", ""),
        (True, "True", " (True and False are not numbers)"),
    ],
)
def test_bad_figures_name_the_parameter_the_value_and_the_range(
    value: object, shown: str, hint: str
) -> None:
    with pytest.raises(CoinStatsConfigError) as raised:
        credits_param("min_remaining_credits", value)
    assert str(raised.value) == (
        "min_remaining_credits must be a number of credits from 0 to 1,000,000,000,000,000, "
        f"got {shown}{hint}"
    )
