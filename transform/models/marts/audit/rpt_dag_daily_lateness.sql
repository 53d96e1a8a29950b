{#- One row per DAG per day its scheduled runs were due: how many, and the p50/p95 of their lateness,
    scheduler delay and queue delay (fct_dag_run_lateness). Each day is counted from its own runs alone,
    so the table is incremental by DAG and due day (airflow_audit_dag_due_day_partitions). -#}

{%- set partitions = airflow_audit_partitioned('airflow_audit_dag_due_day_partitions') -%}

with

due_runs as (

    select
        dag_id,
        {{ airflow_audit_due_date() }} as due_date,
        lateness_s,
        scheduler_delay_s,
        queue_delay_s

    from {{ ref('fct_dag_run_lateness') }}

),

runs as (

    select * from due_runs
    where
        {{ airflow_audit_in_partitions_by_natural_key(
            partitions, airflow_audit_surrogate_key(['dag_id', 'due_date'])) }}

),

daily as (

    select
        dag_id,
        due_date,
        count(*) as scheduled_run_count,
        {{ airflow_audit_percentile('lateness_s', 0.5) }} as p50_lateness_s,
        {{ airflow_audit_percentile('lateness_s', 0.95) }} as p95_lateness_s,
        {{ airflow_audit_percentile('scheduler_delay_s', 0.5) }} as p50_scheduler_delay_s,
        {{ airflow_audit_percentile('scheduler_delay_s', 0.95) }} as p95_scheduler_delay_s,
        {{ airflow_audit_percentile('queue_delay_s', 0.5) }} as p50_queue_delay_s,
        {{ airflow_audit_percentile('queue_delay_s', 0.95) }} as p95_queue_delay_s

    from runs
    group by dag_id, due_date

)

select
    {{ airflow_audit_surrogate_key(['dag_id', 'due_date']) }} as dag_due_day_key,
    dag_id,
    due_date,
    scheduled_run_count,
    round(cast(p50_lateness_s as {{ airflow_audit_type('seconds') }}), 3) as p50_lateness_s,
    round(cast(p95_lateness_s as {{ airflow_audit_type('seconds') }}), 3) as p95_lateness_s,
    round(cast(p50_scheduler_delay_s as {{ airflow_audit_type('seconds') }}), 3) as p50_scheduler_delay_s,
    round(cast(p95_scheduler_delay_s as {{ airflow_audit_type('seconds') }}), 3) as p95_scheduler_delay_s,
    round(cast(p50_queue_delay_s as {{ airflow_audit_type('seconds') }}), 3) as p50_queue_delay_s,
    round(cast(p95_queue_delay_s as {{ airflow_audit_type('seconds') }}), 3) as p95_queue_delay_s,
    {{ airflow_audit_built_at() }} as airflow_audit_built_at

from daily
