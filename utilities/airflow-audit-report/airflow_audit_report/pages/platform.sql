-- Platform: DAG files that failed to import, and the scheduler's, triggerer's and DAG processor's
-- heartbeats.
-- name: import_errors
select recorded_at, file_path, is_resolved, is_deleted_at_source
from {{ ref('fct_import_errors') }}
order by recorded_at desc

-- name: jobs
select
    job_type, state, hostname, started_at, ended_at, latest_heartbeat_at, heartbeat_age_s,
    is_heartbeat_late
from {{ ref('fct_scheduler_jobs') }}
where job_type in ('SchedulerJob', 'TriggererJob', 'DagProcessorJob')
order by latest_heartbeat_at desc

-- name: lateness
select
    dag_id, due_date, scheduled_run_count, p50_lateness_s, p95_lateness_s,
    p50_scheduler_delay_s, p95_scheduler_delay_s, p50_queue_delay_s, p95_queue_delay_s
from {{ ref('rpt_dag_daily_lateness') }}

-- name: stuck
select kind, dag_id, task_id, run_id, map_index, state, since_at, as_of, age_s, allowed_s
from {{ ref('rpt_stuck_work') }}

-- name: pool_days
select
    pool_name,
    cast(hour_start as date) as usage_date,
    max(slots) as slots,
    max(utilisation) as busiest_hour_utilisation,
    max(peak_slots_used) as peak_slots_used,
    sum(case when is_saturated then 1 else 0 end) as saturated_hours,
    sum(slot_seconds_used) as slot_seconds_used
from {{ ref('rpt_pool_hourly_usage') }}
group by pool_name, cast(hour_start as date)
