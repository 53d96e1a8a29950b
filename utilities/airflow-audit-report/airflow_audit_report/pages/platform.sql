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
