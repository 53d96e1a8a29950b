-- Failures: the DAG x day heatmap (rpt_dag_daily_health, read by fleet.sql as dag_days), the tasks
-- that fail and retry most, and the latest failed attempts with their DAG run.
-- name: tasks
select
    dag_id, task_id, attempt_count, failed_attempt_count, retry_attempt_count,
    final_failure_count, latest_failure_at
from {{ ref('rpt_task_reliability') }}
where failed_attempt_count > 0 or retry_attempt_count > 0

-- name: latest_failures
select
    f.failed_at, f.dag_id, f.task_id, f.run_id, f.map_index, f.attempt_number,
    f.is_final_failure, f.operator, f.hostname, r.state as run_state
from {{ ref('fct_task_failures') }} as f
left join {{ ref('fct_dag_runs') }} as r on f.dag_run_key = r.dag_run_key
order by f.failed_at desc
limit 500
