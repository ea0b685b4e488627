"""Every example DAG imports cleanly and calls no API while being parsed."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_coinstats.testing.sandbox import Sandbox

EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"


def test_example_dags_import_without_errors_or_api_calls(coinstats_conn: Sandbox) -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined]

    bag = DagBag(dag_folder=str(EXAMPLE_DAGS))
    assert bag.import_errors == {}
    files = sorted(p.stem for p in EXAMPLE_DAGS.glob("example_*.py"))
    assert sorted(bag.dag_ids) == files  # one DAG per file, named after it
    for dag in bag.dags.values():
        assert "example" in dag.tags and "coinstats" in dag.tags, dag.dag_id
        assert dag.doc_md or dag.description, dag.dag_id
    assert coinstats_conn.count() == 0  # parsing made no request


@pytest.mark.parametrize("path", sorted(EXAMPLE_DAGS.glob("example_*.py")), ids=lambda p: p.stem)
def test_examples_hold_no_secrets(path: Path) -> None:
    text = path.read_text()
    assert "password=" not in text and "X-API-KEY" not in text
