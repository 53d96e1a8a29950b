{#- One row per DAG per day: how its runs ended, how long the successful ones took, and how many task
    attempts failed or were retries. Runs count on the day they started (else were queued, else their
    logical date); task attempts on the day they started (else ended). The full history is reported,
    including rows deleted at the source (archive mode). Incremental by DAG and day
    (airflow_audit_dag_days.sql): an hourly build recounts the days the runs and attempts it rewrote
    are on now and were on before. -#}

{%- set partitions = airflow_audit_partitioned('airflow_audit_dag_day_partitions') -%}
{{ config(post_hook="{{ airflow_audit_forget_replaced_dag_days() }}") }}
-- depends_on: {{ ref('int_dag_days_replaced') }}

with

dag_runs as (

    select
        dag_id,
        {{ airflow_audit_run_date() }} as run_date,
        state,
        duration_s

    from {{ ref('fct_dag_runs') }}

),

task_attempts as (

    select
        dag_id,
        {{ airflow_audit_attempt_date() }} as run_date,
        is_failed,
        attempt_number

    from {{ ref('fct_task_attempts') }}

),

runs_by_day as (

    select * from dag_runs
    where
        run_date is not null
        and {{ airflow_audit_in_touched_keys(partitions, partitions.natural_sql, ['dag_id', 'run_date']) }}

),

run_figures as (

    select
        dag_id,
        run_date,
        count(*) as run_count,
        sum(case when state = 'success' then 1 else 0 end) as success_run_count,
        sum(case when state = 'failed' then 1 else 0 end) as failed_run_count,
        sum(case when state = 'running' then 1 else 0 end) as running_run_count,
        sum(case when state = 'queued' then 1 else 0 end) as queued_run_count,
        {{ airflow_audit_percentile("case when state = 'success' then duration_s end", 0.5) }}
            as p50_duration_s,
        {{ airflow_audit_percentile("case when state = 'success' then duration_s end", 0.95) }}
            as p95_duration_s

    from runs_by_day
    group by dag_id, run_date

),

attempts_by_day as (

    select * from task_attempts
    where
        run_date is not null
        and {{ airflow_audit_in_touched_keys(partitions, partitions.natural_sql, ['dag_id', 'run_date']) }}

),

attempt_figures as (

    select
        dag_id,
        run_date,
        sum(case when is_failed then 1 else 0 end) as failed_task_attempt_count,
        sum(case when attempt_number > 1 then 1 else 0 end) as retry_attempt_count

    from attempts_by_day
    group by dag_id, run_date

),

all_dag_days as (

    select
        dag_id,
        run_date
    from run_figures
    union all
    select
        dag_id,
        run_date
    from attempt_figures

),

dag_days as (

    select distinct
        dag_id,
        run_date

    from all_dag_days

),

joined as (

    select
        dag_days.dag_id,
        dag_days.run_date,
        coalesce(run_figures.run_count, 0) as run_count,
        coalesce(run_figures.success_run_count, 0) as success_run_count,
        coalesce(run_figures.failed_run_count, 0) as failed_run_count,
        coalesce(run_figures.running_run_count, 0) as running_run_count,
        coalesce(run_figures.queued_run_count, 0) as queued_run_count,
        run_figures.p50_duration_s,
        run_figures.p95_duration_s,
        coalesce(attempt_figures.failed_task_attempt_count, 0) as failed_task_attempt_count,
        coalesce(attempt_figures.retry_attempt_count, 0) as retry_attempt_count

    from dag_days
    left join run_figures
        on
            dag_days.dag_id = run_figures.dag_id
            and dag_days.run_date = run_figures.run_date
    left join attempt_figures
        on
            dag_days.dag_id = attempt_figures.dag_id
            and dag_days.run_date = attempt_figures.run_date

),

final as (

    select
        {{ airflow_audit_surrogate_key(['dag_id', 'run_date']) }} as dag_day_key,
        dag_id,
        run_date,
        run_count,
        success_run_count,
        failed_run_count,
        running_run_count,
        queued_run_count,
        -- finished runs only: success / (success + failed)
        case
            when success_run_count + failed_run_count > 0
                then cast(success_run_count as {{ dbt.type_numeric() }})
                    / (success_run_count + failed_run_count)
        end as success_rate,
        -- millisecond precision, like the durations (percentiles interpolate in floating point, and
        -- PostgreSQL/Redshift round only numerics to a number of places)
        round(cast(p50_duration_s as {{ airflow_audit_type('seconds') }}), 3) as p50_duration_s,
        round(cast(p95_duration_s as {{ airflow_audit_type('seconds') }}), 3) as p95_duration_s,
        failed_task_attempt_count,
        retry_attempt_count,
        {{ airflow_audit_built_at() }} as airflow_audit_built_at

    from joined

)

select * from final
