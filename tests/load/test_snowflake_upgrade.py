"""An in-place Airflow upgrade between two syncs, on Snowflake's SQL (fakesnow): a database a 2.10.5
Airflow filled is loaded through target-airflow-audit-snowflake and reconciled in archive mode,
upgraded in place by Airflow 3.3.2's own `airflow db migrate` (`task_instance` re-keyed by a new uuid
`id`, `dag_run_note.user_id` retyped from integer to text, new columns, `task_fail` dropped), and
loaded and reconciled again.  The live rows equal the
source row by row, no task instance is held under both its 2.x and its 3.x key, none of the re-keyed
rows counts as deleted at the source, and every row deleted before and after the upgrade is kept,
marked.

What stays unverified here: `task_instance_history` (its 2.x key column `id` is gone in 3.x, so the
loader undeclares the old primary key and drops the column's NOT NULL, which fakesnow's DuckDB cannot
do), and Snowflake's own planner and DDL (fakesnow could change `user_id`'s type in place; the
loader moves it to a new column, which is what runs here).
"""

from __future__ import annotations

import pytest

from tests.load.test_warehouses import (
    RAW,
    FakeSnowflake,
    fakesnow_overlay,  # noqa: F401  (the fixture)
    resolved_config,
    snowflake_and_source_rows,
    sync_archive,
)
from tests.support import airflow_db_migrate, assert_rows_equal, source_query
from tests.support.sync import execute

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration

ADDITIONAL = "log,dag_run_note"
COMPARED = ("dag", "dag_run", "task_instance", "dag_run_note", "log", "job")


def assert_live_rows_equal_the_source(fake: FakeSnowflake, url: str) -> None:
    """The live rows equal the source's on every column both have."""
    for table in COMPARED:
        shared, _, expected, got = snowflake_and_source_rows(
            fake, url, table, lambda c, types: c in types
        )
        assert len(shared) > 2, (table, shared)
        assert_rows_equal(table, shared, expected, got)


def delete_logs(url: str, n: int) -> set[int]:
    ids = {i for (i,) in source_query(url, f"select id from log order by id desc limit {n}")}
    execute(url, f"delete from log where id in ({', '.join(map(str, ids))})")
    return ids


def test_an_in_place_upgrade_keeps_the_snowflake_warehouse_exact(
    airflow_db,
    fakesnow_overlay,  # noqa: F811  (the fixture, imported above)
    tmp_path,
):
    url = airflow_db("2.10.5", "snowflake_upgrade_source", dags=3, days=2)
    fake = FakeSnowflake(tmp_path, fakesnow_overlay)
    archive = resolved_config(tmp_path, "archive")
    story = {"url": url, "fake": fake}

    def sync() -> str:
        return sync_archive(story, archive, ADDITIONAL)

    sync()
    deleted_before = delete_logs(url, 3)
    sync()
    task_fail_rows = source_query(url, "select count(*) from task_fail")[0][0]
    assert task_fail_rows > 0

    airflow_db_migrate(url, "3.3.2", tmp_path / "airflow-home")
    assert source_query(url, "select count(*) from task_instance where id is null") == [(0,)]
    # a note as Airflow 3.3 writes it: its API sets `dag_run.note = (note, user.get_id())`, and the
    # simple auth manager's user id is the user name (the 2.x notes keep their integer ids, as text)
    execute(
        url,
        "insert into dag_run_note (user_id, dag_run_id, content, created_at, updated_at) "
        "select 'admin', id, 'rerun after the upstream fix', now(), now() from dag_run "
        "where id not in (select dag_run_id from dag_run_note) order by id limit 1",
    )
    upgraded = sync()
    assert (
        "task_instance: rows stored under the key of an earlier Airflow are replaced by dag_id, "
        "task_id, run_id, map_index as the re-keyed rows arrive."
    ) in upgraded
    # Snowflake changes no NUMBER to VARCHAR in place: the values moved to a text column
    assert "dag_run_note.user_id: the source's type is VARCHAR" in upgraded, upgraded[-3000:]
    assert fake.query(
        "select data_type from information_schema.columns where table_schema = "
        f"'{RAW}' and table_name = 'DAG_RUN_NOTE' and column_name = 'USER_ID'"
    ) == [["VARCHAR"]]
    assert_live_rows_equal_the_source(fake, url)
    (duplicates,) = fake.query(
        f"select count(*) - count(distinct (DAG_ID, TASK_ID, RUN_ID, MAP_INDEX)) "
        f"from {RAW}.TASK_INSTANCE where _SDC_DELETED_AT is null"
    )[0]
    assert duplicates == 0, "a task instance held under both its 2.x and its 3.x key"
    # the re-keyed rows replaced the 2.x rows: none of them counts as deleted at the source
    assert fake.query(
        f"select count(*) from {RAW}.TASK_INSTANCE where _SDC_DELETED_AT is not null"
    ) == [[0]]
    # Airflow 3 dropped task_fail: its rows stay in the warehouse
    assert fake.query(f"select count(*) from {RAW}.TASK_FAIL") == [[task_fail_rows]]

    deleted_after = delete_logs(url, 2)
    sync()
    assert_live_rows_equal_the_source(fake, url)
    marked = {
        i for (i,) in fake.query(f"select ID from {RAW}.LOG where _SDC_DELETED_AT is not null")
    }
    assert marked == deleted_before | deleted_after
