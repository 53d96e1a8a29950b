"""The per-table check's counting helper, on a real DuckDB file (the source side runs end to end
in tests/orchestrate/test_airflow.py)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from airflow_audit_operator.row_counts import (
    CountError,
    count_rows,
    duckdb_rows,
    main,
    source_rows,
    warehouse_schema,
)


@pytest.fixture
def warehouse(tmp_path) -> Path:
    path = tmp_path / "wh.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute('create schema "airflow-qwe123"')
        con.execute(
            'create table "airflow-qwe123".dag_run (id integer, _sdc_deleted_at timestamptz)'
        )
        con.execute('insert into "airflow-qwe123".dag_run values (1, null), (2, null), (3, now())')
    return path


def test_rows_deleted_at_the_source_are_not_counted(warehouse, tmp_path):
    env = {"AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse)}
    assert duckdb_rows("dag_run", "airflow-qwe123", tmp_path, env) == 2


def test_the_schema_follows_the_loaders_naming_rule():
    assert warehouse_schema("duckdb", {"AIRFLOW_AUDIT_ENV_SLUG": "qwe123"}) == "airflow-qwe123"
    assert warehouse_schema("duckdb", {}) == "airflow-local"
    assert (
        warehouse_schema("bigquery", {"AIRFLOW_AUDIT_DESTINATION_SCHEMA": "airflow-tables"})
        == "airflow_tables"
    )


def test_a_relative_path_starts_at_the_project(warehouse, tmp_path):
    env = {"AIRFLOW_AUDIT_DUCKDB_PATH": warehouse.name}
    assert duckdb_rows("dag_run", "airflow-qwe123", warehouse.parent, env) == 2


@pytest.mark.parametrize(
    ("table", "env", "match"),
    [
        ("dag_run", {"AIRFLOW_AUDIT_DUCKDB_PATH": "/nonexistent/wh.duckdb"}, "does not exist"),
        ("log", None, "has no table airflow-qwe123.log"),
    ],
)
def test_nothing_loaded_is_said_in_one_sentence(warehouse, tmp_path, table, env, match):
    env = env or {"AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse)}
    with pytest.raises(CountError, match=match):
        duckdb_rows(table, "airflow-qwe123", tmp_path, env)


def test_other_warehouses_and_sources_are_refused(tmp_path, capsys):
    with pytest.raises(CountError, match="DuckDB only for now, not snowflake"):
        count_rows("dag_run", "snowflake", tmp_path, {})
    with pytest.raises(CountError, match="sqlite database"):
        source_rows("dag_run", {"AIRFLOW_AUDIT_SOURCE_URL": "sqlite:////airflow.db"})
    assert main(["--table", "dag_run", "--warehouse", "redshift"]) == 2
    assert "DuckDB only for now" in capsys.readouterr().err
