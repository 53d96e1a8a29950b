{#- One row per finished DAG run (success or failed) measured against its own DAG's history: the median
    and the median absolute deviation (MAD) of the durations of the DAG's previous successful runs (at
    most var airflow_audit_anomaly_history_runs, those started before it). A run is an anomaly when that
    history has at least var airflow_audit_anomaly_min_history_runs runs and its duration is further from
    the median than both var airflow_audit_anomaly_threshold modified z-scores (0.6745 x deviation / MAD,
    Iglewicz and Hoaglin) and var airflow_audit_anomaly_floor_s seconds. With MAD 0 (a DAG that always
    takes the same time) only the floor applies. Median and MAD are robust: one earlier outlier does not
    move them. -#}

{%- set history_runs = var('airflow_audit_anomaly_history_runs') | int -%}
{%- set min_history = var('airflow_audit_anomaly_min_history_runs') | int -%}
{%- set threshold = var('airflow_audit_anomaly_threshold') | float -%}
{%- set floor_s = var('airflow_audit_anomaly_floor_s') | float -%}
{%- if history_runs < 1 -%}
    {{ exceptions.raise_compiler_error(
        "var airflow_audit_anomaly_history_runs is " ~ history_runs ~ ": give 1 or more previous runs.") }}
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

-- The offsets 0 .. history_runs - 1: the k-th previous successful run is then found by equality on
-- (dag_id, success_index), so the work grows with runs x history_runs, not with the square of a DAG's
-- runs. Numbered from the successful runs themselves: no run has more previous ones than there are.
success_numbers as (

    select row_number() over (order by dag_id, success_index) - 1 as k
    from successes

),

offsets as (

    select k
    from success_numbers
    where k < {{ history_runs }}

),

wanted as (

    select
        numbered.dag_run_key,
        numbered.dag_id,
        numbered.prior_successes - offsets.k as wanted_index

    from numbered
    cross join offsets
    where numbered.prior_successes - offsets.k >= 1

),

history as (

    select
        wanted.dag_run_key,
        successes.duration_s as previous_duration_s

    from wanted
    inner join successes
        on
            wanted.dag_id = successes.dag_id
            and wanted.wanted_index = successes.success_index

),

medians as (

    select
        dag_run_key,
        count(*) as history_run_count,
        {{ airflow_audit_percentile('previous_duration_s', 0.5) }} as history_median_s

    from history
    group by dag_run_key

),

deviations as (

    select
        history.dag_run_key,
        {{ airflow_audit_percentile('abs(history.previous_duration_s - medians.history_median_s)', 0.5) }}
            as history_mad_s

    from history
    inner join medians on history.dag_run_key = medians.dag_run_key
    group by history.dag_run_key

),

measured as (

    select
        numbered.dag_run_key,
        numbered.dag_id,
        numbered.run_id,
        numbered.state,
        numbered.started_at,
        numbered.duration_s,
        coalesce(medians.history_run_count, 0) as history_run_count,
        medians.history_median_s,
        deviations.history_mad_s,
        numbered.duration_s - medians.history_median_s as deviation_s

    from numbered
    left join medians on numbered.dag_run_key = medians.dag_run_key
    left join deviations on numbered.dag_run_key = deviations.dag_run_key

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
        case
            when history_mad_s > 0 then 0.6745 * deviation_s / history_mad_s
        end as modified_z_score,
        history_run_count >= {{ min_history }}
        and abs(deviation_s) > {{ floor_s }}
        and (history_mad_s = 0 or 0.6745 * abs(deviation_s) / history_mad_s > {{ threshold }})
            as is_anomaly,
        case
            when history_run_count < {{ min_history }} then null
            when deviation_s > 0 then 'slower'
            else 'faster'
        end as direction

    from measured

)

select * from final
