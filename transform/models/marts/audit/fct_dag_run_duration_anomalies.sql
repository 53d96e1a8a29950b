{#- One row per finished DAG run (success or failed) measured against its own DAG's history: the median
    and the median absolute deviation (MAD) of the durations of the DAG's previous successful runs (at
    most var airflow_audit_anomaly_history_runs, those started before it). A run is an anomaly when that
    history has at least var airflow_audit_anomaly_min_history_runs runs and its duration is further from
    the median than both var airflow_audit_anomaly_threshold modified z-scores (0.6745 x deviation / MAD,
    Iglewicz and Hoaglin) and var airflow_audit_anomaly_floor_s seconds. With MAD 0 (a DAG that always
    takes the same time) only the floor applies. Median and MAD are robust: one earlier outlier does not
    move them. -#}

{%- set history_runs = var('airflow_audit_anomaly_history_runs') | int -%}
{%- if history_runs < 1 -%}
    {{ exceptions.raise_compiler_error(
        "var airflow_audit_anomaly_history_runs (AIRFLOW_AUDIT_ANOMALY_HISTORY_RUNS) is '"
        ~ var('airflow_audit_anomaly_history_runs') ~ "': give a whole number of 1 or more previous runs.") }}
{%- endif -%}

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
        state in ('success', 'failed')
        and duration_s is not null
        and started_at is not null

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

    from finished

),

successes as (

    select
        dag_id,
        success_index,
        duration_s

    from numbered
    where is_success = 1

),

-- each successful run's trailing window of the DAG's last history_runs successful runs (itself
-- included): a run's history is the window of its prior_successes-th
trailing_windows as (

    {{ airflow_audit_trailing_median_mad('successes', ['dag_id'], 'success_index', 'duration_s', history_runs) }}

),

measured as (

    select
        numbered.dag_run_key,
        numbered.dag_id,
        numbered.run_id,
        numbered.state,
        numbered.started_at,
        numbered.duration_s,
        coalesce(trailing_windows.window_count, 0) as history_run_count,
        trailing_windows.window_median as history_median_s,
        trailing_windows.window_mad as history_mad_s,
        numbered.duration_s - trailing_windows.window_median as deviation_s

    from numbered
    left join trailing_windows
        on
            numbered.dag_id = trailing_windows.dag_id
            and numbered.prior_successes = trailing_windows.success_index

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
        history_median_s,
        history_mad_s,
        {{ airflow_audit_anomaly_verdict('history_run_count') }}

    from measured

)

select * from final
