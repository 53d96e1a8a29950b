-- Audit trail: the latest events of Airflow's action log, by category.
-- name: events
select
    event_at, event_category, event, actor, dag_id, task_id, run_id, is_deleted_at_source
from {{ ref('fct_audit_events') }}
order by event_at desc
limit 5000
