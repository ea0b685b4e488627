"""Which task arguments are final as written in the DAG file, and so may be checked at parse.

Airflow renders template fields after the constructor: a Jinja string or an ``XComArg`` (e.g.
``other_task.output``) is only known when the task runs. Constructors check the literal values,
so that a typo breaks the DAG import instead of a run, and leave the rest to ``execute``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk.definitions._internal.mixins import ResolveMixin

from airflow_provider_coinstats.common.params import is_template


def is_literal(value: Any) -> bool:
    """True when nothing inside ``value`` (a number, string, list or mapping, nested) is a Jinja
    template or an XComArg, i.e. rendering would leave it as it is."""
    if isinstance(value, ResolveMixin) or is_template(value):
        return False
    if isinstance(value, Mapping):
        return all(is_literal(item) for item in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return all(is_literal(item) for item in value)
    return True
