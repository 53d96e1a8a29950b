{#- Everything someone should look at, from the marts, one row per alert with a key that stays the same
    while the alert does (snap_alerts records when each was first seen; rpt_alerts is what people read,
    keeping the ongoing ones and the others raised within var airflow_audit_alert_lookback_hours before
    the latest sync). Kinds and severities:
      failure_streak     warning (critical at twice the streak): a DAG's latest finished runs failed, at
                         least var airflow_audit_alert_failure_streak of them, the latest one recently
      duration_anomaly   warning: a recent run slower than its DAG's history allows
                         (fct_dag_run_duration_anomalies)
      duration_trend     warning, one a day while it lasts: a DAG whose p50 duration grew over its last
                         var airflow_audit_trend_window_days days (rpt_dag_durations.is_slower)
      late_run           warning: a recent scheduled run that started more than var
                         airflow_audit_alert_late_after_s after it was due (fct_dag_run_lateness)
      stuck_work         warning: work running or queued longer than its history allows (rpt_stuck_work)
      import_error       warning: a DAG file that recently failed to import and still does
      dag_warning        warning, ongoing while Airflow still reports it: what the DAG processor warns about
                         a DAG (a pool it names that does not exist, ...; fct_dag_warnings)
      scheduler_down     critical: a running scheduler, triggerer or DAG processor whose heartbeat is late
      access_change      critical for a grant of Admin or of a privilege, info otherwise
      connection_change, variable_change   info -#}

{%- set streak = var('airflow_audit_alert_failure_streak') | int -%}
{%- set late_after_s = var('airflow_audit_alert_late_after_s') | int -%}

with

failure_streaks as (

    select
        {{ airflow_audit_surrogate_key(["'failure_streak'", 'dag_id', 'first_run_id']) }} as alert_key,
        'failure_streak' as alert_kind,
        case when failed_runs >= {{ 2 * streak }} then 'critical' else 'warning' end as severity,
        latest_failure_at as raised_at,
        false as is_ongoing,
        dag_id,
        dag_id as subject,
        {{ dbt.concat([
            "'DAG '", 'dag_id', "' failed its last '", dbt.safe_cast('failed_runs', dbt.type_string()), "' runs'",
        ]) }} as message

    from {{ ref('rpt_failure_streaks') }}
    where failed_runs >= {{ streak }}

),

anomalies as (

    select
        {{ airflow_audit_surrogate_key(["'duration_anomaly'", 'anomalies.dag_run_key']) }} as alert_key,
        'duration_anomaly' as alert_kind,
        'warning' as severity,
        anomalies.started_at as raised_at,
        false as is_ongoing,
        anomalies.dag_id,
        anomalies.run_id as subject,
        {{ dbt.concat([
            "'Run '", 'anomalies.run_id', "' of DAG '", 'anomalies.dag_id', "' took '",
            airflow_audit_duration_text('anomalies.duration_s'),
            "'; its previous successful runs took '",
            airflow_audit_duration_text('anomalies.history_median_s'), "' (median)'",
        ]) }} as message

    from {{ ref('fct_dag_run_duration_anomalies') }} as anomalies
    where anomalies.is_anomaly and anomalies.direction = 'slower'

),

trends as (

    select
        {{ airflow_audit_surrogate_key([
            "'duration_trend'", 'dag_id',
            dbt.safe_cast(dbt.date_trunc('day', 'latest_success_started_at'), dbt.type_string()),
        ]) }} as alert_key,
        'duration_trend' as alert_kind,
        'warning' as severity,
        latest_success_started_at as raised_at,
        false as is_ongoing,
        dag_id,
        dag_id as subject,
        {{ dbt.concat([
            "'DAG '", 'dag_id', "' got '",
            dbt.safe_cast('cast(round(100 * duration_growth, 0) as ' ~ dbt.type_bigint() ~ ')', dbt.type_string()),
            "'% slower over '", dbt.safe_cast('trend_window_days', dbt.type_string()),
            "' days: a median run takes '", airflow_audit_duration_text('recent_p50_duration_s'),
            "', it took '", airflow_audit_duration_text('previous_p50_duration_s'), "' before'",
        ]) }} as message

    from {{ ref('rpt_dag_durations') }}
    where is_slower

),

late_runs as (

    select
        {{ airflow_audit_surrogate_key(["'late_run'", 'lateness.dag_run_key']) }} as alert_key,
        'late_run' as alert_kind,
        'warning' as severity,
        lateness.due_at as raised_at,
        false as is_ongoing,
        lateness.dag_id,
        lateness.run_id as subject,
        {{ dbt.concat([
            "'Run '", 'lateness.run_id', "' of DAG '", 'lateness.dag_id', "' started '",
            airflow_audit_duration_text('lateness.lateness_s'), "' after it was due'",
        ]) }} as message

    from {{ ref('fct_dag_run_lateness') }} as lateness
    where
        not lateness.is_deleted_at_source
        and lateness.lateness_s > {{ late_after_s }}

),

stuck as (

    select
        {{ airflow_audit_surrogate_key(["'stuck_work'", 'stuck_key']) }} as alert_key,
        'stuck_work' as alert_kind,
        'warning' as severity,
        since_at as raised_at,
        true as is_ongoing,
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
        false as is_ongoing,
        cast(null as {{ dbt.type_string() }}) as dag_id,
        errors.file_path as subject,
        {{ dbt.concat(["'DAG file '", 'errors.file_path', "' does not import'"]) }} as message

    from {{ ref('fct_import_errors') }} as errors
    where not errors.is_resolved and not errors.is_deleted_at_source

),

dag_warnings as (

    select
        {{ airflow_audit_surrogate_key(["'dag_warning'", 'warnings.dag_warning_key']) }} as alert_key,
        'dag_warning' as alert_kind,
        'warning' as severity,
        warnings.raised_at,
        true as is_ongoing,
        warnings.dag_id,
        warnings.warning_type as subject,
        {{ dbt.concat(["'DAG '", 'warnings.dag_id', "': '", 'warnings.message']) }} as message

    from {{ ref('fct_dag_warnings') }} as warnings
    where not warnings.is_resolved

),

schedulers as (

    select
        {{ airflow_audit_surrogate_key(["'scheduler_down'", 'job_id']) }} as alert_key,
        'scheduler_down' as alert_kind,
        'critical' as severity,
        latest_heartbeat_at as raised_at,
        true as is_ongoing,
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
        false as is_ongoing,
        cast(null as {{ dbt.type_string() }}) as dag_id,
        changes.subject_name as subject,
        {{ dbt.concat([
            "case when changes.grant_kind = 'user_role' then 'User ' else 'Role ' end",
            'changes.subject_name', "' '", 'changes.change_type', "' '", 'changes.object_name',
            "coalesce(' by ' || changes.changed_by, '')",
        ]) }} as message

    from {{ ref('fct_access_changes') }} as changes

),

connections as (

    select
        {{ airflow_audit_surrogate_key(["'connection_change'", 'changes.connection_change_key']) }} as alert_key,
        'connection_change' as alert_kind,
        'info' as severity,
        changes.changed_at as raised_at,
        false as is_ongoing,
        cast(null as {{ dbt.type_string() }}) as dag_id,
        changes.conn_id as subject,
        {{ dbt.concat([
            "'Connection '", 'changes.conn_id', "' '", 'changes.change_type',
            "case when changes.changed_fields <> '' then ' (' || changes.changed_fields || ')' else '' end",
            "coalesce(' by ' || changes.changed_by, '')",
        ]) }} as message

    from {{ ref('fct_connection_changes') }} as changes

),

variables as (

    select
        {{ airflow_audit_surrogate_key(["'variable_change'", 'changes.variable_change_key']) }} as alert_key,
        'variable_change' as alert_kind,
        'info' as severity,
        changes.changed_at as raised_at,
        false as is_ongoing,
        cast(null as {{ dbt.type_string() }}) as dag_id,
        changes.variable_key as subject,
        {{ dbt.concat([
            "'Variable '", 'changes.variable_key', "' '", 'changes.change_type',
            "case when changes.changed_fields <> '' then ' (' || changes.changed_fields || ')' else '' end",
            "coalesce(' by ' || changes.changed_by, '')",
        ]) }} as message

    from {{ ref('fct_variable_changes') }} as changes

),

final as (

    select * from failure_streaks
    union all
    select * from anomalies
    union all
    select * from trends
    union all
    select * from late_runs
    union all
    select * from stuck
    union all
    select * from import_errors
    union all
    select * from dag_warnings
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
