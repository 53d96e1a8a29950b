{#- Everything someone should look at, from the marts, one row per alert with a key that stays the same
    while the alert does (snap_alerts records when each was first seen; rpt_alerts is what people read).
    "Recent" is the var airflow_audit_alert_lookback_hours before the latest sync (int_latest_sync), so a
    backup or a stalled Airflow alerts on its own recent past. Kinds and severities:
      failure_streak     warning (critical at twice the streak): a DAG's latest finished runs failed, at
                         least var airflow_audit_alert_failure_streak of them, the latest one recently
      duration_anomaly   warning: a recent run slower than its DAG's history allows
                         (fct_dag_run_duration_anomalies)
      late_run           warning: a recent scheduled run that started more than var
                         airflow_audit_alert_late_after_s after it was due (fct_dag_run_lateness)
      stuck_work         warning: work running or queued longer than its history allows (rpt_stuck_work)
      import_error       warning: a DAG file that recently failed to import and still does
      scheduler_down     critical: a running scheduler, triggerer or DAG processor whose heartbeat is late
      access_change      critical for a grant of Admin or of a privilege, info otherwise
      connection_change, variable_change   info -#}

{%- set lookback_hours = var('airflow_audit_alert_lookback_hours') | int -%}
{%- set streak = var('airflow_audit_alert_failure_streak') | int -%}
{%- set late_after_s = var('airflow_audit_alert_late_after_s') | int -%}
{%- set recent_since = dbt.dateadd('hour', -lookback_hours, 'latest_sync.synced_at') -%}

with

latest_sync as (

    select synced_at from {{ ref('int_latest_sync') }}

),

runs as (

    select * from {{ ref('fct_dag_runs') }}
    where state in ('success', 'failed') and started_at is not null and not is_deleted_at_source

),

last_success as (

    select
        dag_id,
        max(started_at) as last_success_started_at

    from runs
    where state = 'success'
    group by dag_id

),

streaks as (

    select
        runs.dag_id,
        count(*) as failed_runs,
        min(runs.started_at) as streak_started_at,
        max(coalesce(runs.ended_at, runs.started_at)) as latest_failure_at,
        min(runs.run_id) as first_run_id

    from runs
    left join last_success on runs.dag_id = last_success.dag_id
    where
        runs.state = 'failed'
        and (last_success.last_success_started_at is null or runs.started_at > last_success.last_success_started_at)
    group by runs.dag_id

),

failure_streaks as (

    select
        {{ airflow_audit_surrogate_key(["'failure_streak'", 'streaks.dag_id', 'streaks.first_run_id']) }} as alert_key,
        'failure_streak' as alert_kind,
        case when streaks.failed_runs >= {{ 2 * streak }} then 'critical' else 'warning' end as severity,
        streaks.latest_failure_at as raised_at,
        streaks.dag_id,
        streaks.dag_id as subject,
        {{ dbt.concat([
            "'DAG '", 'streaks.dag_id', "' failed its last '",
            dbt.safe_cast('streaks.failed_runs', dbt.type_string()), "' runs'",
        ]) }} as message

    from streaks
    cross join latest_sync
    where streaks.failed_runs >= {{ streak }} and streaks.latest_failure_at > {{ recent_since }}

),

anomalies as (

    select
        {{ airflow_audit_surrogate_key(["'duration_anomaly'", 'anomalies.dag_run_key']) }} as alert_key,
        'duration_anomaly' as alert_kind,
        'warning' as severity,
        anomalies.started_at as raised_at,
        anomalies.dag_id,
        anomalies.run_id as subject,
        {{ dbt.concat([
            "'Run '", 'anomalies.run_id', "' of DAG '", 'anomalies.dag_id', "' took '",
            airflow_audit_duration_text('anomalies.duration_s'),
            "'; its previous successful runs took '",
            airflow_audit_duration_text('anomalies.history_median_s'), "' (median)'",
        ]) }} as message

    from {{ ref('fct_dag_run_duration_anomalies') }} as anomalies
    cross join latest_sync
    where anomalies.is_anomaly and anomalies.direction = 'slower' and anomalies.started_at > {{ recent_since }}

),

late_runs as (

    select
        {{ airflow_audit_surrogate_key(["'late_run'", 'lateness.dag_run_key']) }} as alert_key,
        'late_run' as alert_kind,
        'warning' as severity,
        lateness.due_at as raised_at,
        lateness.dag_id,
        lateness.run_id as subject,
        {{ dbt.concat([
            "'Run '", 'lateness.run_id', "' of DAG '", 'lateness.dag_id', "' started '",
            airflow_audit_duration_text('lateness.lateness_s'), "' after it was due'",
        ]) }} as message

    from {{ ref('fct_dag_run_lateness') }} as lateness
    cross join latest_sync
    where
        not lateness.is_deleted_at_source
        and lateness.lateness_s > {{ late_after_s }}
        and lateness.due_at > {{ recent_since }}

),

stuck as (

    select
        {{ airflow_audit_surrogate_key(["'stuck_work'", 'stuck_key']) }} as alert_key,
        'stuck_work' as alert_kind,
        'warning' as severity,
        since_at as raised_at,
        dag_id,
        coalesce(task_id, run_id) as subject,
        {{ dbt.concat([
            "'Stuck: '", 'kind', "' '", 'dag_id', "' '", "coalesce(task_id, run_id)", "' has been '", 'state',
            "' for '", airflow_audit_duration_text('age_s'), "' (its history allows '",
            airflow_audit_duration_text('allowed_s'), "')'",
        ]) }} as message

    from {{ ref('rpt_stuck_work') }}

),

import_errors as (

    select
        {{ airflow_audit_surrogate_key(["'import_error'", 'errors.import_error_id']) }} as alert_key,
        'import_error' as alert_kind,
        'warning' as severity,
        errors.recorded_at as raised_at,
        cast(null as {{ dbt.type_string() }}) as dag_id,
        errors.file_path as subject,
        {{ dbt.concat(["'DAG file '", 'errors.file_path', "' does not import'"]) }} as message

    from {{ ref('fct_import_errors') }} as errors
    cross join latest_sync
    where not errors.is_resolved and not errors.is_deleted_at_source and errors.recorded_at > {{ recent_since }}

),

schedulers as (

    select
        {{ airflow_audit_surrogate_key(["'scheduler_down'", 'job_id']) }} as alert_key,
        'scheduler_down' as alert_kind,
        'critical' as severity,
        latest_heartbeat_at as raised_at,
        cast(null as {{ dbt.type_string() }}) as dag_id,
        {{ dbt.concat(['job_type', "' on '", "coalesce(hostname, '?')"]) }} as subject,
        {{ dbt.concat([
            'job_type', "' on '", "coalesce(hostname, '?')", "' last sent a heartbeat '",
            airflow_audit_duration_text('heartbeat_age_s'), "' before the sync'",
        ]) }} as message

    from {{ ref('fct_scheduler_jobs') }}
    where
        state = 'running'
        and is_heartbeat_late
        and not is_deleted_at_source
        and job_type in ('SchedulerJob', 'TriggererJob', 'DagProcessorJob')

),

access as (

    select
        {{ airflow_audit_surrogate_key(["'access_change'", 'changes.access_change_key']) }} as alert_key,
        'access_change' as alert_kind,
        case
            when changes.change_type = 'granted' and (changes.is_admin_role or changes.is_privileged)
                then 'critical'
            else 'info'
        end as severity,
        changes.changed_at as raised_at,
        cast(null as {{ dbt.type_string() }}) as dag_id,
        changes.subject_name as subject,
        {{ dbt.concat([
            "case when changes.grant_kind = 'user_role' then 'User ' else 'Role ' end",
            'changes.subject_name', "' '", 'changes.change_type', "' '", 'changes.object_name',
            "coalesce(' by ' || changes.changed_by, '')",
        ]) }} as message

    from {{ ref('fct_access_changes') }} as changes
    cross join latest_sync
    where changes.changed_at > {{ recent_since }}

),

connections as (

    select
        {{ airflow_audit_surrogate_key(["'connection_change'", 'changes.connection_change_key']) }} as alert_key,
        'connection_change' as alert_kind,
        'info' as severity,
        changes.changed_at as raised_at,
        cast(null as {{ dbt.type_string() }}) as dag_id,
        changes.conn_id as subject,
        {{ dbt.concat([
            "'Connection '", 'changes.conn_id', "' '", 'changes.change_type',
            "case when changes.changed_fields <> '' then ' (' || changes.changed_fields || ')' else '' end",
            "coalesce(' by ' || changes.changed_by, '')",
        ]) }} as message

    from {{ ref('fct_connection_changes') }} as changes
    cross join latest_sync
    where changes.changed_at > {{ recent_since }}

),

variables as (

    select
        {{ airflow_audit_surrogate_key(["'variable_change'", 'changes.variable_change_key']) }} as alert_key,
        'variable_change' as alert_kind,
        'info' as severity,
        changes.changed_at as raised_at,
        cast(null as {{ dbt.type_string() }}) as dag_id,
        changes.variable_key as subject,
        {{ dbt.concat([
            "'Variable '", 'changes.variable_key', "' '", 'changes.change_type',
            "case when changes.changed_fields <> '' then ' (' || changes.changed_fields || ')' else '' end",
            "coalesce(' by ' || changes.changed_by, '')",
        ]) }} as message

    from {{ ref('fct_variable_changes') }} as changes
    cross join latest_sync
    where changes.changed_at > {{ recent_since }}

),

final as (

    select * from failure_streaks
    union all
    select * from anomalies
    union all
    select * from late_runs
    union all
    select * from stuck
    union all
    select * from import_errors
    union all
    select * from schedulers
    union all
    select * from access
    union all
    select * from connections
    union all
    select * from variables

)

select * from final
