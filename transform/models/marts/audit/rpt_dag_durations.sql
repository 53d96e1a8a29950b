{#- One row per DAG: how long its successful runs take (p50, p95, longest), and whether they got
    slower: the p50 of the last var airflow_audit_trend_window_days days of the DAG's own history
    (ending at its latest successful run, so a backup's or a retired DAG's history compares too)
    against the same number of days before. is_slower: both windows hold at least var
    airflow_audit_trend_min_runs runs, and the recent p50 is at least var airflow_audit_trend_slower_by
    (a fraction) and var airflow_audit_anomaly_floor_s seconds above the previous one. -#}

{%- set window_days = var('airflow_audit_trend_window_days') | int -%}
{%- set min_runs = var('airflow_audit_trend_min_runs') | int -%}
{%- set slower_by = var('airflow_audit_trend_slower_by') | float -%}
{%- set floor_s = var('airflow_audit_anomaly_floor_s') | float -%}
{%- if window_days < 1 -%}
    {{ exceptions.raise_compiler_error(
        "var airflow_audit_trend_window_days is " ~ window_days ~ ": give 1 or more days.") }}
{%- endif %}

{%- set partitions = airflow_audit_partitioned('airflow_audit_dag_partitions') -%}

with

successful as (

    select
        dag_id,
        started_at,
        duration_s

    from {{ ref('fct_dag_runs') }}
    where
        state = 'success' and duration_s is not null and started_at is not null
        and {{ airflow_audit_in_partitions(partitions) }}

),

latest as (

    select
        dag_id,
        max(started_at) as latest_started_at

    from successful
    group by dag_id

),

windowed as (

    select
        successful.dag_id,
        successful.started_at,
        successful.duration_s,
        successful.started_at > {{ dbt.dateadd('day', -window_days, 'latest.latest_started_at') }}
            as is_recent,
        successful.started_at <= {{ dbt.dateadd('day', -window_days, 'latest.latest_started_at') }}
        and successful.started_at > {{ dbt.dateadd('day', -2 * window_days, 'latest.latest_started_at') }}
            as is_previous

    from successful
    inner join latest on successful.dag_id = latest.dag_id

),

figures as (

    select
        dag_id,
        count(*) as success_run_count,
        {{ airflow_audit_percentile('duration_s', 0.5) }} as p50_duration_s,
        {{ airflow_audit_percentile('duration_s', 0.95) }} as p95_duration_s,
        max(duration_s) as max_duration_s,
        max(started_at) as latest_success_started_at,
        sum(case when is_recent then 1 else 0 end) as recent_run_count,
        sum(case when is_previous then 1 else 0 end) as previous_run_count,
        {{ airflow_audit_percentile('case when is_recent then duration_s end', 0.5) }}
            as recent_p50_duration_s,
        {{ airflow_audit_percentile('case when is_previous then duration_s end', 0.5) }}
            as previous_p50_duration_s

    from windowed
    group by dag_id

)

select
    dag_id,
    success_run_count,
    round(cast(p50_duration_s as {{ airflow_audit_type('seconds') }}), 3) as p50_duration_s,
    round(cast(p95_duration_s as {{ airflow_audit_type('seconds') }}), 3) as p95_duration_s,
    round(cast(max_duration_s as {{ airflow_audit_type('seconds') }}), 3) as max_duration_s,
    latest_success_started_at,
    {{ window_days }} as trend_window_days,
    recent_run_count,
    previous_run_count,
    round(cast(recent_p50_duration_s as {{ airflow_audit_type('seconds') }}), 3) as recent_p50_duration_s,
    round(cast(previous_p50_duration_s as {{ airflow_audit_type('seconds') }}), 3) as previous_p50_duration_s,
    case
        when previous_p50_duration_s > 0
            then round(
                    cast(recent_p50_duration_s / previous_p50_duration_s - 1 as {{ dbt.type_numeric() }}), 4
                )
    end as duration_growth,
    coalesce(
        recent_run_count >= {{ min_runs }}
        and previous_run_count >= {{ min_runs }}
        and previous_p50_duration_s > 0
        and recent_p50_duration_s >= (1 + {{ slower_by }}) * previous_p50_duration_s
        and recent_p50_duration_s - previous_p50_duration_s > {{ floor_s }},
        false
    ) as is_slower,
    {{ airflow_audit_built_at() }} as airflow_audit_built_at

from figures
