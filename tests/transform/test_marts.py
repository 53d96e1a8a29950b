"""The audit marts against SQL computed independently on the source, on the real Airflow schemas.

For each Airflow version (every schema in tests/fixtures/airflow/: 2.4.3, 2.7.3, 2.9.3, 2.10.5, 3.3.2) the
module fills a PostgreSQL database with the history generator and runs the
real `meltano run airflow-audit` on it, copying every table (AIRFLOW_AUDIT_TABLES='[]'), in archive mode.
Then it:

1. compares each mart's figures with SQL run on the source database (runs by state, failed attempts and
   average successful run duration per DAG, users per role, privileged users, audit events per category,
   import errors, jobs by type, ...); the event-category mapping on the source side is this module's own
   table of Airflow event names, not the mart's SQL;
2. does what `airflow db clean` does (deletes old runs, task instances, log rows, jobs) and resolves an
   import error and revokes a role at the source, runs the job again, and checks that the marts still
   report the full history, with exactly the deleted rows flagged is_deleted_at_source;
3. checks that every column of every model is documented, and every documented column exists.

On an EMPTY Airflow database of each version, with the default table set (so the optional tables are
not even loaded), the job, dbt build included, is green and every mart is empty.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import statistics
import subprocess
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
import pytest

from tests.support import AIRFLOW_CLI, ROOT, airflow_db_clean, meltano, source_query
from tests.support.sync import (
    ALL_VERSIONS,
    MARTS,
    RAW,
    TREND_WINDOW_DAYS,
    dbt_paths,
    full_job,
    run_job,
)

SQLFLUFF = ROOT / ".meltano/utilities/sqlfluff/venv/bin/sqlfluff"

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration

MART_MODELS = [
    "fct_dag_runs",
    "fct_task_instances",
    "fct_task_attempts",
    "fct_task_failures",
    "dim_dags",
    "dim_users",
    "fct_user_role_grants",
    "dim_role_permissions",
    "rpt_privileged_users",
    "fct_audit_events",
    "fct_import_errors",
    "fct_scheduler_jobs",
    "fct_sla_misses",
    "rpt_dag_daily_health",
]

# Airflow's audit-log event names -> the category a correct fct_audit_events gives them, written from
# Airflow's sources (2.x www/views.py and api_connexion, 3.x api_fastapi routes, the CLI's
# cli_<command>, TaskInstance state logging), independently of the mart's SQL. `success` and `failed`
# are task lifecycle events when they name a task instance (map_index set), UI "mark state" otherwise.
EVENT_CATEGORIES = {
    # 2.x UI and REST API (2.7 dag_run.create; 2.9+ prefixes api./ui.)
    "trigger": "trigger",
    "dag_run.create": "trigger",
    "api.post_dag_run": "trigger",
    "paused": "pause_unpause",
    "clear": "clear",
    "variable.create": "variable_change",
    "variable.edit": "variable_change",
    "variable.delete": "variable_change",
    "connection.create": "connection_change",
    "connection.edit": "connection_change",
    "connection.delete": "connection_change",
    # 3.x REST API (FastAPI endpoint names)
    "trigger_dag_run": "trigger",
    "create_backfill": "trigger",
    "patch_dag": "pause_unpause",
    "clear_dag_run": "clear",
    "post_variable": "variable_change",
    "patch_variable": "variable_change",
    "delete_variable": "variable_change",
    "post_connection": "connection_change",
    "patch_connection": "connection_change",
    "delete_connection": "connection_change",
    "api.connection.create": "connection_change",
    "bulk_variables": "variable_change",
    # CLI
    "cli_connections_add": "connection_change",
    "cli_variables_set": "variable_change",
    "cli_dag_trigger": "trigger",
    "cli_dag_backfill": "trigger",
    "cli_users_create": "user_change",
    "cli_task_run": "cli_run",
    "cli_scheduler": "cli_run",
    "cli_triggerer": "cli_run",
    "cli_dag_processor": "cli_run",
    "cli_webserver": "cli_run",
    "cli_api_server": "cli_run",
    "cli_cleanup_tables": "cli_run",
    "cli_migratedb": "cli_run",  # `airflow db migrate`, an in-place upgrade
    # task lifecycle and the scheduler's interventions
    "running": "task_lifecycle",
    "up_for_retry": "task_lifecycle",
    "stuck in queued": "task_lifecycle",
    "stuck in queued reschedule": "task_lifecycle",
    "heartbeat timeout": "task_lifecycle",
}


def event_category(event: str, map_index: int | None) -> str:
    if event in ("success", "failed"):
        return "task_lifecycle" if map_index is not None else "mark_state"
    if event not in EVENT_CATEGORIES:
        raise AssertionError(
            f"the source holds the audit-log event {event!r}, which this test does not know: add it to "
            "EVENT_CATEGORIES with the category Airflow's meaning calls for"
        )
    return EVENT_CATEGORIES[event]


# ---------------------------------------------------------------------------------------------------------
# Figures: (SQL on the source database, SQL on the marts), both giving sorted rows.
# ---------------------------------------------------------------------------------------------------------

FIGURES: dict[str, tuple[str, str]] = {
    # rpt_failure_streaks: failed finished runs since each DAG's latest successful one
    "failure_streaks": (
        "with runs as (select dag_id, state, start_date from dag_run "
        "where state in ('success', 'failed') and start_date is not null), "
        "last_success as (select dag_id, max(start_date) as at from runs where state = 'success' "
        "group by 1) "
        "select r.dag_id, count(*) from runs r left join last_success s on s.dag_id = r.dag_id "
        "where r.state = 'failed' and (s.at is null or r.start_date > s.at) group by 1 order by 1",
        "select dag_id, failed_runs from {marts}.rpt_failure_streaks order by 1",
    ),
    "dag_runs_by_state_per_dag": (
        "select dag_id, state, count(*) from dag_run group by 1, 2 order by 1, 2",
        "select dag_id, state, count(*) from {marts}.fct_dag_runs group by 1, 2 order by 1, 2",
    ),
    "task_instances_by_state_per_dag": (
        "select dag_id, coalesce(state, 'none'), count(*) from task_instance group by 1, 2 order by 1, 2",
        "select dag_id, coalesce(state, 'none'), count(*) from {marts}.fct_task_instances "
        "group by 1, 2 order by 1, 2",
    ),
    "users_per_role": (
        "select r.name, count(*) from ab_user_role ur join ab_role r on r.id = ur.role_id "
        "group by 1 order by 1",
        "select role_name, count(*) from {marts}.fct_user_role_grants group by 1 order by 1",
    ),
    # The privilege rule written against FAB's own tables: who may edit connections / create DAG runs.
    "users_who_can_edit_connections": (
        "select distinct u.username from ab_user u join ab_user_role ur on ur.user_id = u.id "
        "join ab_permission_view_role pvr on pvr.role_id = ur.role_id "
        "join ab_permission_view pv on pv.id = pvr.permission_view_id "
        "join ab_permission p on p.id = pv.permission_id join ab_view_menu v on v.id = pv.view_menu_id "
        "where p.name in ('can_create', 'can_edit', 'can_delete') and v.name = 'Connections' order by 1",
        "select username from {marts}.rpt_privileged_users where privilege = 'edit_connections' "
        "order by 1",
    ),
    "users_who_can_trigger_any_dag": (
        "select distinct u.username from ab_user u join ab_user_role ur on ur.user_id = u.id "
        "join ab_permission_view_role pvr on pvr.role_id = ur.role_id "
        "join ab_permission_view pv on pv.id = pvr.permission_view_id "
        "join ab_permission p on p.id = pv.permission_id join ab_view_menu v on v.id = pv.view_menu_id "
        "where p.name = 'can_create' and v.name = 'DAG Runs' order by 1",
        "select username from {marts}.rpt_privileged_users where privilege = 'trigger_any_dag' "
        "order by 1",
    ),
    "users": (
        "select username, active, last_login is null, login_count from ab_user order by 1",
        "select username, is_active, has_never_logged_in, login_count from {marts}.dim_users order by 1",
    ),
    "import_errors": (
        "select filename, count(*) from import_error group by 1 order by 1",
        "select file_path, count(*) from {marts}.fct_import_errors group by 1 order by 1",
    ),
    "dag_warnings": (
        "select dag_id, warning_type, message from dag_warning order by 1, 2",
        "select dag_id, warning_type, message from {marts}.fct_dag_warnings order by 1, 2",
    ),
    # fct_dag_runs.dag_version_number: the DAG version each run was created from (Airflow 3)
    "runs_per_dag_version": (
        "select dr.dag_id, dv.version_number, count(*) from dag_run dr "
        "join dag_version dv on dv.id = dr.created_dag_version_id group by 1, 2 order by 1, 2",
        "select dag_id, dag_version_number, count(*) from {marts}.fct_dag_runs "
        "where dag_version_number is not null group by 1, 2 order by 1, 2",
    ),
    "dag_warning_alerts": (
        "select dag_id, warning_type from dag_warning order by 1, 2",
        "select dag_id, subject from {marts}.rpt_alerts where alert_kind = 'dag_warning' "
        "order by 1, 2",
    ),
    "jobs_by_type_and_state": (
        "select job_type, state, count(*) from job group by 1, 2 order by 1, 2",
        "select job_type, state, count(*) from {marts}.fct_scheduler_jobs group by 1, 2 order by 1, 2",
    ),
    "dags": (
        "select dag_id, is_paused, owners from dag order by 1",
        "select dag_id, is_paused, owners from {marts}.dim_dags order by 1",
    ),
    "tags_per_dag": (
        "select dag_id, count(*) from dag_tag group by 1 order by 1",
        "select dag_id, tag_count from {marts}.dim_dags where tag_count > 0 order by 1",
    ),
    "runs_per_dag_in_the_daily_report": (
        "select dag_id, count(*) from dag_run group by 1 order by 1",
        "select dag_id, sum(run_count) from {marts}.rpt_dag_daily_health group by 1 "
        "having sum(run_count) > 0 order by 1",
    ),
    "notes_on_runs": (
        # a token someone typed into a note (token=...) arrives masked
        "select r.dag_id, r.run_id, regexp_replace(n.content, '(token=)[^ ]+', '\\1***', 'g') "
        "from dag_run_note n join dag_run r on r.id = n.dag_run_id "
        "order by 1, 2",
        "select dag_id, run_id, note from {marts}.fct_dag_runs where note is not null order by 1, 2",
    ),
}

# The reason a retry policy gave for a retried try (Airflow 3.3+), per try: Airflow keeps it on the try's
# history row and, while the try waits for its retry (up_for_retry), on the task instance too, so a try
# is listed once. A task instance scheduled or queued for its next try still holds the reason, which is
# the try's before it: an attempt of its history.
# Masked as the tap masks free text (the fixtures' policy reason that quotes a URL's api_key).
RETRY_REASONS_AT_SOURCE = (
    "select dag_id, task_id, run_id, map_index, try_number, "
    "regexp_replace(retry_reason, '(api_key=)[^&]+', '\\1***', 'g') from ("
    "select dag_id, task_id, run_id, map_index, try_number, retry_reason from task_instance_history "
    "where retry_reason is not null union "
    "select dag_id, task_id, run_id, map_index, try_number, retry_reason from task_instance "
    "where retry_reason is not null and state = 'up_for_retry') as tries order by 1, 2, 3, 4, 5"
)
RETRY_REASONS_IN_MARTS = (
    "select dag_id, task_id, run_id, map_index, try_number, retry_reason from {marts}.fct_task_attempts "
    "where retry_reason is not null order by 1, 2, 3, 4, 5"
)

# Failed attempts per DAG. Airflow 2 records every failed try in task_fail; Airflow 3 has no task_fail:
# a failed try is a history row that failed, or the current try when it failed or waits for a retry.
# Chosen by whether the source has task_fail, as the marts must decide it.
FAILED_ATTEMPTS_FROM_TASK_FAIL = "select dag_id, count(*) from task_fail group by 1 order by 1"
# One failed try is one row, even where Airflow recorded it twice: 2.10+ writes a try that failed and
# will be retried to task_instance_history while the task instance waits in up_for_retry with the same
# try_number (the fixtures hold such a try).
FAILED_ATTEMPTS_WITHOUT_TASK_FAIL = (
    "select dag_id, count(*) from ("
    "select dag_id, task_id, run_id, map_index, try_number from task_instance_history "
    "where state = 'failed' union "
    "select dag_id, task_id, run_id, map_index, try_number from task_instance "
    "where state in ('failed', 'up_for_retry')) f "
    "group by 1 order by 1"
)
FAILED_ATTEMPTS_MARTS = (
    "select dag_id, count(*) from {marts}.fct_task_failures group by 1 order by 1",
    "select dag_id, sum(failed_task_attempt_count) from {marts}.rpt_dag_daily_health group by 1 "
    "having sum(failed_task_attempt_count) > 0 order by 1",
)
AVERAGE_SUCCESS_DURATION = (
    "select dag_id, avg(extract(epoch from end_date - start_date)) from dag_run "
    "where state = 'success' group by 1 order by 1",
    "select dag_id, avg(duration_s) from {marts}.fct_dag_runs where state = 'success' "
    "group by 1 order by 1",
)


# Lateness of every scheduled run (fct_dag_run_lateness), written against Airflow's tables: due at
# run_after (3.x) or the data interval's end (2.x), to the first task instance's start.
LATENESS_AT_SOURCE = (
    "select dr.dag_id, dr.run_id, extract(epoch from min(ti.start_date) - dr.{due}) "
    "from dag_run dr join task_instance ti on ti.dag_id = dr.dag_id and ti.run_id = dr.run_id "
    "where dr.run_type = 'scheduled' and dr.{due} is not null and ti.start_date is not null "
    "group by dr.dag_id, dr.run_id, dr.{due} having min(ti.start_date) >= dr.{due} order by 1, 2"
)
LATENESS_IN_MARTS = (
    "select dag_id, run_id, lateness_s from {marts}.fct_dag_run_lateness "
    "where lateness_s is not null order by 1, 2"
)


# The latest run of each DAG (dim_dags), chosen here by PostgreSQL's DISTINCT ON from Airflow's dag_run: the
# latest activity (queued, else started, else due, else the logical date), runs without one last, then the
# highest id. The columns are the version's: 2.x has execution_date, 3.x run_after and logical_date.
LATEST_RUN_ACTIVITY = ("queued_at", "start_date", "run_after", "logical_date", "execution_date")
LATEST_RUNS_AT_SOURCE = (
    "select distinct on (r.dag_id) r.dag_id, r.run_id, r.state from dag_run r "
    "join dag d on d.dag_id = r.dag_id "
    "order by r.dag_id, coalesce({activity}) desc nulls last, r.id desc"
)
LATEST_RUNS_IN_MARTS = (
    "select dag_id, latest_run_id, latest_run_state from {marts}.dim_dags "
    "where not is_deleted_at_source and latest_run_id is not null order by 1"
)


def latest_runs_at_source(url: str) -> list[tuple]:
    present = {
        c
        for (c,) in source_query(
            url, "select column_name from information_schema.columns where table_name = 'dag_run'"
        )
    }
    activity = ", ".join(f"r.{c}" for c in LATEST_RUN_ACTIVITY if c in present)
    return normalized(source_query(url, LATEST_RUNS_AT_SOURCE.format(activity=activity)))


# Duration anomalies (fct_dag_run_duration_anomalies), computed here in Python from Airflow's dag_run:
# each finished run against the median and MAD of its DAG's previous (at most 30) successful runs.
ANOMALY_RUNS_AT_SOURCE = (
    "select dag_id, run_id, state, extract(epoch from end_date - start_date) from dag_run "
    "where state in ('success', 'failed') and start_date is not null and end_date is not null "
    "order by dag_id, start_date, run_id"
)
ANOMALIES_IN_MARTS = (
    "select dag_id, run_id, history_run_count, history_median_s, is_anomaly "
    "from {marts}.fct_dag_run_duration_anomalies order by dag_id, started_at, run_id"
)


# Asset (2.x dataset) events with the runs they queued and the latency to the first one's queueing.
ASSET_EVENTS_AT_SOURCE = (
    "select e.id, count(r.id), extract(epoch from min(r.queued_at) - e.timestamp) "
    "from {kind}_event e left join dagrun_{kind}_event l on l.event_id = e.id "
    "left join dag_run r on r.id = l.dag_run_id group by e.id, e.timestamp order by 1"
)
ASSET_EVENTS_IN_MARTS = (
    "select asset_event_id, triggered_run_count, queue_latency_s from {marts}.fct_asset_events "
    "order by 1"
)


def anomalies_at_source(url: str) -> list[tuple]:
    """(dag_id, run_id, history size, median, is_anomaly) by the documented rule (dbt_project.yml's
    defaults: 30 runs, at least 10, 3.5 modified z-scores and 60 s)."""
    out: list[tuple] = []
    history: dict[str, list[float]] = {}
    for dag_id, run_id, state, duration in source_query(url, ANOMALY_RUNS_AT_SOURCE):
        duration = float(duration)
        previous = history.setdefault(dag_id, [])[-30:]
        median = statistics.median(previous) if previous else None
        anomaly = False
        if len(previous) >= 10:
            mad = statistics.median(abs(d - median) for d in previous)
            deviation = abs(duration - median)
            anomaly = deviation > 60 and (mad == 0 or 0.6745 * deviation / mad > 3.5)
        out.append((dag_id, run_id, len(previous), median, anomaly))
        if state == "success":
            history[dag_id].append(duration)
    return out


# Task attempt duration anomalies (fct_task_attempt_duration_anomalies), from Airflow's task_instance and
# task_instance_history in Python (the releases whose tries are all in those two tables): each finished
# attempt against the median and MAD of its task's previous (at most 30) successful attempts.
ATTEMPT_ANOMALY_VERSIONS = ("2.10.5", "3.3.2")
TRIES_AT_SOURCE = """
select dag_id, task_id, run_id, map_index, try_number, state, start_date,
       coalesce(duration, extract(epoch from end_date - start_date)), 1
from task_instance
where try_number >= 1 and (state in ('running', 'success', 'failed', 'up_for_retry', 'up_for_reschedule',
    'deferred', 'restarting', 'shutdown') or (state = 'skipped' and start_date is not null))
union all
select dag_id, task_id, run_id, map_index, try_number, state, start_date,
       coalesce(duration, extract(epoch from end_date - start_date)), 2
from task_instance_history
"""
ATTEMPT_ANOMALIES_IN_MARTS = (
    "select dag_id, task_id, run_id, map_index, try_number, history_attempt_count, history_median_s, "
    "is_anomaly from {marts}.fct_task_attempt_duration_anomalies order by 1, 2, 3, 4, 5"
)


def attempt_anomalies_at_source(url: str) -> list[tuple]:
    """(dag_id, task_id, run_id, map_index, try, history size, median, is_anomaly) by the documented
    rule (dbt_project.yml's defaults), ties in start broken by the attempt key as the mart does."""
    from tests.transform.test_unit_test_keys import surrogate_key

    tries: dict[tuple, tuple] = {}
    for dag_id, task_id, run_id, map_index, try_number, state, start, duration, _priority in sorted(
        source_query(url, TRIES_AT_SOURCE), key=lambda row: -row[8]
    ):
        tries[(dag_id, task_id, run_id, map_index, try_number)] = (state, start, duration)
    attempts: dict[tuple, list] = {}
    for (dag_id, task_id, run_id, map_index, try_number), (state, start, duration) in tries.items():
        if state in ("success", "failed", "up_for_retry") and start and duration is not None:
            key = surrogate_key((dag_id, task_id, run_id, map_index, try_number))
            attempts.setdefault((dag_id, task_id), []).append(
                (start, key, run_id, map_index, try_number, state, float(duration))
            )
    out = []
    for (dag_id, task_id), rows in attempts.items():
        history: list[float] = []
        for _, _, run_id, map_index, try_number, state, duration in sorted(rows):
            previous = history[-30:]
            median = statistics.median(previous) if previous else None
            anomaly = False
            if len(previous) >= 10:
                mad = statistics.median(abs(d - median) for d in previous)
                deviation = abs(duration - median)
                anomaly = deviation > 60 and (mad == 0 or 0.6745 * deviation / mad > 3.5)
            out.append(
                (dag_id, task_id, run_id, map_index, try_number, len(previous), median, anomaly)
            )
            if state == "success":
                history.append(duration)
    return sorted(out)


# Duration trends (rpt_dag_durations, and its duration_trend alerts), from Airflow's dag_run in Python:
# per DAG, the successful runs of the TREND_WINDOW_DAYS ending at its latest successful run's start,
# against the same number of days before; slower by the documented rule (dbt_project.yml's defaults:
# at least 5 runs in each window, 25% and 60 s).
TREND_RUNS_AT_SOURCE = (
    "select dag_id, start_date, extract(epoch from end_date - start_date) from dag_run "
    "where state = 'success' and start_date is not null and end_date is not null"
)
TRENDS_IN_MARTS = (
    "select dag_id, recent_run_count, previous_run_count, recent_p50_duration_s, "
    "previous_p50_duration_s, duration_growth, is_slower from {marts}.rpt_dag_durations order by 1"
)
TREND_ALERTS_IN_MARTS = (
    'select dag_id from "{schema}_intermediate".int_alerts_raised '
    "where alert_kind = 'duration_trend' order by 1"
)


def trends_at_source(url: str) -> list[tuple]:
    runs: dict[str, list[tuple]] = {}
    for dag_id, started, duration in source_query(url, TREND_RUNS_AT_SOURCE):
        runs.setdefault(dag_id, []).append((started, float(duration)))
    window = dt.timedelta(days=TREND_WINDOW_DAYS)
    out = []
    for dag_id in sorted(runs):
        latest = max(started for started, _ in runs[dag_id])
        recent = [d for started, d in runs[dag_id] if started > latest - window]
        previous = [
            d for started, d in runs[dag_id] if latest - 2 * window < started <= latest - window
        ]
        recent_p50 = statistics.median(recent)
        previous_p50 = statistics.median(previous) if previous else None
        growth = recent_p50 / previous_p50 - 1 if previous_p50 else None
        slower = bool(
            len(recent) >= 5
            and len(previous) >= 5
            and previous_p50
            and recent_p50 >= 1.25 * previous_p50
            and recent_p50 - previous_p50 > 60
        )
        out.append((dag_id, len(recent), len(previous), recent_p50, previous_p50, growth, slower))
    return out


# The tries that hold pool slots, at the source: the current try of a task instance at or past running,
# and (2.10+) the earlier tries in task_instance_history, each holding the pool_slots recorded with it
# from start to end (a running one: until the sync). Read without the marts' SQL.
POOL_TRIES_AT_SOURCE = """
select ti.pool, coalesce(ti.pool_slots, 1), ti.start_date, ti.end_date, ti.state,
       ti.dag_id, ti.task_id, ti.run_id, ti.map_index, ti.try_number, 'current'
from task_instance ti
where ti.pool is not null and ti.start_date is not null and ti.try_number >= 1
  and (ti.state in ('running', 'success', 'failed', 'up_for_retry', 'up_for_reschedule', 'deferred',
                    'restarting', 'shutdown') or ti.state = 'skipped')
"""
POOL_EARLIER_TRIES_AT_SOURCE = """
select h.pool, coalesce(h.pool_slots, 1), h.start_date, h.end_date, h.state,
       h.dag_id, h.task_id, h.run_id, h.map_index, h.try_number, 'history'
from task_instance_history h
where h.pool is not null and h.start_date is not null
"""


def pool_usage_at_source(url: str, synced_at: dt.datetime, tables: set[str]) -> list[tuple]:
    """(pool, slot-seconds held, most slots held at once) per pool, from the source's tries, by the
    documented rule: a try holds slots from its start to its end, or to the sync while running, at most
    1,000 hours from the start of the hour it started in."""
    rows = source_query(url, POOL_TRIES_AT_SOURCE)
    if "task_instance_history" in tables:
        rows += source_query(url, POOL_EARLIER_TRIES_AT_SOURCE)
    synced = synced_at.replace(tzinfo=dt.timezone.utc) if synced_at.tzinfo is None else synced_at
    current = {r[5:10] for r in rows if r[10] == "current"}
    held: dict[str, float] = {}
    events: dict[str, list[tuple]] = {}
    for pool, slots, start, end, state, *key, source in rows:
        if source == "history" and tuple(key) in current:
            continue  # the current try, also written to the history: kept once
        if end is None:
            if state not in ("running", "restarting"):
                continue
            end = synced
        end = min(end, start.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1000))
        held[pool] = held.get(pool, 0.0) + slots * max(0.0, (end - start).total_seconds())
        events.setdefault(pool, []).extend([(start, 1, slots), (end, 0, -slots)])
    peaks = {}
    for pool, changes in events.items():
        level = peak = 0
        for _, _, change in sorted(changes):
            level += change
            peak = max(peak, level)
        peaks[pool] = peak
    return sorted((pool, round(held[pool], 1), peaks[pool]) for pool in held if held[pool] > 0)


POOL_USAGE_IN_MARTS = (
    "select pool_name, round(sum(slot_seconds_used), 1), max(peak_slots_used) "
    "from {marts}.rpt_pool_hourly_usage group by 1 order by 1"
)


def marts_query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql.format(marts=f'"{MARTS}"')).fetchall()


def normalized(rows: list[tuple]) -> list[tuple]:
    """Rows with integer-valued numbers as int, so PostgreSQL and DuckDB types compare."""
    return [
        tuple(int(v) if isinstance(v, int | float) and v == int(v) else v for v in row)
        for row in rows
    ]


def events_per_category_at_source(url: str) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for event, map_index, n in source_query(
        url, "select event, map_index, count(*) from log group by 1, 2"
    ):
        counts[event_category(event, map_index)] += n
    return dict(counts)


def events_per_category_in_marts(warehouse: Path) -> dict[str, int]:
    rows = marts_query(
        warehouse, "select event_category, count(*) from {marts}.fct_audit_events group by 1"
    )
    return dict(rows)


def mart_figures(warehouse: Path, version: str) -> dict[str, Any]:
    figures: dict[str, Any] = {
        name: normalized(marts_query(warehouse, mart_sql))
        for name, (_, mart_sql) in FIGURES.items()
    }
    for n, sql in enumerate(FAILED_ATTEMPTS_MARTS):
        figures[f"failed_attempts_per_dag_{n}"] = normalized(marts_query(warehouse, sql))
    figures["average_success_duration"] = [
        (dag_id, float(value))
        for dag_id, value in marts_query(warehouse, AVERAGE_SUCCESS_DURATION[1])
    ]
    figures["events_per_category"] = events_per_category_in_marts(warehouse)
    figures["lateness"] = [
        (dag_id, run_id, float(v))
        for dag_id, run_id, v in marts_query(warehouse, LATENESS_IN_MARTS)
    ]
    (figures["sla_misses"],) = marts_query(
        warehouse, "select count(*) from {marts}.fct_sla_misses"
    )[0]
    figures["anomalies"] = [
        (d, r, n, None if m is None else float(m), a)
        for d, r, n, m, a in marts_query(warehouse, ANOMALIES_IN_MARTS)
    ]
    figures["asset_events"] = [
        (e, n, None if v is None else float(v))
        for e, n, v in marts_query(warehouse, ASSET_EVENTS_IN_MARTS)
    ]
    if version in ATTEMPT_ANOMALY_VERSIONS:
        figures["attempt_anomalies"] = [
            (*row[:6], None if row[6] is None else float(row[6]), row[7])
            for row in marts_query(warehouse, ATTEMPT_ANOMALIES_IN_MARTS)
        ]
    figures["trends"] = [
        tuple(float(v) if isinstance(v, Decimal) else v for v in row)
        for row in marts_query(warehouse, TRENDS_IN_MARTS)
    ]
    figures["retry_reasons"] = normalized(marts_query(warehouse, RETRY_REASONS_IN_MARTS))
    figures["trend_alerts"] = [
        dag_id
        for (dag_id,) in marts_query(
            warehouse, TREND_ALERTS_IN_MARTS.replace("{schema}", MARTS.removesuffix("_marts"))
        )
    ]
    figures["latest_runs"] = normalized(marts_query(warehouse, LATEST_RUNS_IN_MARTS))
    figures["pool_usage"] = [
        (pool, float(used), int(peak))
        for pool, used, peak in marts_query(warehouse, POOL_USAGE_IN_MARTS)
    ]
    (figures["synced_at"],) = marts_query(
        warehouse,
        f'select synced_at from "{MARTS.removesuffix("_marts")}_intermediate".int_latest_sync',
    )[0]
    return figures


def source_tables(url: str) -> set[str]:
    return {
        t
        for (t,) in source_query(
            url, "select table_name from information_schema.tables where table_schema = 'public'"
        )
    }


def source_figure(url: str, sql: str, tables: set[str]) -> list[tuple]:
    """The figure at the source; none where the version lacks a table it reads (2.4 has no notes)."""
    for table in ("dag_run_note", "dag_version"):
        if f"{table} " in sql and table not in tables:
            return []
    return normalized(source_query(url, sql))


def source_figures(url: str, version: str) -> dict[str, Any]:
    tables = source_tables(url)
    figures: dict[str, Any] = {
        name: source_figure(url, source_sql, tables) for name, (source_sql, _) in FIGURES.items()
    }
    failed = normalized(
        source_query(
            url,
            FAILED_ATTEMPTS_FROM_TASK_FAIL
            if "task_fail" in tables
            else FAILED_ATTEMPTS_WITHOUT_TASK_FAIL,
        )
    )
    for n in range(len(FAILED_ATTEMPTS_MARTS)):
        figures[f"failed_attempts_per_dag_{n}"] = failed
    figures["average_success_duration"] = source_query(url, AVERAGE_SUCCESS_DURATION[0])
    figures["events_per_category"] = events_per_category_at_source(url)
    has_run_after = source_query(
        url,
        "select count(*) from information_schema.columns where table_name = 'dag_run' "
        "and column_name = 'run_after'",
    )[0][0]
    figures["lateness"] = source_query(
        url, LATENESS_AT_SOURCE.format(due="run_after" if has_run_after else "data_interval_end")
    )
    figures["sla_misses"] = (
        source_query(url, "select count(*) from sla_miss")[0][0] if "sla_miss" in tables else 0
    )
    figures["anomalies"] = anomalies_at_source(url)
    figures["latest_runs"] = latest_runs_at_source(url)
    has_retry_reason = source_query(
        url,
        "select count(*) from information_schema.columns where table_name = 'task_instance_history' "
        "and column_name = 'retry_reason'",
    )[0][0]
    figures["retry_reasons"] = (
        normalized(source_query(url, RETRY_REASONS_AT_SOURCE)) if has_retry_reason else []
    )
    figures["trends"] = trends_at_source(url)
    if version in ATTEMPT_ANOMALY_VERSIONS:
        figures["attempt_anomalies"] = attempt_anomalies_at_source(url)
    kind = "asset" if "asset_event" in tables else "dataset"
    figures["asset_events"] = [
        (e, n, None if v is None else float(v))
        for e, n, v in source_query(url, ASSET_EVENTS_AT_SOURCE.format(kind=kind))
    ]
    return figures


# ---------------------------------------------------------------------------------------------------------
# `airflow db clean`, and other deletions at the source
# ---------------------------------------------------------------------------------------------------------


# What each mart's rows are keyed by at the source, to count what a clean removed.
SOURCE_KEYS = {
    "fct_task_instances": "select dag_id, task_id, run_id, map_index from task_instance",
    "fct_dag_runs": "select id from dag_run",
    "fct_audit_events": "select id from log",
    "fct_scheduler_jobs": "select id from job",
    "fct_import_errors": "select id from import_error",
    "fct_user_role_grants": "select id from ab_user_role",
}


def source_keys(url: str) -> dict[str, set[tuple]]:
    return {mart: set(source_query(url, sql)) for mart, sql in SOURCE_KEYS.items()}


def clean_source(url: str, version: str, home: Path) -> dict[str, int]:
    """`airflow db clean --clean-before-timestamp <1 day after the first run>` of dag_run (its task
    instances, history, notes ... go with it by cascade), log and job: Airflow's own command where the
    project installs that release (2.10.5, 3.3.2), else the same deletes in SQL. Then resolve one import
    error and revoke one role grant. Returns the number of rows removed per mart."""
    (cutoff,) = source_query(url, "select min(start_date) + interval '1 day' from dag_run")[0]
    before = source_keys(url)
    if version in AIRFLOW_CLI:
        airflow_db_clean(url, version, home, cutoff.isoformat(), "dag_run,log,job")
    else:
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("delete from dag_run where start_date < %s", (cutoff,))
            cur.execute("delete from log where dttm < %s", (cutoff,))
            cur.execute("delete from job where latest_heartbeat < %s", (cutoff,))
        conn.close()
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("delete from import_error where id = (select min(id) from import_error)")
        cur.execute("delete from ab_user_role where id = (select min(id) from ab_user_role)")
    conn.close()
    after = source_keys(url)
    return {mart: len(before[mart] - after[mart]) for mart in SOURCE_KEYS}


def flagged_rows(warehouse: Path) -> dict[str, int]:
    return {
        model: marts_query(
            warehouse, f"select count(*) from {{marts}}.{model} where is_deleted_at_source"
        )[0][0]
        for model in (
            "fct_task_instances",
            "fct_dag_runs",
            "fct_audit_events",
            "fct_scheduler_jobs",
            "fct_import_errors",
            "fct_user_role_grants",
        )
    }


# ---------------------------------------------------------------------------------------------------------
# The runs
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def system_db(tmp_path_factory) -> str:
    """A Meltano system database of this module's own: its runs neither wait for nor read the state of
    runs of the same job elsewhere on the machine."""
    return f"sqlite:///{tmp_path_factory.mktemp('meltano-system-db') / 'meltano.db'}"


@pytest.fixture(scope="module", params=ALL_VERSIONS)
def marts(request, airflow_db, tmp_path_factory) -> dict[str, Any]:
    version = request.param
    # the session's one full job of this version (test_pipeline reads the same warehouse)
    job = full_job(version, airflow_db, tmp_path_factory)
    url, warehouse, workdir = job["url"], job["warehouse"], job["workdir"]
    at_source = source_figures(url, version)
    in_marts = mart_figures(warehouse, version)
    at_source["pool_usage"] = pool_usage_at_source(url, in_marts["synced_at"], source_tables(url))
    manifest = job["manifest"]
    run_results = json.loads((workdir / "target" / "run_results.json").read_text())

    (last_log_id,) = source_query(url, "select coalesce(max(id), 0) from log")[0]
    deleted = clean_source(url, version, tmp_path_factory.mktemp("airflow-home"))
    # `airflow db clean` logs itself (cli_cleanup_tables): the history the marts must still report
    # is the one before the clean, plus that row
    logged_by_clean = Counter(
        event_category(event, map_index)
        for event, map_index in source_query(
            url, f"select event, map_index from log where id > {last_log_id}"
        )
    )
    expected_after_clean = dict(at_source)
    expected_after_clean["events_per_category"] = dict(
        Counter(at_source["events_per_category"]) + logged_by_clean
    )
    # `airflow db clean` removes runs, and with them, where it was one, a DAG's latest run
    latest_runs_after_clean = latest_runs_at_source(url)
    run_job(job["env"], job["system_db"])
    return {
        "latest_runs_after_clean": latest_runs_after_clean,
        "version": version,
        "url": url,
        "env": job["env"],
        "warehouse": warehouse,
        "manifest": manifest,
        "run_results": run_results,
        "at_source": at_source,
        "in_marts": in_marts,
        "after_clean": mart_figures(warehouse, version),
        "expected_after_clean": expected_after_clean,
        "deleted_at_source": deleted,
        "flagged": flagged_rows(warehouse),
        "tables_at_source": source_tables(url),
    }


FIGURE_NAMES = [
    *FIGURES,
    "failed_attempts_per_dag_0",
    "failed_attempts_per_dag_1",
    "events_per_category",
    "sla_misses",
]


@pytest.mark.parametrize("figure", FIGURE_NAMES)
def test_mart_figure_equals_the_source(marts, figure):
    assert marts["in_marts"][figure] == marts["at_source"][figure]


@pytest.mark.parametrize("figure", FIGURE_NAMES)
def test_after_db_clean_the_marts_still_report_the_full_history(marts, figure):
    assert marts["after_clean"][figure] == marts["expected_after_clean"][figure]


# Figures a version may hold no rows for: the table they read does not exist there.
MAY_BE_EMPTY = {
    "notes_on_runs": "dag_run_note",
    "sla_misses": "sla_miss",
    "runs_per_dag_version": "dag_version",
}


def test_the_figures_are_not_trivial(marts):
    """Proof the comparisons above could fail: the fixture holds every kind of row they compare.
    Every figure has rows at the source (empty equals empty would pass), unless the version lacks
    the table it reads; a few have stronger bounds."""
    source = marts["at_source"]
    empty = sorted(
        name
        for name, value in source.items()
        if not value
        and not (name in MAY_BE_EMPTY and MAY_BE_EMPTY[name] not in marts["tables_at_source"])
        # a column of 3.3+: test_retry_reasons_equal_the_source_masked bounds it by version
        and name != "retry_reasons"
    )
    assert empty == [], f"figures without rows at the source: {empty}"
    assert len({state for _, state, _ in source["dag_runs_by_state_per_dag"]}) >= 3
    assert sum(n for _, n in source["failed_attempts_per_dag_0"]) > 10
    # 2.4 audits neither REST API calls nor variable/connection edits: five categories there
    assert len(source["events_per_category"]) >= 5
    assert source["users_per_role"] and source["import_errors"]
    assert source["users_who_can_edit_connections"]
    assert bool(source["notes_on_runs"]) == ("dag_run_note" in marts["tables_at_source"])
    assert (source["sla_misses"] > 0) == ("sla_miss" in marts["tables_at_source"])


def approx_rows(rows: list[tuple]) -> list[tuple]:
    return [(dag_id, pytest.approx(float(value), abs=0.01)) for dag_id, value in rows]


def test_average_successful_run_duration_per_dag_equals_the_source(marts):
    expected = marts["at_source"]["average_success_duration"]
    assert marts["in_marts"]["average_success_duration"] == approx_rows(expected)
    assert marts["after_clean"]["average_success_duration"] == approx_rows(expected)
    assert len(expected) >= 5


def test_the_latest_run_of_each_dag_equals_the_source(marts):
    expected = marts["at_source"]["latest_runs"]
    assert marts["in_marts"]["latest_runs"] == expected
    assert marts["after_clean"]["latest_runs"] == marts["latest_runs_after_clean"]
    # DAGs with several runs, so that which one is the latest decides the figure
    assert len(expected) >= 5
    (several,) = source_query(
        marts["url"],
        "select count(*) from (select dag_id from dag_run group by 1 having count(*) > 1) m",
    )[0]
    assert several >= 5


def test_the_lateness_of_every_scheduled_run_equals_the_source(marts):
    expected = [
        (d, r, pytest.approx(float(v), abs=0.002)) for d, r, v in marts["at_source"]["lateness"]
    ]
    assert len(expected) >= 20
    assert marts["in_marts"]["lateness"] == expected
    # archive mode: the runs `airflow db clean` removed keep their lateness
    assert marts["after_clean"]["lateness"] == expected


def approx_anomalies(rows: list[tuple]) -> list[tuple]:
    """Medians to 2 ms (the marts keep durations to the millisecond)."""
    return [
        (d, r, n, None if m is None else pytest.approx(m, abs=0.002), a) for d, r, n, m, a in rows
    ]


def approx_asset_events(rows: list[tuple]) -> list[tuple]:
    """Latencies to 2 ms (the marts keep them to the millisecond)."""
    return [(e, n, None if v is None else pytest.approx(v, abs=0.002)) for e, n, v in rows]


def test_duration_anomalies_equal_the_rule_computed_on_the_source(marts):
    expected = approx_anomalies(marts["at_source"]["anomalies"])
    assert marts["in_marts"]["anomalies"] == expected
    assert marts["after_clean"]["anomalies"] == expected  # archive mode keeps the history
    judged = [row for row in expected if row[2] >= 10]
    assert len(judged) >= 20, "runs with enough history to be judged"
    assert {row[4] for row in judged} == {True, False}, "anomalies and runs within their range"


def test_retry_reasons_equal_the_source_masked(marts):
    """Each retried try's retry-policy reason (Airflow 3.3+) reaches fct_task_attempts, masked, and
    stays there after `airflow db clean`; the fixtures' 3.3 data holds several, one quoting a key."""
    at_source = marts["at_source"]["retry_reasons"]
    assert marts["in_marts"]["retry_reasons"] == at_source
    assert marts["after_clean"]["retry_reasons"] == at_source
    if marts["version"] == "3.3.2":
        assert len(at_source) >= 3
        assert sum("api_key=***" in row[-1] for row in at_source) == 1
    else:
        assert at_source == []


def test_task_attempt_anomalies_equal_the_rule_computed_on_the_source(marts):
    if marts["version"] not in ATTEMPT_ANOMALY_VERSIONS:
        pytest.skip("tries before 2.10 are partly in task_fail, without a try number")
    expected = approx_attempt_anomalies(marts["at_source"]["attempt_anomalies"])
    assert marts["in_marts"]["attempt_anomalies"] == expected
    assert marts["after_clean"]["attempt_anomalies"] == expected  # archive mode keeps the history
    judged = [row for row in marts["at_source"]["attempt_anomalies"] if row[5] >= 10]
    assert len(judged) >= 50, "attempts with enough history to be judged"
    assert {row[7] for row in judged} == {True, False}, "anomalies and attempts within their range"


def approx_trends(rows: list[tuple]) -> list[tuple]:
    """p50s to 2 ms (the marts keep durations to the millisecond), growth to 0.1%."""
    return [
        (
            d,
            n,
            m,
            pytest.approx(r, abs=0.002),
            p if p is None else pytest.approx(p, abs=0.002),
            g if g is None else pytest.approx(g, abs=0.001),
            slower,
        )
        for d, n, m, r, p, g, slower in rows
    ]


def approx_attempt_anomalies(rows: list[tuple]) -> list[tuple]:
    """Medians to 2 ms."""
    return [
        (*row[:6], None if row[6] is None else pytest.approx(row[6], abs=0.002), row[7])
        for row in rows
    ]


def test_duration_trends_equal_the_rule_computed_on_the_source(marts):
    expected = approx_trends(marts["at_source"]["trends"])
    assert marts["in_marts"]["trends"] == expected
    assert marts["after_clean"]["trends"] == expected  # archive mode keeps the history
    compared = [row for row in marts["at_source"]["trends"] if row[5] is not None]
    assert len(compared) >= 3, "DAGs with runs in both windows"
    # one duration_trend alert a DAG that got slower
    slower = [d for d, *_, is_slower in marts["at_source"]["trends"] if is_slower]
    assert marts["in_marts"]["trend_alerts"] == slower


def test_asset_events_and_their_consumers_equal_the_source(marts):
    expected = approx_asset_events(marts["at_source"]["asset_events"])
    assert marts["in_marts"]["asset_events"] == expected
    assert marts["after_clean"]["asset_events"] == expected
    assert any(n > 0 for _, n, _ in expected), "events that queued runs"


def test_pool_usage_equals_the_tries_at_the_source(marts):
    """Slot-seconds per pool and the most slots held at once equal the source's tries by the
    documented rule."""
    expected = [
        (pool, pytest.approx(used, abs=0.2), peak)
        for pool, used, peak in marts["at_source"]["pool_usage"]
    ]
    assert marts["in_marts"]["pool_usage"] == expected
    assert len(expected) >= 3 and any(peak > 1 for _, _, peak in expected)


def test_rows_deleted_at_the_source_are_flagged_not_lost(marts):
    assert marts["flagged"] == marts["deleted_at_source"]
    assert marts["deleted_at_source"]["fct_dag_runs"] > 0
    assert marts["deleted_at_source"]["fct_audit_events"] > 0


def test_rows_still_at_the_source_are_not_flagged(marts):
    current = source_query(marts["url"], "select count(*) from dag_run")[0][0]
    got = marts_query(
        marts["warehouse"],
        "select count(*) from {marts}.fct_dag_runs where not is_deleted_at_source",
    )[0][0]
    assert got == current


def test_ids_that_differ_only_where_a_dash_falls_keep_their_own_keys(marts):
    """The generator's twin DAGs (tests/fixtures/airflow_history/dag_specs.py, FIXED_DAGS): DAG '<d>'
    with the task 'refresh-dashboard' and DAG '<d>-refresh' with the task 'dashboard' run at the same
    times, so their ids joined by '-' are the same text. Each task instance is its own row of
    fct_task_instances, with its own key, and each task its own row of rpt_task_reliability."""
    url, warehouse = marts["url"], marts["warehouse"]
    twins = "('refresh-dashboard', 'dashboard')"
    at_source = source_query(
        url,
        f"select dag_id, task_id, count(*) from task_instance where task_id in {twins} "
        "group by 1, 2 order by 1, 2",
    )
    shared_runs = source_query(
        url,
        "select count(*) from task_instance a join task_instance b on a.run_id = b.run_id "
        "and a.map_index = b.map_index and a.dag_id || '-' || a.task_id = b.dag_id || '-' || b.task_id "
        "and a.dag_id <> b.dag_id",
    )[0][0]
    assert len(at_source) == 2 and shared_runs > 0, (at_source, shared_runs)
    in_marts = marts_query(
        warehouse,
        f"select dag_id, task_id, count(*), count(distinct task_instance_key) "
        f"from {{marts}}.fct_task_instances where task_id in {twins} and not is_deleted_at_source "
        "group by 1, 2 order by 1, 2",
    )
    assert [(d, t, n) for d, t, n, _ in in_marts] == [tuple(r) for r in at_source]
    assert all(n == keys for _, _, n, keys in in_marts)
    keys = marts_query(
        warehouse,
        f"select count(distinct task_instance_key), count(*) from {{marts}}.fct_task_instances "
        f"where task_id in {twins}",
    )[0]
    assert keys[0] == keys[1]
    reliability = marts_query(
        warehouse,
        f"select dag_id, task_id, count(distinct dag_task_key) from {{marts}}.rpt_task_reliability "
        f"where task_id in {twins} group by 1, 2 order by 1, 2",
    )
    assert [(d, t) for d, t, _ in reliability] == [(d, t) for d, t, _ in at_source]


STAGED_TIMES = "select dag_id, task_id, run_id, map_index, {} from {}"
TIME_COLUMNS = {"queued_dttm": "queued_at", "start_date": "started_at", "end_date": "ended_at"}


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/New_York"])
def test_staged_timestamps_are_utc_whatever_the_session_time_zone(marts, zone):
    """Airflow writes `timestamp with time zone`; the staging views give it as a plain timestamp in
    UTC (macros/airflow_audit_utc_timestamp.sql). A DuckDB view is computed by the session that reads
    it, whose TimeZone a user's machine sets: read in a zone half an hour off the hour and in one with
    daylight saving, every task instance still at the source has the UTC times PostgreSQL gives."""
    url, warehouse = marts["url"], marts["warehouse"]
    at_source = source_query(
        url,
        STAGED_TIMES.format(
            ", ".join(f"{c} at time zone 'UTC'" for c in TIME_COLUMNS), "task_instance"
        ),
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute(f"set TimeZone = '{zone}'")
        staged = con.execute(
            STAGED_TIMES.format(
                ", ".join(TIME_COLUMNS.values()),
                f'"{MARTS.replace("_marts", "_staging")}".stg_airflow__task_instances '
                "where not is_deleted_at_source",
            )
        ).fetchall()
    assert len(at_source) > 1000 and sum(r[5] is not None for r in at_source) > 1000
    # a natural key is unique at the source: sets lose no row
    assert len(staged) == len(at_source) and set(staged) == set(at_source)


def test_infinite_timestamps_stay_infinite_in_staging(marts, tmp_path):
    """PostgreSQL's timestamptz holds `infinity`, which has no epoch: the fast conversion of
    airflow_audit_utc_timestamp leaves it to DuckDB's `timezone('UTC', ...)`. On a copy of the
    warehouse, a raw task instance with infinite start and end dates reads as infinite, and the
    finite dates of the same row as their UTC times."""
    copy = tmp_path / marts["warehouse"].name
    copy.write_bytes(marts["warehouse"].read_bytes())
    raw, staging = f'"{RAW}"', f'"{MARTS.replace("_marts", "_staging")}"'
    with duckdb.connect(str(copy)) as con:
        con.execute("set TimeZone = 'Asia/Kolkata'")
        con.execute(
            f"insert into {raw}.task_instance (dag_id, task_id, run_id, map_index, start_date, "
            "end_date, queued_dttm) values ('infinite_dag', 't', 'r', -1, 'infinity', '-infinity', "
            "'2024-03-10 07:30:00.123456+00')"
        )
        row = con.execute(
            "select cast(started_at as varchar), cast(ended_at as varchar), queued_at "
            f"from {staging}.stg_airflow__task_instances where dag_id = 'infinite_dag'"
        ).fetchall()
    assert row == [("infinity", "-infinity", dt.datetime(2024, 3, 10, 7, 30, 0, 123456))]


def test_durations_no_span_can_have_are_null_in_staging(marts, tmp_path):
    """Airflow's `duration` is a float, which holds what no span between two timestamps can be (under
    3.2e11 s): NaN, infinity, 1e13. On a copy of the warehouse, raw task instances with such durations
    read as null in staging instead of failing the cast to decimal(18,6) (and with it every mart), while
    the finite durations of the same insert, to the microsecond and as long as a span can be, read as
    written."""
    copy = tmp_path / marts["warehouse"].name
    copy.write_bytes(marts["warehouse"].read_bytes())
    raw, staging = f'"{RAW}"', f'"{MARTS.replace("_marts", "_staging")}"'
    durations = {
        "nan": None,
        "inf": None,
        "-inf": None,
        "1e13": None,
        "1e12": None,
        # the longest span two timestamps can have is about 3.2e11 s
        "310000000000": Decimal("310000000000"),
        "86400000.125": Decimal("86400000.125"),
        "12.345678": Decimal("12.345678"),
        "-0.5": Decimal("-0.5"),
    }
    with duckdb.connect(str(copy)) as con:
        for index, value in enumerate(durations):
            con.execute(
                f"insert into {raw}.task_instance (dag_id, task_id, run_id, map_index, duration) "
                f"values ('odd_durations', 't', 'r', {index}, cast('{value}' as double))"
            )
        staged = con.execute(
            f"select map_index, duration_s from {staging}.stg_airflow__task_instances "
            "where dag_id = 'odd_durations' order by map_index"
        ).fetchall()
    assert staged == [(index, expected) for index, expected in enumerate(durations.values())]


def test_percentiles_computed_in_buckets_under_a_memory_limit_equal_the_mart(marts, tmp_path):
    """Under AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT, rpt_task_reliability computes its tasks' exact
    percentiles in buckets of tasks, one after the other (airflow_audit_percentile_buckets: DuckDB holds
    a group's values outside its limit). Compiled with buckets of 200 attempts, the model's SQL has
    several, each read by its own CTEs, and gives the rows the job built in one."""
    if marts["version"] not in ("2.4.3", "3.3.2"):
        pytest.skip("the oldest and newest schemas")
    done = meltano(
        "invoke",
        "dbt-duckdb",
        "compile",
        "--select",
        "rpt_task_reliability",
        "--vars",
        "{airflow_audit_percentile_bucket_rows: 200}",
        env={
            **marts["env"],
            **dbt_paths(tmp_path),
            "AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT": "1GB",
        },
    )
    assert done.returncode == 0, done.stderr[-3000:]
    sql = next(tmp_path.glob("target/compiled/**/rpt_task_reliability.sql")).read_text()
    (attempts,) = marts_query(marts["warehouse"], "select count(*) from {marts}.fct_task_attempts")[
        0
    ]
    assert sql.count("union all") == -(-attempts // 200) - 1 >= 2
    assert "figures_0 as (" in sql
    with duckdb.connect(str(marts["warehouse"]), read_only=True) as con:
        mart = f'"{MARTS}"."rpt_task_reliability"'
        rows = con.execute(f"select count(*) from ({sql})").fetchone()[0]
        # the rows' figures: the compiled SQL's airflow_audit_built_at is the compile's time
        row = "select * exclude (airflow_audit_built_at) from"
        missing = con.execute(
            f"select count(*) from ({row} ({sql}) except all {row} {mart})"
        ).fetchone()[0]
        extra = con.execute(
            f"select count(*) from ({row} {mart} except all {row} ({sql}))"
        ).fetchone()[0]
        built = con.execute(f"select count(*) from {mart}").fetchone()[0]
    assert (rows, missing, extra) == (built, 0, 0)
    assert rows > 0


def test_under_a_memory_limit_a_whole_build_of_the_attempts_spills_from_the_start(marts, tmp_path):
    """Under AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT, a whole build of fct_task_attempts runs with DuckDB's
    debug_force_external set and unsets it after (airflow_audit_out_of_core): at 10M task instances its
    windows kept about all its rows in memory and ran out of 3GB, where 384MB passed. Rebuilt so on a
    copy of the job's warehouse, the mart holds the rows the job built."""
    if marts["version"] != "3.3.2":
        pytest.skip("the newest schema")
    # the same file name: DuckDB names the catalog after it, and the staging views name their catalog
    warehouse = tmp_path / "copy" / Path(marts["warehouse"]).name
    warehouse.parent.mkdir()
    warehouse.write_bytes(Path(marts["warehouse"]).read_bytes())
    done = meltano(
        "invoke",
        "dbt-duckdb",
        "run",
        "--full-refresh",
        "--select",
        "fct_task_attempts",
        env={
            **marts["env"],
            **dbt_paths(tmp_path),
            "AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse),
            "AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT": "1GB",
        },
    )
    assert done.returncode == 0, done.stderr[-3000:]
    log = (tmp_path / "logs" / "dbt.log").read_text()
    on = log.index("set debug_force_external = true")
    off = log.index("set debug_force_external = false", on)
    assert re.search(r"create\s+table\s+\S*fct_task_attempts", log[on:off])
    row = "select * exclude (airflow_audit_built_at) from"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute(f"attach '{marts['warehouse']}' as job (read_only)")
        mart = f'"{MARTS}"."fct_task_attempts"'
        figures = con.execute(
            f"""select
                (select count(*) from {mart}),
                (select count(*) from ({row} {mart} except all {row} job.{mart})),
                (select count(*) from ({row} job.{mart} except all {row} {mart}))"""
        ).fetchone()
    assert figures[1:] == (0, 0)
    assert figures[0] > 0


def test_a_revoked_role_is_kept_and_flagged_in_the_privileges(marts):
    revoked = marts_query(
        marts["warehouse"],
        "select count(*) from {marts}.fct_user_role_grants where is_deleted_at_source",
    )[0][0]
    assert revoked == 1
    roles_now = dict(
        source_query(
            marts["url"],
            "select u.id, count(*) from ab_user u join ab_user_role ur on ur.user_id = u.id group by 1",
        )
    )
    in_dim = dict(
        marts_query(marts["warehouse"], "select user_id, role_count from {marts}.dim_users")
    )
    assert {user: n for user, n in in_dim.items() if n} == roles_now


def test_attempts_are_numbered_from_one_without_gaps(marts):
    bad = marts_query(
        marts["warehouse"],
        "select task_instance_key from {marts}.fct_task_attempts group by 1 "
        "having min(attempt_number) <> 1 or max(attempt_number) <> count(*) "
        "or sum(case when is_last_attempt then 1 else 0 end) <> 1",
    )
    assert bad == []
    # every try Airflow kept is an attempt. With task_instance_history (2.10+) every try is kept, so
    # attempt_number is the try number; before it, a try that ended other than failed (then cleared)
    # leaves no trace, so an attempt can only be numbered below its try.
    mismatched = marts_query(
        marts["warehouse"],
        "select count(*) filter (where attempt_number <> try_number), "
        "count(*) filter (where attempt_number > try_number) from {marts}.fct_task_attempts",
    )[0]
    if "task_instance_history" in marts["tables_at_source"]:
        assert mismatched == (0, 0)
    else:
        assert mismatched[1] == 0


def test_dbt_artifacts_after_the_job_are_its_builds(marts):
    """target/run_results.json after the job is its build's: every model built and every data test
    passed, not the results of the state query or of the record that follow the build."""
    results = marts["run_results"]
    assert results["args"]["which"] == "build"
    ran = {r["unique_id"]: r["status"] for r in results["results"]}
    models = {uid for uid, n in marts["manifest"]["nodes"].items() if n["resource_type"] == "model"}
    tests = {uid for uid, n in marts["manifest"]["nodes"].items() if n["resource_type"] == "test"}
    assert models and tests
    assert {uid: ran.get(uid) for uid in models} == dict.fromkeys(models, "success")
    assert {uid: ran.get(uid) for uid in tests} == dict.fromkeys(tests, "pass")


def test_every_model_column_is_documented_and_every_documented_column_exists(marts):
    problems = []
    with duckdb.connect(str(marts["warehouse"]), read_only=True) as con:
        for node in marts["manifest"]["nodes"].values():
            if node["resource_type"] != "model":
                continue
            actual = {
                name
                for (name,) in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = ? and table_name = ?",
                    [node["schema"], node["alias"]],
                ).fetchall()
            }
            documented = set(node["columns"])
            if actual - documented:
                problems.append(f"{node['name']}: undocumented {sorted(actual - documented)}")
            if documented - actual:
                problems.append(
                    f"{node['name']}: documented but absent {sorted(documented - actual)}"
                )
    assert problems == []


# The newest schema lints every model; the oldest, the models whose SQL the Airflow version changes: those
# reading its tables (the staging models' column bridges differ most between the two). Every other model
# compiled to the same SQL in both versions' first builds, which the test checks before leaving it out.
NEWEST = "3.3.2"


@pytest.mark.parametrize("version", ["2.4.3", NEWEST])
def test_every_model_passes_sqlfluff_on_the_sql_dbt_compiles(version, airflow_db, tmp_path_factory):
    """The house style (.sqlfluff) on the SQL dbt compiles for this warehouse: the dbt templater,
    dbt-duckdb's profile, the job's DuckDB (the staging models read its columns when compiling)."""
    job = full_job(version, airflow_db, tmp_path_factory)
    linted_paths = ["transform/models"]
    if version != NEWEST:
        compiled, newest = (
            {
                node["original_file_path"]: (node["compiled_code"], node["depends_on"]["nodes"])
                for node in entry["manifest"]["nodes"].values()
                if node["resource_type"] == "model"
            }
            for entry in (job, full_job(NEWEST, airflow_db, tmp_path_factory))
        )
        reading_airflow = {
            path
            for path, (_, parents) in compiled.items()
            if any(parent.startswith("source.") for parent in parents)
        }
        # the build's time in the incremental marts (airflow_audit_built_at) is the builds' own
        built_at = re.compile(r"cast\('[0-9: .-]+' as timestamp\) as airflow_audit_built_at")
        same = {
            path: built_at.sub("<built_at>", code)
            for path, (code, _) in compiled.items()
            if path not in reading_airflow
        }
        assert same == {path: built_at.sub("<built_at>", newest[path][0]) for path in same}
        assert sum("<built_at>" in code for code in same.values()) >= 5
        assert "models/staging/airflow/stg_airflow__task_instances.sql" in reading_airflow
        assert len(same) > 20 and all(same.values()), sorted(same)
        linted_paths = [f"transform/{path}" for path in sorted(reading_airflow)]
    target = tmp_path_factory.mktemp("sqlfluff-target")
    linted = subprocess.run(
        [str(SQLFLUFF), "lint", "--processes", "2", *linted_paths],
        cwd=ROOT,
        env={
            **os.environ,
            **job["env"],
            "DBT_TARGET_PATH": str(target),
            "DBT_LOG_PATH": str(target / "logs"),
        },
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert "[dbt templater] Project Compiled" in linted.stdout + linted.stderr, linted.stderr[
        -3000:
    ]
    assert linted.returncode == 0, linted.stdout[-6000:] + linted.stderr[-2000:]
    assert "FAIL" not in linted.stdout


# ---------------------------------------------------------------------------------------------------------
# An empty Airflow database, default table set
# ---------------------------------------------------------------------------------------------------------


# The two current schemas, and the oldest one (the most tables and columns missing). 2.7.3 and 2.9.3
# are built with every table by the `marts` fixture above; their default-set columns lie between 2.4's
# and 2.10's, which the staging models bridge the same way.
@pytest.mark.parametrize("version", ["2.4.3", "2.10.5", "3.3.2"])
def test_an_empty_airflow_database_builds_green_with_empty_marts(
    airflow_db, tmp_path, system_db, version
):
    url = airflow_db(version, f"marts_empty_{version.replace('.', '_')}", filled=False)
    warehouse = tmp_path / "airflow_audit.duckdb"
    log = run_job(
        {
            "AIRFLOW_AUDIT_SOURCE_URL": url,
            "AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse),
            **dbt_paths(tmp_path),
        },
        system_db,
    )
    # the default set leaves out log, the notes, the history ...: their models are built empty
    assert "stg_airflow__logs will be built empty" in log
    counts = {
        model: marts_query(warehouse, f"select count(*) from {{marts}}.{model}")[0][0]
        for model in MART_MODELS
    }
    assert counts == dict.fromkeys(MART_MODELS, 0)


def test_event_category_table_rejects_unknown_events():
    """The source-side mapping cannot silently swallow an event it does not know."""
    check: Callable[[str, int | None], str] = event_category
    with pytest.raises(AssertionError, match="add it"):
        check("some_new_event", None)
    assert check("success", 0) == "task_lifecycle"
    assert check("success", None) == "mark_state"


@pytest.mark.parametrize("memory_limit", ["", "384MB"], ids=["unlimited", "memory-limit"])
def test_every_dbt_unit_test_passes(airflow_db, tmp_path_factory, tmp_path, memory_limit):
    """The job runs no unit tests (they check the SQL on fixed rows, for development and CI): here
    every one runs, on the warehouse of the newest release's full job (the staging models' typed
    columns are the same for every release), and again under a DuckDB memory limit, where a model's
    SQL depends on the size of what it reads (rpt_task_reliability's buckets; a unit test's inputs
    are fixtures)."""
    from tests.support import meltano
    from tests.transform.test_unit_test_keys import unit_tests

    job = full_job("3.3.2", airflow_db, tmp_path_factory)
    done = meltano(
        "invoke",
        "dbt-duckdb",
        "test",
        "--select",
        "test_type:unit",
        env={
            **job["env"],
            **dbt_paths(tmp_path),
            "MELTANO_DATABASE_URI": job["system_db"],
            "AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT": memory_limit,
        },
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    output = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
    passed = set(re.findall(r" PASS \w+::(\w+) ", output))
    assert passed == {name for name, _ in unit_tests()}, output[-3000:]
    assert "WARN=0 ERROR=0" in output
