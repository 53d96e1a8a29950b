-- Fleet health: runs per day by state, success rate, p50/p95 duration and queue delay.
-- name: fleet_days
select
    run_date, run_count, success_run_count, failed_run_count, running_run_count,
    queued_run_count, success_rate, p50_duration_s, p95_duration_s, p50_queue_delay_s,
    p95_queue_delay_s
from {{ ref('rpt_fleet_daily_health') }}
order by run_date

-- name: dag_days
select
    dag_id, run_date, run_count, success_run_count, failed_run_count, running_run_count,
    queued_run_count, success_rate, p50_duration_s, p95_duration_s, failed_task_attempt_count,
    retry_attempt_count
from {{ ref('rpt_dag_daily_health') }}
order by run_date, dag_id
