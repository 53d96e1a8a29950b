{#- One row per scheduled DAG run that has a due time: how late its work started. The run is due at
    `run_after` (Airflow 3) or the end of its data interval (Airflow 2); the lateness is from then to
    its first task instance's start, split into the scheduler delay (due to the run's start) and the
    queue delay (the run's start to its first task's start). Seconds with millisecond precision; a
    span that would be negative (clocks, or timestamps of different attempts after a clear) is null.
    The full history, rows deleted at the source included (archive mode). -#}

{%- set partitions = airflow_audit_partitioned('airflow_audit_dag_run_work_partitions') -%}

with

scheduled_runs as (

    select
        dag_run_key,
        dag_id,
        run_id,
        coalesce(run_after_at, data_interval_end_at) as due_at,
        started_at,
        is_deleted_at_source

    from {{ ref('fct_dag_runs') }}
    where
        trigger_method = 'scheduled' and coalesce(run_after_at, data_interval_end_at) is not null
        and {{ airflow_audit_in_partitions(partitions) }}

),

first_task_starts as (

    select
        dag_run_key,
        min(started_at) as first_task_started_at

    from {{ ref('fct_task_instances') }}
    where started_at is not null and {{ airflow_audit_in_partitions(partitions) }}
    group by dag_run_key

),

joined as (

    select
        scheduled_runs.dag_run_key,
        scheduled_runs.dag_id,
        scheduled_runs.run_id,
        scheduled_runs.due_at,
        scheduled_runs.started_at,
        first_task_starts.first_task_started_at,
        scheduled_runs.is_deleted_at_source

    from scheduled_runs
    left join first_task_starts on scheduled_runs.dag_run_key = first_task_starts.dag_run_key

)

select
    dag_run_key,
    dag_id,
    run_id,
    due_at,
    started_at,
    first_task_started_at,
    case
        when first_task_started_at >= due_at
            then {{ dbt.datediff('due_at', 'first_task_started_at', 'millisecond') }} / 1000.0
    end as lateness_s,
    case
        when started_at >= due_at
            then {{ dbt.datediff('due_at', 'started_at', 'millisecond') }} / 1000.0
    end as scheduler_delay_s,
    case
        when first_task_started_at >= started_at
            then {{ dbt.datediff('started_at', 'first_task_started_at', 'millisecond') }} / 1000.0
    end as queue_delay_s,
    is_deleted_at_source,
    {{ airflow_audit_built_at() }} as airflow_audit_built_at

from joined
