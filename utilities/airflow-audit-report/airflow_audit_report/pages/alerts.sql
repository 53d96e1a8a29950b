-- Alerts and changes: what someone should look at, and the history Airflow never records.
-- name: alerts
select alert_kind, severity, severity_rank, raised_at, dag_id, subject, message, first_seen_at, is_new
from {{ ref('rpt_alerts') }}
order by severity_rank, raised_at desc

-- name: access_changes
select changed_at, grant_kind, change_type, subject_name, object_name, is_privileged, is_admin_role,
    changed_by
from {{ ref('fct_access_changes') }}
order by changed_at desc

-- name: connection_changes
select changed_at, conn_id, change_type, changed_fields, conn_type, host, changed_by
from {{ ref('fct_connection_changes') }}
order by changed_at desc

-- name: variable_changes
select changed_at, variable_key, change_type, changed_fields, changed_by
from {{ ref('fct_variable_changes') }}
order by changed_at desc

-- name: dag_changes
select valid_from as changed_at, dag_id, change_type, changed_fields, owners, schedule, is_paused
from {{ ref('dim_dags_history') }}
where change_type is not null
order by valid_from desc
