"""The provider as Airflow discovers it: entry point, canonical name, connection form."""

from __future__ import annotations

import json
from importlib.metadata import distribution, entry_points
from pathlib import Path

import airflow
import jsonschema
from packaging.utils import canonicalize_name

from airflow_provider_coinstats import __version__
from airflow_provider_coinstats.get_provider_info import get_provider_info


def test_entry_point_loads_and_package_name_is_canonical() -> None:
    (entry,) = [
        ep
        for ep in entry_points(group="apache_airflow_provider")
        if ep.value.startswith("airflow_provider_coinstats")
    ]
    info = entry.load()()
    dist = distribution("airflow-provider-coinstats")
    assert info["package-name"] == canonicalize_name(dist.metadata["Name"])
    assert dist.version == __version__


def test_provider_info_validates_against_airflows_schema() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_providers_manager_sees_hook_and_form_fields() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-coinstats" in manager.providers
    hook = manager.hooks["coinstats"]
    assert hook is not None
    assert hook.hook_class_name == "airflow_provider_coinstats.hooks.coinstats.CoinStatsHook"
    assert hook.connection_id_attribute_name == "coinstats_conn_id"
    widgets = manager.connection_form_widgets
    for field in ("timeout", "max_retries", "requests_per_second", "auth_type"):
        assert f"extra__coinstats__{field}" in widgets, sorted(widgets)
    behaviour = manager.field_behaviours["coinstats"]
    assert behaviour["relabeling"]["password"] == "API key"
    assert set(behaviour["hidden_fields"]) == {"login", "schema"}


def test_ui_connection_form_metadata_has_the_coinstats_fields() -> None:
    # What GET /ui/connections/hook_meta serves to the React connection form.
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    (meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "coinstats"]
    assert meta.hook_name == "CoinStats"
    standard = meta.standard_fields
    assert standard is not None
    assert standard.password is not None and standard.password.title == "API key"
    assert standard.host is not None and standard.host.title == "Base URL"
    assert standard.login is not None and standard.login.hidden
    extra = meta.extra_fields or {}
    assert set(extra) >= {"timeout", "max_retries", "requests_per_second", "auth_type"}
    assert extra["max_retries"]["schema"]["default"] == 3
    assert extra["auth_type"]["schema"]["enum"] == ["api_key", "bearer"]


def test_sensors_and_triggers_are_registered_by_module() -> None:
    # What `airflow providers triggers` lists; the modules are where the classes live.
    import importlib

    from airflow.providers_manager import ProvidersManager
    from airflow.sdk import BaseSensorOperator
    from airflow.triggers.base import BaseTrigger

    manager = ProvidersManager()
    triggers = [t for t in manager.trigger if t.package_name == "airflow-provider-coinstats"]
    assert [(t.trigger_class_name, t.integration_name) for t in triggers] == [
        ("airflow_provider_coinstats.triggers.coinstats", "CoinStats")
    ]
    trigger_module = importlib.import_module(triggers[0].trigger_class_name)
    assert issubclass(trigger_module.CreditBudgetTrigger, BaseTrigger)
    (sensors,) = get_provider_info()["sensors"]
    (sensor_module,) = sensors["python-modules"]
    assert issubclass(importlib.import_module(sensor_module).CreditBudgetSensor, BaseSensorOperator)
