"""An in-place upgrade between two syncs, with Airflow's own `airflow db migrate`: the database a
2.10.5 Airflow filled is synced, upgraded in place to 3.3.2 (the release's real migrations: new
columns, a retyped column, three re-keyed tables, task_fail dropped), and synced again. The
warehouse equals the source row by row; archive mode keeps every row deleted before and after.
"""

from __future__ import annotations

import uuid

import duckdb
import pytest

from tests.support import airflow_db_migrate, source_query
from tests.support.sync import (
    ADDITIONAL,
    DEFAULT,
    assert_warehouse_equals_source,
    execute,
    extractions,
    scalar,
    sync,
)

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration

# task_fail is left out: Airflow 3 drops it (the test checks what became of it)
UPGRADED = [t for t in DEFAULT if t != "task_fail"]


def ok(done) -> None:
    assert done.returncode == 0, done.stderr[-4000:]


def delete_logs(url: str, n: int) -> list[int]:
    rows = source_query(url, f"select id from log order by id desc limit {n}")
    ids = [i for (i,) in rows]
    execute(url, f"delete from log where id in ({', '.join(map(str, ids))})")
    return ids


def columns(url: str, table: str) -> set[str]:
    return {
        c
        for (c,) in source_query(
            url,
            "select column_name from information_schema.columns "
            f"where table_schema = 'public' and table_name = '{table}'",
        )
    }


# Airflow 3's migrations start at 2.7: from 2.4 a user migrates with 2.10 first, then with 3.x.
MIGRATIONS = {"2.10.5": ["3.3.2"], "2.4.3": ["2.10.5", "3.3.2"]}
# 2.4 has no task_instance_history or notes yet
ADDITIONAL_TABLES = {"2.10.5": ADDITIONAL, "2.4.3": "log,task_reschedule"}


# Archive is the mode an upgrade can break (rows re-keyed must not count as deleted); mirror is
# checked row by row by the marts test below, on every table.
@pytest.mark.parametrize(("start", "mode"), [("2.10.5", "archive"), ("2.4.3", "archive")])
def test_an_in_place_upgrade_to_airflow_3_keeps_the_warehouse_exact(
    airflow_db, tmp_path, start, mode
):
    url = airflow_db(start, f"upgrade_{start.replace('.', '_')}_{mode}", dags=4, days=3)
    warehouse, slug = tmp_path / "wh.duckdb", f"up-{uuid.uuid4().hex[:6]}"
    schema = f"airflow-{slug}"
    synced = [*UPGRADED, *ADDITIONAL_TABLES[start].split(",")]

    def sync_once():
        return sync(url, warehouse, slug, mode=mode, additional_tables=ADDITIONAL_TABLES[start])

    ok(sync_once())
    deleted_before = delete_logs(url, 3)
    ok(sync_once())
    before = {t: columns(url, t) for t in synced}
    task_fail_rows = scalar(url, "select count(*) from task_fail")

    for release in MIGRATIONS[start]:
        airflow_db_migrate(url, release, tmp_path / f"airflow-home-{release}")
    assert "id" in columns(url, "task_instance") and "task_fail" not in {
        t
        for (t,) in source_query(url, "select tablename from pg_tables where schemaname = 'public'")
    }
    done = sync_once()
    ok(done)
    assert "Traceback" not in done.stderr
    if start == "2.10.5":  # 2.4 has no dag_run_note: its table arrives with 3.x's types
        assert "dag_run_note.user_id: BIGINT in the warehouse, VARCHAR at the source" in done.stderr
    present = [t for t in synced if t != "task_fail" and before[t]]
    dropped = {t: before[t] - columns(url, t) for t in present}
    assert_warehouse_equals_source(url, warehouse, schema, present, dropped)
    # re-keyed: one live row per task instance and per try, none left under the 2.x key
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table, natural in (
            ("task_instance", "dag_id, task_id, run_id, map_index"),
            ("task_instance_history", "dag_id, task_id, run_id, map_index, try_number"),
        ):
            if table not in present:
                continue
            (duplicates,) = con.execute(
                f'select count(*) - count(distinct ({natural})) from "{schema}".{table} '
                "where _sdc_deleted_at is null"
            ).fetchone()
            assert duplicates == 0, table
        (task_fail,) = con.execute(f'select count(*) from "{schema}".task_fail').fetchone()
    assert task_fail == task_fail_rows  # kept after Airflow 3 dropped it
    assert extractions(warehouse, schema, "task_instance")[-1].startswith(
        "full read: the columns read changed"
    )

    deleted_after = delete_logs(url, 2)
    ok(sync_once())
    assert_warehouse_equals_source(url, warehouse, schema, present, dropped)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        kept = {
            i
            for (i,) in con.execute(
                f'select id from "{schema}".log where _sdc_deleted_at is not null'
            ).fetchall()
        }
        # archive: every row deleted before and after the upgrade is still there, marked
        (archived_task_instances,) = con.execute(
            f'select count(*) from "{schema}".task_instance where _sdc_deleted_at is not null'
        ).fetchone()
    if mode == "archive":
        assert kept == set(deleted_before) | set(deleted_after)
    else:
        assert kept == set()
    # the re-keyed rows replaced the 2.x rows: none of them counts as deleted at the source
    assert archived_task_instances == 0


def test_marts_built_after_the_upgrade_equal_sql_on_the_source(airflow_db, tmp_path):
    """The whole job (every table, dbt build) on 2.10.5, `airflow db migrate` to 3.3.2, the job
    again: every mart figure equals the same figure computed by SQL on the upgraded source."""
    from tests.support.sync import TREND_WINDOW_DAYS, dbt_paths, run_job
    from tests.transform.test_marts import (
        approx_anomalies,
        approx_asset_events,
        approx_attempt_anomalies,
        approx_rows,
        approx_trends,
        mart_figures,
        pool_usage_at_source,
        source_figures,
        source_tables,
    )

    url = airflow_db("2.10.5", "upgrade_marts", dags=4, days=3)
    warehouse = tmp_path / "airflow_audit.duckdb"
    env = {
        "AIRFLOW_AUDIT_SOURCE_URL": url,
        "AIRFLOW_AUDIT_TABLES": "[]",
        "AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse),
        # the window source_figures computes the duration trends with
        "AIRFLOW_AUDIT_TREND_WINDOW_DAYS": str(TREND_WINDOW_DAYS),
        **dbt_paths(tmp_path),
    }
    system_db = f"sqlite:///{tmp_path / 'meltano.db'}"
    run_job(env, system_db)
    tables = [
        t
        for (t,) in source_query(
            url,
            "select table_name from information_schema.tables "
            "where table_schema = 'public' and table_type = 'BASE TABLE'",
        )
    ]
    before = {t: columns(url, t) for t in tables}
    airflow_db_migrate(url, "3.3.2", tmp_path / "airflow-home")
    run_job(env, system_db)
    # mirror, every table both releases have: row by row (the columns 3.x dropped are kept)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        synced = {
            t
            for (t,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'airflow-local' "
                "and not starts_with(table_name, '_')"
            ).fetchall()
        }
    both = sorted(t for t in synced if t in before and columns(url, t))
    assert {"task_instance", "dag_run", "log", "task_instance_history"} <= set(both)
    assert_warehouse_equals_source(
        url, warehouse, "airflow-local", both, {t: before[t] - columns(url, t) for t in both}
    )
    in_marts, at_source = mart_figures(warehouse, "3.3.2"), source_figures(url, "3.3.2")
    durations = "average_success_duration"
    assert in_marts.pop(durations) == approx_rows(at_source.pop(durations))
    lateness = [(d, r, pytest.approx(float(v), abs=0.002)) for d, r, v in at_source.pop("lateness")]
    assert len(lateness) >= 20
    assert in_marts.pop("lateness") == lateness
    assert in_marts.pop("anomalies") == approx_anomalies(at_source.pop("anomalies"))
    assert in_marts.pop("asset_events") == approx_asset_events(at_source.pop("asset_events"))
    trends = at_source.pop("trends")
    assert in_marts.pop("trends") == approx_trends(trends)
    assert in_marts.pop("trend_alerts") == [d for d, *_, is_slower in trends if is_slower]
    assert in_marts.pop("attempt_anomalies") == approx_attempt_anomalies(
        at_source.pop("attempt_anomalies")
    )
    synced_at = in_marts.pop("synced_at")
    assert in_marts.pop("pool_usage") == [
        (pool, pytest.approx(used, abs=0.2), peak)
        for pool, used, peak in pool_usage_at_source(url, synced_at, source_tables(url))
    ]
    assert in_marts == at_source
    # not empty equal to empty: most figures hold rows
    assert len([name for name, value in in_marts.items() if value]) >= 12, in_marts
