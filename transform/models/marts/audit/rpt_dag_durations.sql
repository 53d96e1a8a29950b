{#- One row per DAG: how long its successful runs take (p50, p95, longest), and whether they got
    slower: the p50 of the last 7 days of the DAG's own history (ending at its latest successful run,
    so a backup's or a retired DAG's history compares too) against the 7 days before. -#}

with

successful as (

    select
        dag_id,
        started_at,
        duration_s

    from {{ ref('fct_dag_runs') }}
    where state = 'success' and duration_s is not null and started_at is not null

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
        successful.duration_s,
        successful.started_at > {{ dbt.dateadd('day', -7, 'latest.latest_started_at') }}
            as is_recent,
        successful.started_at <= {{ dbt.dateadd('day', -7, 'latest.latest_started_at') }}
        and successful.started_at > {{ dbt.dateadd('day', -14, 'latest.latest_started_at') }}
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
    round(cast(p50_duration_s as {{ dbt.type_numeric() }}), 3) as p50_duration_s,
    round(cast(p95_duration_s as {{ dbt.type_numeric() }}), 3) as p95_duration_s,
    round(cast(max_duration_s as {{ dbt.type_numeric() }}), 3) as max_duration_s,
    round(cast(recent_p50_duration_s as {{ dbt.type_numeric() }}), 3) as recent_p50_duration_s,
    round(cast(previous_p50_duration_s as {{ dbt.type_numeric() }}), 3) as previous_p50_duration_s,
    case
        when previous_p50_duration_s > 0
            then round(
                    cast(recent_p50_duration_s / previous_p50_duration_s - 1 as {{ dbt.type_numeric() }}), 4
                )
    end as duration_growth

from figures
