{#- One row per day, over every DAG: runs by state, success rate, p50/p95 duration of the successful
    runs and p50/p95 queue delay of every run that was queued and started. Runs count on the day they
    started (else were queued, else their logical date), as in rpt_dag_daily_health
    (airflow_audit_run_date). The full history, rows deleted at the source included (archive mode). -#}

with

dag_runs as (

    select
        {{ airflow_audit_run_date() }} as run_date,
        state,
        duration_s,
        queue_delay_s

    from {{ ref('fct_dag_runs') }}

),

daily as (

    select
        run_date,
        count(*) as run_count,
        sum(case when state = 'success' then 1 else 0 end) as success_run_count,
        sum(case when state = 'failed' then 1 else 0 end) as failed_run_count,
        sum(case when state = 'running' then 1 else 0 end) as running_run_count,
        sum(case when state = 'queued' then 1 else 0 end) as queued_run_count,
        {{ airflow_audit_percentile("case when state = 'success' then duration_s end", 0.5) }}
            as p50_duration_s,
        {{ airflow_audit_percentile("case when state = 'success' then duration_s end", 0.95) }}
            as p95_duration_s,
        {{ airflow_audit_percentile('queue_delay_s', 0.5) }} as p50_queue_delay_s,
        {{ airflow_audit_percentile('queue_delay_s', 0.95) }} as p95_queue_delay_s

    from dag_runs
    where run_date is not null
    group by run_date

)

select
    run_date,
    run_count,
    success_run_count,
    failed_run_count,
    running_run_count,
    queued_run_count,
    case
        when success_run_count + failed_run_count > 0
            then cast(success_run_count as {{ dbt.type_numeric() }})
                / (success_run_count + failed_run_count)
    end as success_rate,
    round(cast(p50_duration_s as {{ airflow_audit_type('seconds') }}), 3) as p50_duration_s,
    round(cast(p95_duration_s as {{ airflow_audit_type('seconds') }}), 3) as p95_duration_s,
    round(cast(p50_queue_delay_s as {{ airflow_audit_type('seconds') }}), 3) as p50_queue_delay_s,
    round(cast(p95_queue_delay_s as {{ airflow_audit_type('seconds') }}), 3) as p95_queue_delay_s

from daily
