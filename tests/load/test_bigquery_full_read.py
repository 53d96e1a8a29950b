"""BigQuery's end of a full read, checked offline: the statements target-airflow-audit-bigquery runs
after the target merged a run (bigquery/target.py `full_read_statements`), parsed strictly as
GoogleSQL and executed, translated by sqlglot, on DuckDB holding a `task_instance` table as a 2.x
sync left it and the first sync after Airflow 3 re-keyed it (a uuid `id`) merged into it.

A real BigQuery is not reachable from CI: its planner, its DML quotas and the target's own MERGE
stay unverified.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from airflow_audit_loader.bigquery.target import full_read_statements

KEY = ["id"]
NATURAL = ["dag_id", "task_id", "run_id", "map_index"]
OLD_VERSION, NEW_VERSION = 1, 2
DELETED_BEFORE = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def warehouse() -> duckdb.DuckDBPyConnection:
    """task_instance after the target merged the re-keyed full read on `id`: the 2.x rows (no id)
    beside the 3.x rows of the same task instances, one 2.x row whose task instance the source
    no longer has, and one archived before the upgrade."""
    con = duckdb.connect()
    con.execute("set timezone = 'UTC'")
    con.execute("attach ':memory:' as proj")
    con.execute("create schema proj.airflow_local")
    con.execute(
        "create table proj.airflow_local.task_instance (id varchar, dag_id varchar, "
        "task_id varchar, run_id varchar, map_index bigint, state varchar, "
        "_sdc_table_version bigint, _sdc_deleted_at timestamptz)"
    )
    rows = [
        # 2.x rows, loaded before the upgrade
        (None, "etl", "extract", "r1", -1, "success", OLD_VERSION, None),
        (None, "etl", "load", "r1", -1, "failed", OLD_VERSION, None),
        (None, "etl", "extract", "r0", -1, "success", OLD_VERSION, None),  # gone at the source
        (None, "etl", "extract", "old", -1, "success", OLD_VERSION, DELETED_BEFORE),  # archived
        # the re-keyed full read after the upgrade
        ("u-1", "etl", "extract", "r1", -1, "success", NEW_VERSION, None),
        ("u-2", "etl", "load", "r1", -1, "success", NEW_VERSION, None),
    ]
    con.executemany(
        "insert into proj.airflow_local.task_instance values (?, ?, ?, ?, ?, ?, ?, ?)", rows
    )
    return con


def run(con: duckdb.DuckDBPyConnection, mode: str, rekeyed: bool) -> None:
    now = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
    statements = full_read_statements(
        "proj",
        "airflow_local",
        {"task_instance": NEW_VERSION},
        mode,
        {"task_instance": (KEY, NATURAL)} if rekeyed else None,
    )
    for sql, version in statements:
        (parsed,) = sqlglot.parse(sql, read="bigquery", error_level=ErrorLevel.RAISE)
        translated = parsed.sql(dialect="duckdb")
        values = {"version": version, "deleted_at": now}
        con.execute(translated, {k: v for k, v in values.items() if f"${k}" in translated})


def live_and_marked(con: duckdb.DuckDBPyConnection) -> tuple[list[tuple], list[tuple]]:
    rows = con.execute(
        "select id, run_id, task_id, state, _sdc_deleted_at is not null "
        "from proj.airflow_local.task_instance order by run_id, task_id, id nulls first"
    ).fetchall()
    return [r[:4] for r in rows if not r[4]], [r[:4] for r in rows if r[4]]


@pytest.mark.parametrize("mode", ["archive", "mirror"])
def test_rows_stored_under_the_old_key_are_replaced_not_kept_or_marked(mode):
    con = warehouse()
    run(con, mode, rekeyed=True)
    live, marked = live_and_marked(con)
    assert live == [
        ("u-1", "r1", "extract", "success"),
        ("u-2", "r1", "load", "success"),
    ]
    if mode == "archive":
        # only what the source really lost is marked; the row archived before stays as it was
        assert marked == [(None, "old", "extract", "success"), (None, "r0", "extract", "success")]
    else:
        # mirror deletes what the source lost outright
        assert marked == []


def test_without_the_natural_key_the_old_rows_would_count_as_deleted():
    """What the replacement prevents: marking alone counts every 2.x row deleted at the source."""
    con = warehouse()
    run(con, "archive", rekeyed=False)
    _, marked = live_and_marked(con)
    assert len(marked) == 4
