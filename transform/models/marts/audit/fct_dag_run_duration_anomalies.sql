{#- One row per finished DAG run (success or failed) measured against its own DAG's history: the median
    and the median absolute deviation (MAD) of the durations of the DAG's previous successful runs (at
    most var airflow_audit_anomaly_history_runs, those started before it). A run is an anomaly when that
    history has at least var airflow_audit_anomaly_min_history_runs runs and its duration is further from
    the median than both var airflow_audit_anomaly_threshold modified z-scores (0.6745 x deviation / MAD,
    Iglewicz and Hoaglin) and var airflow_audit_anomaly_floor_s seconds. With MAD 0 (a DAG that always
    takes the same time) only the floor applies. Median and MAD are robust: one earlier outlier does not
    move them.

    Incremental, exactly as a full rebuild, at the cost of what changed, as fct_task_attempt_duration_anomalies:
    the pre-hook deletes the rows whose figures a build may change (airflow_audit_delete_dag_run_anomalies: the
    touched runs, and those with a window marker in their window: not a run touched without moving), and the
    body computes the finished runs the table no longer holds, reading around each one from where its history
    begins in its DAG's runs (airflow_audit_history_scope),
    each measured by airflow_audit_duration_history. Any build that does not know what changed
    recomputes every row, and so does one whose
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
        '{{ airflow_audit_keep_held_touched(airflow_audit_dag_run_anomalies(), "drop") }}',
        '{{ airflow_audit_keep_held_touched(airflow_audit_dag_run_anomalies(), "create") }}',
        '{{ airflow_audit_delete_dag_run_anomalies() }}'],
    post_hook='{{ airflow_audit_drop_build_tables(airflow_audit_dag_run_anomalies()) }}'
) -}}
{%- set partitions = airflow_audit_dag_run_partitions() -%}
{%- set partial = airflow_audit_anomalies_partial(airflow_audit_dag_run_anomalies()) -%}

with

finished as (

    select
        dag_run_key,
        dag_id,
        run_id,
        state,
        started_at,
        duration_s,
        case when state = 'success' then 1 else 0 end as is_success

    from {{ ref('fct_dag_runs') }}
    where
        {{ airflow_audit_finished_run() }}
        and {{ airflow_audit_in_touched_series(ref('fct_dag_runs'), partitions, ['dag_id'], partial) }}

),

-- the runs to compute: those the table does not hold (every one in a build that does not know what
-- changed, whose pre-hook emptied the table)
marked as (

    {{ airflow_audit_missing_rows('finished', airflow_audit_dag_run_anomalies(), partial) }}

),

-- the runs of every DAG with a run to compute, from where the history of its first such run can begin:
-- the history of the row the table holds just before it begins no later (or that row, without history);
-- all of them where the table holds none before it
scoped as (

    {{ airflow_audit_history_scope('marked', airflow_audit_dag_run_anomalies(), partial) }}

),

numbered as (

    select
        *,
        -- the successful runs started before this one (ties broken by run_id)
        coalesce(sum(is_success) over (
            partition by dag_id order by started_at, run_id
            rows between unbounded preceding and 1 preceding
        ), 0) as prior_successes,
        sum(is_success) over (
            partition by dag_id order by started_at, run_id
            rows between unbounded preceding and current row
        ) as success_index

    from scoped

),

{{ airflow_audit_duration_history('numbered', ['dag_id'], 'run_id', history_runs, partial) }}

measured as (

    select
        dag_run_key,
        dag_id,
        run_id,
        state,
        started_at,
        duration_s,
        history_count as history_run_count,
        history_median_s,
        history_mad_s,
        duration_s - history_median_s as deviation_s,
        history_started_at

    from history
    where is_missing

),

final as (

    select
        dag_run_key,
        dag_id,
        run_id,
        state,
        started_at,
        duration_s,
        history_run_count,
        history_started_at,
        history_median_s,
        history_mad_s,
        {{ airflow_audit_anomaly_verdict('history_run_count') }},
        {{ airflow_audit_built_at() }} as airflow_audit_built_at

    from measured

)

select * from final
