{#- One row per finished task attempt (a success, or a failed try) measured against its own task's history, by
    fct_dag_run_duration_anomalies' rule: the median and MAD of the durations of the task's (dag_id, task_id)
    previous successful attempts (at most var airflow_audit_anomaly_history_runs, those started before it, ties
    broken by the attempt key); an anomaly with at least var airflow_audit_anomaly_min_history_runs of them and a
    duration further from the median than var airflow_audit_anomaly_threshold modified z-scores and than var
    airflow_audit_anomaly_floor_s seconds (MAD 0: the floor alone).

    Incremental, exactly as a full rebuild, at the cost of what changed: the pre-hook deletes the rows whose
    figures a build may change (airflow_audit_delete_task_attempt_anomalies: the attempts of the touched task
    instances, and those with a window marker in their window: not a try Airflow cleared and kept unchanged in
    task_instance_history), and the body computes the finished attempts the table no longer holds, looking
    for them in the touched tasks only (airflow_audit_in_touched_series), reading around each one from where
    its history begins in its task's order (airflow_audit_history_scope), each measured by
    airflow_audit_duration_history. Any
    build that does not know what changed recomputes every row, and so does one whose
    changes reach more than var airflow_audit_partial_build_limit of the rows (airflow_audit_anomalies_partial). -#}

{%- set history_runs = var('airflow_audit_anomaly_history_runs') | int -%}
{%- if history_runs < 1 -%}
    {{ exceptions.raise_compiler_error(
        "var airflow_audit_anomaly_history_runs (AIRFLOW_AUDIT_ANOMALY_HISTORY_RUNS) is '"
        ~ var('airflow_audit_anomaly_history_runs') ~ "': give a whole number of 1 or more previous runs.") }}
{%- endif -%}

{{- config(
    materialized='incremental',
    incremental_strategy=airflow_audit_append_strategy(),
    on_schema_change='fail',
    pre_hook=[
        '{{ airflow_audit_keep_held_touched(airflow_audit_task_attempt_anomalies(), "drop") }}',
        '{{ airflow_audit_keep_held_touched(airflow_audit_task_attempt_anomalies(), "create") }}',
        '{{ airflow_audit_delete_task_attempt_anomalies() }}'],
    post_hook='{{ airflow_audit_drop_build_tables(airflow_audit_task_attempt_anomalies()) }}'
) -}}
{%- set partitions = airflow_audit_task_instance_partitions() -%}
{%- set partial = airflow_audit_anomalies_partial(airflow_audit_task_attempt_anomalies()) -%}

with

finished as (

    select
        task_attempt_key,
        -- where measured finds the attempt again (its rowid on DuckDB)
        {{ airflow_audit_row_locator('task_attempt_key') }} as attempt_locator,
        -- a partial build's airflow_audit_is_missing reads it
        task_instance_key,
        dag_id,
        task_id,
        started_at,
        duration_s,
        case when state = 'success' then 1 else 0 end as is_success

    from {{ ref('fct_task_attempts') }}
    where
        {{ airflow_audit_finished_attempt() }}
        and {{ airflow_audit_in_touched_series(ref('fct_task_attempts'), partitions, ['dag_id', 'task_id'], partial) }}

),

-- the attempts to compute: those the table does not hold (every one in a build that does not know what
-- changed, whose pre-hook emptied the table)
marked as (

    {{ airflow_audit_missing_rows('finished', airflow_audit_task_attempt_anomalies(), partial) }}

),

-- the order of every task with an attempt to compute, from where the history of its first such attempt can
-- begin: the history of the row the table holds just before it begins no later (or that row, without
-- history); the whole order where the table holds none before it
scoped as (

    {{ airflow_audit_history_scope('marked', airflow_audit_task_attempt_anomalies(), partial) }}

),

-- the columns the windows need alone: the attempt's other columns carried through them took a partial build
-- at 10M task instances (1% changed across the history, 2.4M rows read) past a 384MB memory limit;
-- measured joins them back to the rows computed, by attempt_locator
numbered as (

    select
        task_attempt_key,
        attempt_locator,
        dag_id,
        task_id,
        started_at,
        duration_s,
        is_success,
        is_missing,
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

{{ airflow_audit_duration_history('numbered', ['dag_id', 'task_id'], 'task_attempt_key', history_runs, partial) }}

measured as (

    select
        history.task_attempt_key,
        attempts.task_instance_key,
        attempts.dag_run_key,
        history.dag_id,
        history.task_id,
        attempts.run_id,
        attempts.map_index,
        attempts.try_number,
        attempts.state,
        history.started_at,
        history.duration_s,
        history.history_count as history_attempt_count,
        history.history_median_s,
        history.history_mad_s,
        history.duration_s - history.history_median_s as deviation_s,
        history.history_started_at

    from history
    inner join {{ ref('fct_task_attempts') }} as attempts
        on history.attempt_locator = {{ airflow_audit_row_locator('task_attempt_key', 'attempts') }}
    where history.is_missing

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
        history_started_at,
        history_median_s,
        history_mad_s,
        {{ airflow_audit_anomaly_verdict('history_attempt_count') }},
        {{ airflow_audit_built_at() }} as airflow_audit_built_at

    from measured

)

select * from final
