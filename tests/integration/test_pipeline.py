"""`meltano run airflow-audit` end to end: real PostgreSQL, real meltano and dbt, real DuckDB.

For each Airflow schema the job copies EVERY table (AIRFLOW_AUDIT_TABLES='[]', so the secrets
policy is tested on every secret column there is), builds the marts, and runs a second time.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.fixtures.airflow_history import NON_SECRET_MARKERS, PLANTED_SECRETS
from tests.integration.conftest import VERSIONS, source_query
from tests.support import encoded_forms, meltano, warehouse_hits

RAW = "airflow-local"
MARTS = "airflow-local_marts"


@pytest.fixture(scope="module", params=VERSIONS)
def synced(request, airflow_db, tmp_path_factory):
    version = request.param
    url = airflow_db(version, f"pipeline_{version.replace('.', '_')}")
    warehouse = tmp_path_factory.mktemp(f"wh-{version}") / "airflow_audit.duckdb"
    env = {
        "AIRFLOW_AUDIT_SOURCE_URL": url,
        "AIRFLOW_AUDIT_TABLES": "[]",
        "AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse),
    }
    first = meltano("run", "airflow-audit", env=env)
    assert first.returncode == 0, first.stderr[-4000:]
    assert "WARN=0 ERROR=0" in first.stderr, "dbt build should pass every test without warning"
    counts_after_first = warehouse_counts(warehouse)
    second = meltano("run", "airflow-audit", env=env)
    assert second.returncode == 0, second.stderr[-4000:]
    return {
        "version": version,
        "url": url,
        "warehouse": warehouse,
        "first_counts": counts_after_first,
        "log": first.stderr,
    }


def warehouse_counts(path: Path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        # `_airflow_audit_extracts` and `_sync_audit` are the pipeline's own bookkeeping.
        tables = con.execute(
            "select table_name from duckdb_tables() where schema_name = ? "
            "and not starts_with(table_name, '_')",
            [RAW],
        ).fetchall()
        return {
            t: con.execute(f'select count(*) from "{RAW}"."{t}"').fetchone()[0] for (t,) in tables
        }


def source_counts(url: str) -> dict[str, int]:
    tables = [
        t
        for (t,) in source_query(
            url,
            "select table_name from information_schema.tables where table_schema = 'public' "
            "and table_type = 'BASE TABLE' and table_name not like 'alembic_version%'",
        )
    ]
    return {t: source_query(url, f'select count(*) from public."{t}"')[0][0] for t in tables}


def test_every_table_count_equals_the_source(synced):
    expected = source_counts(synced["url"])
    assert warehouse_counts(synced["warehouse"]) == expected
    assert sum(expected.values()) > 1000, "the fixture should hold real history"


def test_a_second_run_leaves_identical_counts(synced):
    assert warehouse_counts(synced["warehouse"]) == synced["first_counts"]


def test_no_planted_secret_reaches_the_warehouse(synced):
    needles = {form for secret in PLANTED_SECRETS for form in encoded_forms(secret)}
    with duckdb.connect(str(synced["warehouse"]), read_only=True) as con:
        assert warehouse_hits(con, needles) == {}


def test_the_secret_hunt_finds_what_is_there(synced):
    """Proof the hunt above could fail: non-secret values from the same rows are found."""
    with duckdb.connect(str(synced["warehouse"]), read_only=True) as con:
        hits = warehouse_hits(con, set(NON_SECRET_MARKERS))
    assert set(hits) == set(NON_SECRET_MARKERS)


def test_secret_columns_are_absent_and_flags_present(synced):
    from tap_airflow_metadb.policy import SECRET_COLUMNS

    with duckdb.connect(str(synced["warehouse"]), read_only=True) as con:
        columns = set(
            con.execute(
                "select table_name, column_name from information_schema.columns "
                "where table_schema = ?",
                [RAW],
            ).fetchall()
        )
        flags = con.execute(
            f'select count(*) filter (where has_password), count(*) from "{RAW}".connection'
        ).fetchone()
    leaked = {(t, c) for t, cols in SECRET_COLUMNS.items() for c in cols} & columns
    assert leaked == set()
    assert ("connection", "has_password") in columns
    assert 0 < flags[0] <= flags[1]


def test_dag_runs_by_state_equal_the_source(synced):
    expected = source_query(
        synced["url"], "select dag_id, state, count(*) from dag_run group by 1, 2 order by 1, 2"
    )
    with duckdb.connect(str(synced["warehouse"]), read_only=True) as con:
        got = con.execute(
            f'select dag_id, state, count(*) from "{MARTS}".fct_dag_runs group by 1, 2 order by 1, 2'
        ).fetchall()
    assert got == expected
    assert len({state for _, state, _ in expected}) >= 3


def test_failed_task_instances_per_dag_equal_the_source(synced):
    expected = source_query(
        synced["url"],
        "select dag_id, count(*) from task_instance where state = 'failed' group by 1 order by 1",
    )
    with duckdb.connect(str(synced["warehouse"]), read_only=True) as con:
        got = con.execute(
            f'select dag_id, count(*) from "{MARTS}".fct_task_instances '
            "where state = 'failed' group by 1 order by 1"
        ).fetchall()
        total = con.execute(f'select count(*) from "{MARTS}".fct_task_instances').fetchone()[0]
    assert got == expected
    assert expected, "the fixture should hold failed task instances"
    assert total == source_query(synced["url"], "select count(*) from task_instance")[0][0]
