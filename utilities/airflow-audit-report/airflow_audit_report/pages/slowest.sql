-- Slowest: DAGs and tasks by the durations of their successful runs and attempts, and whether
-- they grew (the last AIRFLOW_AUDIT_TREND_WINDOW_DAYS days of their own history, 30 by default,
-- against as many days before).
-- name: dag_durations
select
    dag_id, success_run_count, p50_duration_s, p95_duration_s, max_duration_s,
    trend_window_days, recent_p50_duration_s, previous_p50_duration_s, duration_growth, is_slower
from {{ ref('rpt_dag_durations') }}

-- name: task_durations
select
    dag_id, task_id, attempt_count, p50_duration_s, p95_duration_s, recent_p50_duration_s,
    previous_p50_duration_s, duration_growth
from {{ ref('rpt_task_reliability') }}
where p50_duration_s is not null
