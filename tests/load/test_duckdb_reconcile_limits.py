"""Reconciliation's DuckDB connection takes DuckDB's limits (AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT,
AIRFLOW_AUDIT_DUCKDB_THREADS) as the loader and dbt take them: counting a large table's distinct
keys holds them all (2 GB of reconciliation's RSS at 10M task instances without a limit,
docs/benchmarks.md). A bad value stops it in one sentence before the file is opened."""

from __future__ import annotations

import duckdb
import pytest

from airflow_audit_core.errors import UserError
from airflow_audit_loader.duckdb.reconcile import open_warehouse


def settings_of(con) -> tuple[str, int]:
    return con.execute(
        "select current_setting('memory_limit'), current_setting('threads')"
    ).fetchone()


def env_for(tmp_path, **limits: str) -> dict[str, str]:
    return {
        "AIRFLOW_AUDIT_DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        "AIRFLOW_AUDIT_ENV_SLUG": "limits",
        **limits,
    }


def test_reconciliation_takes_duckdbs_limits(tmp_path):
    reference = duckdb.connect()
    reference.execute("set memory_limit = '300MB'")
    (bounded,) = reference.execute("select current_setting('memory_limit')").fetchone()

    warehouse = open_warehouse(
        env_for(
            tmp_path,
            AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT="300MB",
            AIRFLOW_AUDIT_DUCKDB_THREADS="1",
        ),
        "test",
    )
    assert settings_of(warehouse.con) == (bounded, 1)
    warehouse.close()

    unset = open_warehouse(env_for(tmp_path), "test")
    memory, _ = settings_of(unset.con)
    unset.close()
    assert memory != bounded, "without the setting, DuckDB's default"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT", "lots"), ("AIRFLOW_AUDIT_DUCKDB_THREADS", "0")],
)
def test_a_bad_limit_stops_reconciliation_before_the_file_is_opened(tmp_path, variable, value):
    with pytest.raises(UserError) as caught:
        open_warehouse(env_for(tmp_path, **{variable: value}), "test")
    message = str(caught.value)
    assert variable in message and "\n" not in message
    assert not (tmp_path / "w.duckdb").exists()
