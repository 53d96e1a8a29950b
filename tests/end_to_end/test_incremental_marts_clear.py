"""A task instance Airflow clears is recomputed alone: no other attempt's anomaly verdict, none of the
pool hours its try held, no other due day of its DAG's lateness, no other day of its DAG's daily health
than those its run and attempts left and moved to; and a mart rebuilt alone from scratch makes the reports
that keep what it replaced recount everything (tests/end_to_end/test_incremental_marts.py is the rest of
the incremental story; this file runs in a pytest-xdist worker of its own beside it)."""

from __future__ import annotations

import duckdb
import pytest

from tests.end_to_end.test_incremental_marts import AIRFLOW_SESSION, AIRFLOW_WRITES, PARTIAL, Job
from tests.support import airflow_python, meltano
from tests.support.sync import execute

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration

# Airflow's own clear of one task instance. Arguments: its dag_id, task_id, run_id and map_index.
AIRFLOW_CLEARS_ONE = (
    AIRFLOW_SESSION
    + """
with create_session() as session:
    ti = session.query(TaskInstance).filter(
        TaskInstance.dag_id == sys.argv[1], TaskInstance.task_id == sys.argv[2],
        TaskInstance.run_id == sys.argv[3], TaskInstance.map_index == int(sys.argv[4])).one()
    clear_task_instances([ti], session)
"""
)


def first_with_a_pool(state: str) -> str:
    """A session of Airflow's own models in which `ti` is the first task instance (by DAG, task and
    run) in `state` (a TaskInstanceState name) with a pool; the caller's lines go on inside it."""
    return (
        AIRFLOW_SESSION
        + f"""
import datetime
from airflow.utils import timezone
with create_session() as session:
    ti = session.query(TaskInstance).filter(
        TaskInstance.state == TaskInstanceState.{state}, TaskInstance.pool.isnot(None)
    ).order_by(TaskInstance.dag_id, TaskInstance.task_id, TaskInstance.run_id).first()
"""
    )


# A task instance a lost worker left running: Airflow's own model moves its try's start 50 days back
# (past the 1,000 hours the pool report counts an attempt for). Prints its pool.
AIRFLOW_LEAVES_ONE_RUNNING = first_with_a_pool("RUNNING") + (
    """
    ti.start_date -= datetime.timedelta(days=50)
    print(ti.pool)
"""
)

# A try a worker started five hours before the sync and still runs: a task instance up for retry whose
# next try the scheduler counted (2.10 counts a try when it schedules it) and a worker started, as
# Airflow's own model sets it running, its start taken from the clock five hours back (the fixture's
# history ends long before the sync) and no end yet. Prints its natural key and pool.
AIRFLOW_RUNS_ONE_FOR_HOURS = first_with_a_pool("UP_FOR_RETRY") + (
    """
    ti.try_number += 1
    ti.set_state(TaskInstanceState.RUNNING, session=session)
    ti.start_date = timezone.utcnow() - datetime.timedelta(hours=5)
    ti.end_date = ti.duration = None
    print(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, ti.pool)
"""
)


def firsts(con: duckdb.DuckDBPyConnection, sql: str, params: tuple = ()) -> list:
    """The first column of a query's rows, in order."""
    return [row[0] for row in con.execute(sql, params).fetchall()]


def appended(before: list[str], after: list[str]) -> set[str]:
    """The keys a partial build deleted and inserted again: those moved to the end of the table,
    behind the kept ones in their old order."""
    present = set(after)
    for cut in range(len(after), -1, -1):
        moved = set(after[cut:])
        if after[:cut] == [key for key in before if key in present and key not in moved]:
            return moved
    raise AssertionError("the table's rows are neither kept in order nor appended")


def days_of_the_run_and_its_task_instance(job: Job, natural_key: tuple) -> dict[str, set]:
    """{'run': the day the run of a task instance (dag_id, task_id, run_id, map_index) counts on in
    rpt_dag_daily_health, 'attempts': the days its attempts count on}, as the marts hold them now,
    computed here (started, else queued, else logical or due; an attempt's start, else end)."""
    with duckdb.connect(str(job.warehouse), read_only=True) as con:
        run = con.execute(
            "select cast(coalesce(started_at, queued_at, logical_at, run_after_at) as date) "
            f'from "{job.marts}".fct_dag_runs where dag_id = ? and run_id = ?',
            natural_key[:1] + natural_key[2:3],
        ).fetchall()
        attempts = con.execute(
            "select distinct cast(coalesce(started_at, ended_at) as date) "
            f'from "{job.marts}".fct_task_attempts '
            "where dag_id = ? and task_id = ? and run_id = ? and map_index = ?",
            natural_key,
        ).fetchall()
    return {"run": {day for (day,) in run}, "attempts": {day for (day,) in attempts} - {None}}


@pytest.mark.parametrize("version", ["2.10.5", "3.3.2"])
def test_a_cleared_task_instance_recomputes_no_other_attempt_nor_its_pool_hours(
    airflow_db, tmp_path, version
):
    """Airflow 2.10+ clears a finished task instance by moving its try, unchanged, to
    task_instance_history, and queues it again: the attempt keeps its key, start and duration, so no
    other attempt's history changes. The duration anomaly mart computes that task instance's rows
    again and keeps every other row where it is stored, where it used to compute again every attempt
    with the cleared one in its window. The pool report recomputes none of the hours the try held
    (the same slots, in the same pool, from the same start to the same end), only those of the
    attempts still running, where it used to recompute them all, and of those only the hours from the
    last sync's on (the earlier ones held whole at both syncs), and none of a try left running past
    the 1,000 hours the report counts it for. Both equal a full rebuild. Airflow 3 also gives the task
    instance it clears a new `id`: in archive mode the row under the old one stays, marked deleted, and
    is still neither a second task instance nor a second attempt of its try. (A row computed again is deleted and appended: it leaves its place for the end of the table; the kept
    rows keep their order. Row ids themselves shift when DuckDB compacts a row group with deleted
    rows.)"""
    url = airflow_db(version, "incr_clear_one", dags=4, days=3)
    job = Job(url, tmp_path, "archive")
    home = tmp_path / "airflow-home"
    home.mkdir()
    job.run()
    anomalies = f'"{job.marts}".fct_task_attempt_duration_anomalies'
    pool = f'"{job.marts}".rpt_pool_hourly_usage'
    attempts = f'"{job.marts}".fct_task_attempts'
    natural_key = "dag_id = ? and task_id = ? and run_id = ? and map_index = ?"
    with duckdb.connect(str(job.warehouse), read_only=True) as con:
        latest = con.execute(
            f"select dag_id, task_id, run_id, map_index from {anomalies} "
            "where state = 'success' order by started_at desc, task_attempt_key desc limit 1"
        ).fetchone()
    # a first clear writes task_instance_history's first rows: the build knows what changed in a
    # table only once it holds rows (a new table is read whole)
    airflow_python(version, url, home, AIRFLOW_CLEARS_ONE, *map(str, latest))
    lost_pool = airflow_python(version, url, home, AIRFLOW_LEAVES_ONE_RUNNING).split()[-1]
    # its last line: Airflow 3 prints warnings before it
    *running_one, running_pool = (
        airflow_python(version, url, home, AIRFLOW_RUNS_ONE_FOR_HOURS).splitlines()[-1].split()
    )
    job.run()
    with duckdb.connect(str(job.warehouse), read_only=True) as con:
        # the earliest success with a whole history (3, Job's) of its task's successes after it
        cleared = con.execute(
            "select dag_id, task_id, run_id, map_index from ("
            "  select *, count(case when state = 'success' then 1 end) over ("
            "    partition by dag_id, task_id order by started_at, task_attempt_key"
            "    rows between 1 following and unbounded following) as later_successes"
            f"  from {anomalies}) as attempts "
            "where state = 'success' and later_successes >= 3 "
            "order by started_at, task_attempt_key limit 1"
        ).fetchone()
        assert cleared is not None, "no success has 3 after it: the test shows nothing"
        before = firsts(con, f"select task_attempt_key from {anomalies} order by rowid")
        own = set(
            firsts(con, f"select task_attempt_key from {anomalies} where {natural_key}", cleared)
        )
        hours_before = firsts(con, f"select pool_hour_key from {pool} order by rowid")
        # the hours the lost try holds, up to its 1,000th: before the fixture's other attempts
        lost_hours = set(
            firsts(
                con,
                f"select pool_hour_key from {pool} where pool_name = ? and hour_start < ("
                f"  select min(started_at) from {attempts} where ended_at is null"
                "  ) + interval 1000 hour",
                (lost_pool,),
            )
        )
        # the hours the cleared try holds slots in
        cleared_hours = set(
            firsts(
                con,
                f"select hours.pool_hour_key from {pool} as hours "
                f"inner join {attempts} as attempts on attempts.pool = hours.pool_name "
                "  and hours.hour_start >= date_trunc('hour', attempts.started_at) "
                "  and hours.hour_start < attempts.ended_at "
                f"where attempts.state = 'success' and {natural_key}",
                cleared,
            )
        )
    assert cleared_hours, "the cleared try holds no pool hour: the test shows nothing"
    days_before = days_of_the_run_and_its_task_instance(job, cleared)
    with duckdb.connect(str(job.warehouse), read_only=True) as con:
        intermediate = job.marts.removesuffix("_marts") + "_intermediate"
        last_sync = con.execute(
            f'select synced_at from "{intermediate}".int_latest_sync'
        ).fetchone()[0]
    airflow_python(version, url, home, AIRFLOW_CLEARS_ONE, *map(str, cleared))
    assert PARTIAL in job.run()
    assert job.replaced()["fct_task_attempt_duration_anomalies"] == "partitions"
    assert job.replaced()["rpt_pool_hourly_usage"] == "partitions"
    # the cleared try was exchanged for itself, so there is no window marker, and the pre-hook does
    # not look for rows after one (airflow_audit_without_window_markers)
    deleted = job.delete_statements()["fct_task_attempt_duration_anomalies"]
    assert "task_instance_key in (" in deleted and "or task_attempt_key in (" not in deleted, (
        deleted
    )
    with duckdb.connect(str(job.warehouse), read_only=True) as con:
        after = firsts(con, f"select task_attempt_key from {anomalies} order by rowid")
        kept = con.execute(
            f"select count(*) from {anomalies} where {natural_key} and state = 'success'", cleared
        ).fetchone()[0]
    assert kept == 1, "the cleared try is still a success, from task_instance_history"
    with duckdb.connect(str(job.warehouse), read_only=True) as con:
        raw = job.marts.removesuffix("_marts")
        # Airflow 3 re-keys the task instance it clears: archive mode keeps the row under its old id,
        # marked deleted at the source
        rekeyed = con.execute(
            f'select count(*) from "{raw}".task_instance '
            f"where {natural_key} and _sdc_deleted_at is not null",
            cleared,
        ).fetchone()[0]
        task_instances = con.execute(
            f'select count(*) from "{job.marts}".fct_task_instances where {natural_key}', cleared
        ).fetchone()[0]
        attempts_per_try = con.execute(
            f"select try_number, count(*) from {attempts} where {natural_key} group by try_number",
            cleared,
        ).fetchall()
    assert rekeyed == (1 if version.startswith("3.") else 0)
    # deleted rows included: one task instance, one attempt per try
    assert task_instances == 1
    assert attempts_per_try and all(count == 1 for _, count in attempts_per_try)
    kept_in_order = [key for key in before if key not in own]
    assert after[: len(kept_in_order)] == kept_in_order
    assert set(after[len(kept_in_order) :]) == own
    with duckdb.connect(str(job.warehouse), read_only=True) as con:
        hours_after = firsts(con, f"select pool_hour_key from {pool} order by rowid")
        # every hour from the start of an attempt still running (held until the sync)
        running_hours = set(
            firsts(
                con,
                f"select hours.pool_hour_key from {pool} as hours where exists ("
                f"  select 1 from {attempts} as attempts where attempts.ended_at is null "
                "   and attempts.pool = hours.pool_name "
                "   and hours.hour_start >= date_trunc('hour', attempts.started_at))",
            )
        )
        # the try running for five hours: the hours it held whole at the last sync too (ended by
        # then), and those from the last sync's on
        started = con.execute(
            f"select started_at from {attempts} where ended_at is null and {natural_key}",
            (running_one[0], running_one[1], running_one[2], int(running_one[3])),
        ).fetchone()[0]
        hours_of_the_try = (
            f"select pool_hour_key from {pool} where pool_name = ? "
            "and hour_start >= date_trunc('hour', cast(? as timestamp)) "
        )
        held_whole = set(
            firsts(
                con,
                hours_of_the_try + "and hour_start + interval 1 hour <= ?",
                (running_pool, started, last_sync),
            )
        )
        since_last_sync = set(
            firsts(
                con,
                hours_of_the_try + "and hour_start + interval 1 hour > ?",
                (running_pool, started, last_sync),
            )
        )
    assert cleared_hours - running_hours, "every hour of the cleared try is a running one's too"
    assert len(held_whole) >= 3, (
        "the try running for hours held too few whole: the test shows nothing"
    )
    recomputed = appended(hours_before, hours_after)
    # of the attempts still running, the hours since the last sync only
    assert recomputed == since_last_sync
    assert not recomputed & held_whole
    assert not recomputed & cleared_hours - running_hours
    # an attempt running past its 1,000 hours holds the same hours at every sync
    assert len(lost_hours) >= 900, "the lost try holds too few hours: the test shows nothing"
    assert not recomputed & lost_hours
    # the lateness report recomputes the day the cleared run was due on, not its DAG's other days
    with duckdb.connect(str(job.warehouse), read_only=True) as con:
        built_at = con.execute(
            f'select max(airflow_audit_built_at) from "{job.marts}".fct_task_instances'
        ).fetchone()[0]
        due_days = (
            "select dag_id, cast(date_trunc('day', due_at) as date) from "
            f'"{job.marts}".fct_dag_run_lateness where airflow_audit_built_at = ?'
        )
        rewritten = set(con.execute(due_days, (built_at,)).fetchall())
        reported = con.execute(
            "select dag_id, due_date, airflow_audit_built_at = ? "
            f'from "{job.marts}".rpt_dag_daily_lateness where dag_id = ?',
            (built_at, cleared[0]),
        ).fetchall()
    assert rewritten, "the cleared run has no due time: the test shows nothing"
    assert {dag for dag, _ in rewritten} == {cleared[0]}
    assert len(reported) > len(rewritten), "its DAG was due on one day: the test shows nothing"
    assert {(dag, due) for dag, due, now in reported if now} == rewritten
    # the daily health report recomputes the days the cleared run and its task instance's attempts
    # counted on before and count on now (the run, queued again without a start, moved to the day
    # of the clear), not its DAG's other days
    days_after = days_of_the_run_and_its_task_instance(job, cleared)
    assert days_before["run"] != days_after["run"], "the run kept its day: the test shows nothing"
    with duckdb.connect(str(job.warehouse), read_only=True) as con:
        health = con.execute(
            "select run_date, airflow_audit_built_at = ? "
            f'from "{job.marts}".rpt_dag_daily_health where dag_id = ?',
            (built_at, cleared[0]),
        ).fetchall()
    recounted = set().union(*days_before.values(), *days_after.values())
    assert len(health) > len(recounted), "its DAG ran on those days only: the test shows nothing"
    assert {day for day, now in health if now} == recounted
    assert job.differences_from_a_full_rebuild() == {}
    # a due time rewritten outside Airflow (by hand, in its database): the day the run left holds one
    # run fewer than the report counted, and is recomputed with the day it moved to
    due = "run_after" if version.startswith("3.") else "data_interval_end"
    dag_id, run_id = (value.replace("'", "''") for value in (cleared[0], cleared[2]))
    moved = execute(
        url,
        f"update dag_run set {due} = {due} + interval '2 days' "
        f"where dag_id = '{dag_id}' and run_id = '{run_id}'",
    )
    assert moved == 1
    assert PARTIAL in job.run()
    assert job.differences_from_a_full_rebuild() == {}
    # a user's --full-refresh of fct_dag_runs and fct_task_attempts alone: what they replaced is not
    # known, so the next build recounts every day of the daily health report and every hour of the
    # pool report
    done = meltano(
        "invoke",
        "dbt-duckdb:build-changed",
        "--full-refresh",
        "--select",
        "fct_dag_runs",
        "fct_task_attempts",
        env=job.env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with duckdb.connect(str(job.warehouse), read_only=True) as con:
        intermediate = f'"{job.marts.removesuffix("_marts")}_intermediate"'
        not_known = con.execute(
            f"select (select count(*) from {intermediate}.int_dag_days_replaced "
            "where dag_id is null), "
            f"(select count(*) from {intermediate}.int_pool_attempts_replaced "
            "where task_instance_key is null)"
        ).fetchone()
    assert not_known == (2, 1)
    airflow_python(version, url, home, AIRFLOW_WRITES, "20261201")
    assert PARTIAL in job.run()
    assert job.replaced()["rpt_dag_daily_health"] == "everything"
    assert job.replaced()["rpt_pool_hourly_usage"] == "everything"
    assert job.replaced()["fct_task_attempts"] == "partitions"
    assert job.differences_from_a_full_rebuild() == {}
