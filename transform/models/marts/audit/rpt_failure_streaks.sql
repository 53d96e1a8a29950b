{#- One row per DAG whose latest finished runs failed: how many in a row (since its latest successful run,
    or ever), since when, and the latest failure. A DAG whose latest finished run succeeded has no row.
    rpt_alerts raises an alert from var airflow_audit_alert_failure_streak runs on. -#}

{%- set partitions = airflow_audit_partitioned('airflow_audit_dag_partitions') -%}

with

-- the columns used only: two CTEs read the runs, and DuckDB holds a CTE read twice whole (README "How fast")
runs as (

    select
        dag_id,
        run_id,
        state,
        started_at,
        ended_at

    from {{ ref('fct_dag_runs') }}
    -- archive mode keeps the runs `airflow db clean` removed: they are part of the history
    where
        state in ('success', 'failed') and started_at is not null
        and {{ airflow_audit_in_partitions(partitions) }}

),

last_success as (

    select
        dag_id,
        max(started_at) as last_success_started_at

    from runs
    where state = 'success'
    group by dag_id

),

streak_runs as (

    select
        runs.dag_id,
        runs.run_id,
        runs.started_at,
        coalesce(runs.ended_at, runs.started_at) as failed_at,
        last_success.last_success_started_at,
        -- the streak's first run names it: its key stays while the streak grows
        row_number() over (partition by runs.dag_id order by runs.started_at, runs.run_id) as position

    from runs
    left join last_success on runs.dag_id = last_success.dag_id
    where
        runs.state = 'failed'
        and (
            last_success.last_success_started_at is null
            or runs.started_at > last_success.last_success_started_at
        )

),

streaks as (

    select
        dag_id,
        count(*) as failed_runs,
        min(started_at) as streak_started_at,
        max(failed_at) as latest_failure_at,
        max(case when position = 1 then run_id end) as first_run_id,
        max(last_success_started_at) as last_success_started_at

    from streak_runs
    group by dag_id

),

final as (

    select
        dag_id,
        failed_runs,
        streak_started_at,
        latest_failure_at,
        first_run_id,
        last_success_started_at,
        {{ airflow_audit_built_at() }} as airflow_audit_built_at

    from streaks

)

select * from final
