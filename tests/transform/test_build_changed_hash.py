"""When the job's dbt step rebuilds every mart from scratch because the project changed
(transform/build_changed.py's project hash): for a change of its files, of dbt, or of a variable
the project's files read, not for a variable only the extractor or reconciliation reads.  A rotated
password in the source URL or another table selection changed what is loaded, which the
warehouse's figures tell; at 10M task instances a rebuild from scratch is minutes, an hourly
build seconds (README "How fast")."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re

import pytest

from tests.support import ROOT

PROJECT = ROOT / "transform"
PROFILES = PROJECT / "profiles/duckdb"
# What a job's environment holds besides the project's own variables (meltano.yml, extract/).
EXTRACTOR_ONLY = {
    "AIRFLOW_AUDIT_SOURCE_URL": (
        "postgresql://airflow:old-password@db:5432/airflow",
        "postgresql://airflow:rotated-password@db.internal:5432/airflow?sslmode=require",
    ),
    "AIRFLOW_AUDIT_TABLES": ("dag,dag_run,task_instance", "dag,dag_run,task_instance,log"),
    "AIRFLOW_AUDIT_ADDITIONAL_TABLES": ("", "trigger"),
    "AIRFLOW_AUDIT_HANDOFF": ("files", "records"),
    "AIRFLOW_AUDIT_MODE": ("mirror", "archive"),
    "AIRFLOW_AUDIT_FULL_REFRESH": ("", "task_instance"),
    "AIRFLOW_AUDIT_STATEMENT_TIMEOUT": ("", "600"),
}
# Variables the project's files read: another value, another build.
READ_BY_THE_PROJECT = {
    "AIRFLOW_AUDIT_ANOMALY_HISTORY_RUNS": ("30", "10"),
    "AIRFLOW_AUDIT_TREND_WINDOW_DAYS": ("30", "7"),
    "AIRFLOW_AUDIT_ENV_SLUG": ("prod", "staging"),
    # the profile's: the views dbt writes name the file's catalog ("a"."airflow-prod"."..."), so a
    # build after the file was renamed, without rewriting them all, fails ('Catalog "a" does not exist')
    "AIRFLOW_AUDIT_DUCKDB_PATH": ("/data/a.duckdb", "/data/b.duckdb"),
}


def build_changed():
    spec = importlib.util.spec_from_file_location("build_changed", PROJECT / "build_changed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def project_hash(monkeypatch):
    module = build_changed()
    # dbt's version is hashed too; dbt lives in its plugin's venv, not the tests'.
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "1.10.0")
    for name in (*EXTRACTOR_ONLY, *READ_BY_THE_PROJECT):
        monkeypatch.delenv(name, raising=False)

    def hashed(**env: str) -> str:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return module.project_hash(PROJECT, PROFILES)

    return hashed


@pytest.mark.parametrize("name", sorted(EXTRACTOR_ONLY))
def test_a_variable_only_the_extractor_reads_rebuilds_nothing(project_hash, name):
    before, after = EXTRACTOR_ONLY[name]
    assert project_hash(**{name: before}) == project_hash(**{name: after})


@pytest.mark.parametrize("name", sorted(READ_BY_THE_PROJECT))
def test_a_variable_the_project_reads_rebuilds_the_marts(project_hash, name):
    before, after = READ_BY_THE_PROJECT[name]
    assert project_hash(**{name: before}) != project_hash(**{name: after})


def unnamed_env_vars(text: str) -> list[str]:
    """The env_var() calls of `text` that do not name their variable in a string literal."""
    calls = re.findall(r"env_var\s*\([^)]*\)?", text)
    return [c for c in calls if not re.match(r"""env_var\s*\(\s*['"][A-Za-z0-9_]+['"]""", c)]


def project_files():
    module = build_changed()
    yield PROJECT / "dbt_project.yml"
    yield from PROJECT.glob("profiles/*/profiles.yml")
    for part in module.PROJECT_PARTS:
        yield from (p for p in (PROJECT / part).rglob("*") if p.is_file())


def test_every_env_var_of_the_project_names_its_variable():
    """The hash finds what the project reads by the names its env_var() calls write out: a
    variable named at run time would escape it, and its new value would build nothing."""
    unnamed = [
        f"{path.relative_to(ROOT)}: {call}"
        for path in project_files()
        for call in unnamed_env_vars(path.read_text(errors="replace"))
    ]
    assert unnamed == []
    module = build_changed()
    read = {
        name
        for path in project_files()
        for name in module.READ_VARIABLE.findall(path.read_text(errors="replace"))
    }
    assert set(READ_BY_THE_PROJECT) <= read
    assert not read & set(EXTRACTOR_ONLY)


def test_a_variable_named_at_run_time_is_found():
    assert unnamed_env_vars("{{ env_var(name, '') }} {{ env_var('AIRFLOW_AUDIT_X', '') }}") == [
        "env_var(name, '')"
    ]
    assert unnamed_env_vars('{{ env_var( "AIRFLOW_AUDIT_X") }}') == []
