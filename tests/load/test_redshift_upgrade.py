"""An in-place Airflow upgrade between two syncs, on Redshift's SQL (the PostgreSQL stand-in of
tests/load/test_redshift.py): a database a 2.10.5 Airflow filled is synced through
`tap-airflow-metadb target-airflow-audit-redshift airflow-audit-reconcile:redshift` in archive mode,
upgraded in place by Airflow 3.3.2's own `airflow db migrate` (new columns, `dag_run_note.user_id`
retyped, `task_instance` and `task_instance_history` re-keyed, `task_fail` dropped), and synced again.
The live rows equal the source row by row on the columns both have, no task instance is held twice
under its old and new key, and every row deleted before and after the upgrade is kept, marked.
What stays unverified: Redshift's own planner and its ALTER TABLE limits (the stand-in is PostgreSQL).
"""

from __future__ import annotations

import uuid

import pytest

from tests.load.test_redshift import (
    RECONCILE_SYNC,
    _norm,
    redshift_env,
    warehouse_query,
)
from tests.support import airflow_db_migrate, assert_rows_equal, source_query
from tests.support.sync import FINGERPRINT_SOURCES, FLAG_SOURCES, execute, scalar

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration

ADDITIONAL = "log,task_instance_history,dag_run_note"
COMPARED = (
    "dag",
    "dag_run",
    "task_instance",
    "task_instance_history",
    "dag_run_note",
    "log",
    "job",
    "import_error",
)
NATURAL_KEYS = {
    "task_instance": "dag_id, task_id, run_id, map_index",
    "task_instance_history": "dag_id, task_id, run_id, map_index, try_number",
}


def columns_of(url: str, schema: str, table: str) -> dict[str, str]:
    return dict(
        warehouse_query(
            url,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = %s",
            [schema, table],
        )
    )


def assert_live_rows_equal_the_source(source: str, warehouse: str, raw: str) -> None:
    """The warehouse's live rows equal the source's rows on every column both have."""
    for table in COMPARED:
        at_source = columns_of(source, "public", table)
        kept = columns_of(warehouse, raw, table)
        shared = sorted(
            c
            for c in set(at_source) & set(kept)
            if not c.startswith("_sdc_") and c not in {**FLAG_SOURCES, **FINGERPRINT_SOURCES}
        )
        assert shared, table
        json_columns = {c for c in shared if at_source[c] in ("json", "jsonb")}
        select = ", ".join(f'"{c}"' for c in shared)
        got = [
            tuple(
                _norm(_json(v) if c in json_columns else v)
                for c, v in zip(shared, row, strict=True)
            )
            for row in warehouse_query(
                warehouse, f'select {select} from "{raw}"."{table}" where _sdc_deleted_at is null'
            )
        ]
        expected = [
            tuple(_norm(v) for v in row)
            for row in source_query(source, f"select {select} from public.{table}")
        ]
        assert_rows_equal(table, shared, expected, got)


def _json(value):
    import json

    return json.loads(value) if isinstance(value, str) else value


def delete_logs(url: str, n: int) -> set[int]:
    ids = {i for (i,) in source_query(url, f"select id from log order by id desc limit {n}")}
    execute(url, f"delete from log where id in ({', '.join(map(str, ids))})")
    return ids


def test_an_in_place_upgrade_keeps_the_redshift_warehouse_exact(airflow_db, postgres, tmp_path):
    url = airflow_db("2.10.5", "redshift_upgrade_source", dags=3, days=2)
    warehouse = postgres.create_database("redshift_upgrade_warehouse")
    slug = f"rs-up-{uuid.uuid4().hex[:6]}"
    raw = f"airflow-{slug}"
    env = redshift_env(
        warehouse,
        AIRFLOW_AUDIT_SOURCE_URL=url,
        AIRFLOW_AUDIT_REDSHIFT_LOAD_METHOD="insert",
        AIRFLOW_AUDIT_ADDITIONAL_TABLES=ADDITIONAL,
        AIRFLOW_AUDIT_ENV_SLUG=slug,
        AIRFLOW_AUDIT_MODE="archive",
        MELTANO_DATABASE_URI=f"sqlite:///{tmp_path / 'meltano.db'}",
    )

    def sync():
        from tests.support import meltano

        done = meltano(*RECONCILE_SYNC, env=env)
        assert done.returncode == 0, done.stderr[-4000:]
        assert "Traceback" not in done.stderr
        return done

    sync()
    deleted_before = delete_logs(url, 3)
    sync()
    task_fail_rows = scalar(url, "select count(*) from task_fail")

    airflow_db_migrate(url, "3.3.2", tmp_path / "airflow-home")
    assert "id" in columns_of(url, "public", "task_instance")
    done = sync()
    assert "dag_run_note.user_id" in done.stderr  # the retyped column, widened in the warehouse
    # the old keys undeclared; the old key's NOT NULL column gone at the source, made nullable
    assert (
        "task_instance_history: the source's primary key is task_instance_id now, not id "
        "(an Airflow upgrade?): the old key is no longer declared, and id, gone at the source, "
        "may be null"
    ) in done.stderr
    assert "task_instance: the source's primary key is id now, not dag_id, task_id" in done.stderr
    assert_live_rows_equal_the_source(url, warehouse, raw)
    for table, natural in NATURAL_KEYS.items():
        (duplicates,) = warehouse_query(
            warehouse,
            f'select count(*) - count(distinct ({natural})) from "{raw}"."{table}" '
            "where _sdc_deleted_at is null",
        )[0]
        assert duplicates == 0, f"{table}: a row held under both its 2.x and its 3.x key"
    # Airflow 3 dropped task_fail: its rows stay in the warehouse, marked deleted at the source
    assert warehouse_query(warehouse, f'select count(*) from "{raw}".task_fail')[0][0] == (
        task_fail_rows
    )

    deleted_after = delete_logs(url, 2)
    sync()
    assert_live_rows_equal_the_source(url, warehouse, raw)
    marked = {
        i
        for (i,) in warehouse_query(
            warehouse, f'select id from "{raw}".log where _sdc_deleted_at is not null'
        )
    }
    assert marked == deleted_before | deleted_after
    # the re-keyed rows replaced the 2.x rows: none of them counts as deleted at the source
    (rekeyed_marked,) = warehouse_query(
        warehouse, f'select count(*) from "{raw}".task_instance where _sdc_deleted_at is not null'
    )[0]
    assert rekeyed_marked == 0
