"""Each warehouse folder's settings registry is the one list its other places are checked against.

The Meltano yml (load/<warehouse>.meltano.yml), the Airflow operator's connection mapping, the
dbt profile, reconciliation's login and docs/warehouses.md: a setting missing from one of them,
or one that none of them knows, fails here with the file to fix.
"""

from __future__ import annotations

import importlib
import importlib.util
import re

import pytest
import yaml

from airflow_audit_core.warehouses import JOBS, WAREHOUSES, job_for
from airflow_audit_loader.registry import PROJECT_SETTINGS, login_config
from airflow_audit_operator.connection_settings import SECRET_VARIABLES, WAREHOUSE_VARIABLES
from tests.support import ROOT

LOADER_PACKAGE = ROOT / "load/airflow-audit-loader/airflow_audit_loader"


def registry(warehouse: str):
    return importlib.import_module(f"airflow_audit_loader.{warehouse}.settings").SETTINGS


def loader_plugin(warehouse: str) -> dict:
    (plugin,) = yaml.safe_load((ROOT / f"load/{warehouse}.meltano.yml").read_text())["plugins"][
        "loaders"
    ]
    return plugin


@pytest.mark.parametrize("warehouse", WAREHOUSES)
def test_one_folder_holds_the_warehouse(warehouse):
    folder = LOADER_PACKAGE / warehouse
    assert {"target.py", "settings.py", "reconcile.py"} <= {p.name for p in folder.glob("*.py")}
    adapter = importlib.import_module(f"airflow_audit_loader.{warehouse}.reconcile")
    assert callable(adapter.open_warehouse)


@pytest.mark.parametrize("warehouse", WAREHOUSES)
def test_the_meltano_yml_is_the_registry(warehouse):
    plugin = loader_plugin(warehouse)
    assert plugin["name"] == plugin["executable"] == f"target-airflow-audit-{warehouse}"
    in_yml = [
        (s["name"], s.get("kind", "string"), s.get("value"), bool(s.get("sensitive")))
        for s in plugin["settings"]
    ]
    in_registry = [
        (s.name, "password" if s.secret else s.kind, s.meltano_value, s.secret)
        for s in (*PROJECT_SETTINGS, *registry(warehouse))
    ]
    assert in_yml == in_registry, (
        f"load/{warehouse}.meltano.yml differs from {warehouse}/settings.py"
    )


@pytest.mark.parametrize("warehouse", WAREHOUSES)
def test_the_operator_sets_exactly_the_registry_variables(warehouse):
    variables = {s.variable for s in registry(warehouse) if s.variable}
    assert set(WAREHOUSE_VARIABLES[warehouse]) == variables
    secrets = {s.variable for s in registry(warehouse) if s.secret}
    assert secrets == {v for v in SECRET_VARIABLES if v in variables}


def how_a_build_runs() -> set[str]:
    """The variables that change how dbt builds, not how it logs in or what it builds
    (transform/build_changed.py's HOW_NOT_WHAT: dbt's threads, DuckDB's limits)."""
    spec = importlib.util.spec_from_file_location(
        "build_changed", ROOT / "transform/build_changed.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return set(module.HOW_NOT_WHAT)


@pytest.mark.parametrize("warehouse", WAREHOUSES)
def test_the_dbt_profile_logs_in_with_registry_settings(warehouse):
    profile = (ROOT / f"transform/profiles/{warehouse}/profiles.yml").read_text()
    used = set(re.findall(r"env_var\('(AIRFLOW_AUDIT_[A-Z0-9_]+)'", profile))
    login = {s.variable for s in registry(warehouse) if s.login}
    project = {s.variable for s in PROJECT_SETTINGS}
    assert used - project - how_a_build_runs() <= login, (
        f"transform/profiles/{warehouse}/profiles.yml"
    )
    assert used & login, warehouse


@pytest.mark.parametrize("warehouse", WAREHOUSES)
def test_reconciliation_logs_in_with_the_login_settings(warehouse):
    env = {s.variable: f"value-of-{s.name}" for s in registry(warehouse) if s.variable}
    config = login_config(registry(warehouse), env)
    login = {s.name for s in registry(warehouse) if s.login}
    assert set(config) == login | {s.name for s in PROJECT_SETTINGS}


@pytest.mark.parametrize("warehouse", WAREHOUSES)
def test_the_docs_name_every_variable(warehouse):
    docs = (ROOT / "docs/warehouses.md").read_text() + (ROOT / "README.md").read_text()
    missing = [s.variable for s in registry(warehouse) if s.variable and s.variable not in docs]
    assert not missing, f"docs/warehouses.md does not mention {missing}"


def test_every_warehouse_job_loads_reconciles_and_builds():
    jobs = {
        j["name"]: j["tasks"] for j in yaml.safe_load((ROOT / "meltano.yml").read_text())["jobs"]
    }
    assert set(jobs) == set(JOBS.values())
    for warehouse in WAREHOUSES:
        assert jobs[job_for(warehouse)] == [
            f"tap-airflow-metadb target-airflow-audit-{warehouse} "
            f"airflow-audit-reconcile:{warehouse} dbt-{warehouse}:build-changed"
        ]
    (utility,) = yaml.safe_load((ROOT / "utilities/reconcile.meltano.yml").read_text())["plugins"][
        "utilities"
    ]
    assert {c: v["args"] for c, v in utility["commands"].items()} == {w: w for w in WAREHOUSES}


def test_every_pip_url_is_pinned_or_the_projects_own():
    own = {
        "./core",
        "./extract/tap-airflow-metadb",
        "./utilities/airflow-audit-reconcile",
        "./utilities/airflow-audit-backup",
        "./utilities/airflow-audit-report",
    }
    for path in ROOT.glob("*/*.meltano.yml"):
        for plugins in yaml.safe_load(path.read_text()).get("plugins", {}).values():
            for plugin in plugins:
                for requirement in str(plugin.get("pip_url") or "").split():
                    if requirement == "-e":
                        continue
                    base = requirement.split("[")[0]
                    assert base in own | {"./load/airflow-audit-loader"} or re.fullmatch(
                        r"[A-Za-z0-9_.\[\],-]+==[0-9][0-9a-z.]*", requirement
                    ), f"{path.relative_to(ROOT)}: {plugin['name']}: {requirement}"


def test_the_projects_packages_declare_what_they_import():
    """Each package's pyproject names the project packages its code imports."""
    packages = {
        "core": ("airflow_audit_core", set()),
        "extract/tap-airflow-metadb": ("tap_airflow_metadb", {"airflow-audit-core"}),
        "load/airflow-audit-loader": ("airflow_audit_loader", {"airflow-audit-core"}),
        "utilities/airflow-audit-reconcile": (
            "airflow_audit_reconcile",
            {"airflow-audit-core", "tap-airflow-metadb", "airflow-audit-loader"},
        ),
        "orchestrate": ("airflow_audit_operator", {"airflow-audit-core"}),
    }
    module_of = {
        "airflow_audit_core": "airflow-audit-core",
        "tap_airflow_metadb": "tap-airflow-metadb",
        "airflow_audit_loader": "airflow-audit-loader",
        "airflow_audit_reconcile": "airflow-audit-reconcile",
        "airflow_audit_operator": "airflow-audit-operator",
    }
    for folder, (own, expected) in packages.items():
        text = "\n".join(
            p.read_text() for p in (ROOT / folder).rglob("*.py") if "egg-info" not in str(p)
        )
        imported = {
            module_of[m]
            for m in re.findall(r"^\s*(?:from|import) (\w+)", text, re.M)
            if m in module_of and m != own
        }
        declared = set(
            re.findall(
                r'"([a-z-]+)(?:\[[a-z,]+\])?==0\.1\.0"',
                (ROOT / folder / "pyproject.toml").read_text(),
            )
        )
        assert imported == expected == declared, folder


def test_the_extractor_knows_nothing_of_warehouses():
    text = "\n".join(p.read_text() for p in (ROOT / "extract/tap-airflow-metadb").rglob("*.py"))
    assert "airflow_audit_loader" not in text
    assert not re.search(r"\b(snowflake|bigquery|redshift|duckdb)\b", text, re.I), (
        "the tap mentions a warehouse"
    )
