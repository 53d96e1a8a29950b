"""Schema drift, dropped tables, restores and mistakes between two syncs: the warehouse stays exact
and every problem ends in one sentence (issue: exact through upgrades, drift and restores).

The drift is made the way Airflow's own migrations make it: a column a later release adds (known
to the secrets policy, so it leaves the source) is added with `ALTER TABLE ... ADD COLUMN ...
DEFAULT`, which rewrites no row, so no row version changes.
"""

from __future__ import annotations

import uuid

import duckdb
import pytest

from tests.fixtures.airflow_history import fill, load_schema
from tests.fixtures.postgres import ThrowawayPostgres
from tests.support import TEST_FILL
from tests.support.sync import (
    assert_warehouse_equals_source,
    execute,
    extractions,
    extracts,
    scalar,
    sync,
    sync_audit,
)

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration


def fresh_slug(name: str) -> str:
    """A slug of this test run's own: Meltano's state (kept in .meltano/) starts empty for it."""
    return f"{name}-{uuid.uuid4().hex[:6]}"


def ok(done) -> None:
    assert done.returncode == 0, done.stderr[-4000:]


def admin(postgres, statement: str) -> None:
    """A statement outside a transaction on the server's maintenance database."""
    conn = postgres.connect()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def warehouse_scalar(warehouse, sql: str):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


@pytest.mark.parametrize("default", ["'upgraded'", None], ids=["with-default", "no-default"])
def test_a_column_an_upgrade_adds_reaches_every_warehouse_row(airflow_db, tmp_path, default):
    """task_instance (read incrementally) and dag (read in full) gain 2.9's display names after
    the first sync: every warehouse row then holds the source's value."""
    name = "drift_add_default" if default else "drift_add_plain"
    url = airflow_db("2.10.5", name)
    execute(
        url,
        "alter table task_instance drop column task_display_name",
        "alter table dag drop column dag_display_name",
    )
    warehouse, slug = tmp_path / "wh.duckdb", fresh_slug("drift")
    schema = f"airflow-{slug}"
    ok(sync(url, warehouse, slug))
    added = f" not null default {default}" if default else ""
    execute(
        url,
        f"alter table task_instance add column task_display_name varchar(2000){added}",
        f"alter table dag add column dag_display_name varchar(2000){added}",
    )
    if default is None:  # a later Airflow writes the new column on the rows it touches
        execute(
            url,
            "update task_instance set task_display_name = 'shown ' || task_id "
            "where ctid in (select ctid from task_instance limit 10)",
        )
    done = sync(url, warehouse, slug)
    ok(done)
    with_value = scalar(url, "select count(task_display_name) from task_instance")
    assert with_value == (scalar(url, "select count(*) from task_instance") if default else 10)
    assert (
        warehouse_scalar(
            warehouse, f'select count(task_display_name) from "{schema}".task_instance'
        )
        == with_value
    )
    assert_warehouse_equals_source(url, warehouse, schema, ["task_instance", "dag"])
    assert "task_instance: the columns read changed" in done.stderr
    assert extracts(warehouse, schema)["task_instance"][0] is True  # read in full once
    # and the next sync is incremental again
    done = sync(url, warehouse, slug)
    ok(done)
    assert extracts(warehouse, schema)["task_instance"][0] is False
    assert extractions(warehouse, schema, "task_instance") == [
        "full read: no bookmark yet (the table's first sync)",
        "full read: the columns read changed (an Airflow upgrade, or AIRFLOW_AUDIT_ALLOW_COLUMNS), "
        "so rows already in the warehouse lack them",
        "incremental: the rows changed since the bookmark",
    ]
    assert set(extractions(warehouse, schema, "dag")) == {
        "full read: a small table, read in full on every sync"
    }


@pytest.mark.parametrize("mode", ["mirror", "archive"])
def test_a_table_dropped_at_the_source_is_kept_and_skipped(airflow_db, tmp_path, mode):
    """Airflow 3 drops task_fail: the next sync exits 0 with a notice, the warehouse keeps the
    table (archive marks its rows deleted at the source), and no traceback is printed."""
    url = airflow_db("2.10.5", f"drift_drop_{mode}")
    warehouse, slug = tmp_path / "wh.duckdb", fresh_slug(f"drop{mode}")
    schema = f"airflow-{slug}"
    ok(sync(url, warehouse, slug, mode=mode))
    rows = scalar(url, "select count(*) from task_fail")
    assert rows > 0
    execute(url, "drop table task_fail")
    for _ in range(2):  # and on every later run
        done = sync(url, warehouse, slug, mode=mode)
        ok(done)
        assert "Traceback" not in done.stderr
        assert "task_fail: no longer in the source database" in done.stderr
    assert warehouse_scalar(warehouse, f'select count(*) from "{schema}".task_fail') == rows
    marked = warehouse_scalar(
        warehouse, f'select count(*) from "{schema}".task_fail where _sdc_deleted_at is not null'
    )
    assert marked == (rows if mode == "archive" else 0)
    gone = [r for r in sync_audit(warehouse, schema) if r[0] == "task_fail" and r[-1] == "gone"]
    assert len(gone) == 2
    assert (
        extractions(warehouse, schema, "task_fail")[-2:]
        == ["skipped: the table is no longer in the source database"] * 2
    )


def test_a_misspelled_full_refresh_table_is_refused_before_anything_is_read(airflow_db, tmp_path):
    url = airflow_db("2.10.5", "drift_misspelled", filled=False)
    warehouse = tmp_path / "wh.duckdb"
    done = sync(url, warehouse, fresh_slug("typo"), full_refresh="task_instanse")
    assert done.returncode != 0
    assert (
        "tap-airflow-metadb: AIRFLOW_AUDIT_FULL_REFRESH names task_instanse, which this sync does "
        "not copy: name tables it copies (" in done.stderr
    )
    assert "nothing was read" in done.stderr and "Traceback" not in done.stderr
    # the loader may have opened the file; nothing was loaded into it
    assert (
        not warehouse.exists()
        or warehouse_scalar(warehouse, "select count(*) from duckdb_tables()") == 0
    )


def test_a_database_restored_from_an_earlier_copy_is_read_in_full(airflow_db, postgres, tmp_path):
    """The same URL, now a database restored from a copy taken before the last sync (a new
    database, as `pg_restore` into a fresh one makes): the bookmarks are of another database, so
    the next sync reads in full and the warehouse equals the restored source."""
    url = airflow_db("2.10.5", "drift_restored")
    warehouse, slug = tmp_path / "wh.duckdb", fresh_slug("restored")
    schema = f"airflow-{slug}"
    ok(sync(url, warehouse, slug))
    admin(postgres, "create database drift_restored_copy template drift_restored")
    change_task_instances(url, "queue", "after_copy", 50)
    ok(sync(url, warehouse, slug))  # the bookmark moves past the copy
    admin(postgres, "drop database drift_restored with (force)")
    admin(postgres, "create database drift_restored template drift_restored_copy")
    change_task_instances(url, "pool", "after_restore", 7)
    done = sync(url, warehouse, slug)
    ok(done)
    assert "task_instance: the bookmark belongs to another database" in done.stderr
    assert_warehouse_equals_source(url, warehouse, schema, ["task_instance", "dag_run"])


def test_a_point_in_time_recovery_is_read_in_full(tmp_path):
    """The same URL, now the cluster recovered from a physical backup (pg_basebackup) taken before
    the last sync: same system id, database and table OIDs, and, once the recovered server has
    used as many transactions again, xids past the old bookmark.  Rows changed after the backup
    are back to their old values with old row versions, which an incremental read would never
    see again; the new timeline says so, and the next sync reads in full."""
    replica = {"wal_level": "replica", "max_wal_senders": "4"}
    with ThrowawayPostgres(settings=replica, use_env=False) as server:
        url = server.create_database("drift_pitr")
        load_schema(url, "2.10.5")
        fill(url, "2.10.5", **{**TEST_FILL, "dags": 4, "days": 2})
        warehouse, slug = tmp_path / "wh.duckdb", fresh_slug("pitr")
        schema = f"airflow-{slug}"
        ok(sync(url, warehouse, slug))
        backup = server.base_backup(tmp_path / "backup")
        change_task_instances(url, "queue", "after_backup", 50)
        done = sync(url, warehouse, slug)  # the warehouse now holds the changed rows
        ok(done)
        bookmark = max(x for (_, x) in extract_xmins(warehouse, schema))
        server.restore(backup)
        # The recovered server reuses the xids since the backup: past the old bookmark, an
        # incremental read would take it at its word.
        while int(scalar(url, "select txid_current()")) <= bookmark + 10:
            pass
        change_task_instances(url, "pool", "after_recovery", 7)
        done = sync(url, warehouse, slug)
        ok(done)
        assert "task_instance: the server's timeline changed" in done.stderr
        assert_warehouse_equals_source(url, warehouse, schema, ["task_instance", "dag_run"])
        assert scalar(url, "select count(*) from task_instance where queue = 'after_backup'") == 0


def extract_xmins(warehouse, schema: str) -> list[tuple[str, int]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            f'select table_name, snapshot_xmin from "{schema}"._airflow_audit_extracts'
        ).fetchall()


def change_task_instances(url: str, column: str, value: str, rows: int) -> None:
    """`rows` task instances get `value` in `column`, as an Airflow change would."""
    execute(
        url,
        f"update task_instance set {column} = '{value}' where ctid in "
        f"(select ctid from task_instance limit {rows})",
    )
