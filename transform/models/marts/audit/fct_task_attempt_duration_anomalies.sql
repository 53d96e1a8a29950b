{#- One row per finished task attempt (a success, or a failed try) measured against its own task's history, by
    fct_dag_run_duration_anomalies' rule: the median and MAD of the durations of the task's (dag_id, task_id)
    previous successful attempts (at most var airflow_audit_anomaly_history_runs, those started before it, ties
    broken by the attempt key); an anomaly with at least var airflow_audit_anomaly_min_history_runs of them and a
    duration further from the median than var airflow_audit_anomaly_threshold modified z-scores and than var
    airflow_audit_anomaly_floor_s seconds (MAD 0: the floor alone).

    Incremental, exactly as a full rebuild: an attempt's figures depend on its task's earlier successful attempts
    only, so a build recomputes, for each task it touched, the attempts from the earliest start among its touched
    attempts (as they are now, or as this table held them) on, and every row of a touched task instance. The
    pre-hook deletes those rows (airflow_audit_delete_task_attempt_anomalies); the body inserts every attempt of
    the touched tasks that the table no longer holds. -#}

{%- set history_runs = var('airflow_audit_anomaly_history_runs') | int -%}
{%- if history_runs < 1 -%}
    {{ exceptions.raise_compiler_error(
        "var airflow_audit_anomaly_history_runs is " ~ history_runs ~ ": give 1 or more previous runs.") }}
{%- endif -%}

{{- config(
    materialized='incremental',
    incremental_strategy=airflow_audit_append_strategy(),
    on_schema_change='fail',
    pre_hook='{{ airflow_audit_delete_task_attempt_anomalies() }}'
) -}}
{%- set partitions = airflow_audit_task_instance_partitions() -%}
{%- set partial = airflow_audit_is_partial(partitions.tables) -%}

with

finished as (

    select
        task_attempt_key,
        task_instance_key,
        dag_run_key,
        dag_id,
        task_id,
        run_id,
        map_index,
        try_number,
        state,
        started_at,
        duration_s,
        case when state = 'success' then 1 else 0 end as is_success

    from {{ ref('fct_task_attempts') }}
    where
        (state = 'success' or is_failed)
        and duration_s is not null
        and started_at is not null

),

-- the attempts of the tasks this build touched (all of them in a build that does not know what changed):
-- their whole history; the ones the table no longer holds are inserted at the end
scoped as (

    select *

    from finished
    where {{ airflow_audit_in_touched_tasks(partitions, 'finished') }}

),

numbered as (

    select
        *,
        -- the successful attempts started before this one (ties broken by the attempt key)
        coalesce(sum(is_success) over (
            partition by dag_id, task_id order by started_at, task_attempt_key
            rows between unbounded preceding and 1 preceding
        ), 0) as prior_successes,
        sum(is_success) over (
            partition by dag_id, task_id order by started_at, task_attempt_key
            rows between unbounded preceding and current row
        ) as success_index

    from scoped

),

successes as (

    select
        dag_id,
        task_id,
        success_index,
        duration_s

    from numbered
    where is_success = 1

),

-- each successful attempt's trailing window of its task's last history_runs successful attempts
-- (itself included): an attempt's history is the window of its prior_successes-th
trailing_windows as (

    {{ airflow_audit_trailing_median_mad(
        'successes', ['dag_id', 'task_id'], 'success_index', 'duration_s', history_runs
    ) }}

),

measured as (

    select
        numbered.task_attempt_key,
        numbered.task_instance_key,
        numbered.dag_run_key,
        numbered.dag_id,
        numbered.task_id,
        numbered.run_id,
        numbered.map_index,
        numbered.try_number,
        numbered.state,
        numbered.started_at,
        numbered.duration_s,
        coalesce(trailing_windows.window_count, 0) as history_attempt_count,
        trailing_windows.window_median as history_median_s,
        trailing_windows.window_mad as history_mad_s,
        numbered.duration_s - trailing_windows.window_median as deviation_s

    from numbered
    left join trailing_windows
        on
            numbered.dag_id = trailing_windows.dag_id
            and numbered.task_id = trailing_windows.task_id
            and numbered.prior_successes = trailing_windows.success_index

),

final as (

    select
        task_attempt_key,
        task_instance_key,
        dag_run_key,
        dag_id,
        task_id,
        run_id,
        map_index,
        try_number,
        state,
        started_at,
        duration_s,
        history_attempt_count,
        history_median_s,
        history_mad_s,
        {{ airflow_audit_anomaly_verdict('history_attempt_count') }}

    from measured

)

select * from final
{%- if partial %}
where not exists (
    select 1
    from {{ this }} as kept
    where kept.task_attempt_key = final.task_attempt_key
)
{%- endif %}
