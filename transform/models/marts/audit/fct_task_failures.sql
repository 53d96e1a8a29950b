{#- One row per failed attempt of a task instance (fct_task_attempts where is_failed), with what Airflow's
    metadata database keeps about why.

    Airflow writes the exception and its traceback to the task's log files, not to its database: no
    version keeps an error message in the metadata tables (2.x task_fail has start, end and duration
    only). What the database does keep, and this model carries: Airflow 3's retry_reason (set by a retry
    policy), the note a user wrote on the task instance (task_instance_note, 2.5+), and the attempt's host,
    operator and timing. -#}

{%- set partitions = airflow_audit_partitioned('airflow_audit_task_instance_partitions') -%}

with

task_attempts as (

    select * from {{ ref('fct_task_attempts') }}
    where {{ airflow_audit_in_partitions_of(ref('fct_task_attempts'), partitions) }}

),

task_instances as (

    select * from {{ ref('fct_task_instances') }}
    where {{ airflow_audit_in_partitions_of(ref('fct_task_instances'), partitions) }}

),

failed_attempts as (

    select * from task_attempts
    where is_failed

),

-- One task instance per key: the one still present at the source first.
task_instances_by_key as (

    select
        task_instance_key,
        state as task_instance_state,
        operator as task_instance_operator,
        note,
        row_number() over (
            partition by task_instance_key
            order by case when is_deleted_at_source then 1 else 0 end
        ) as rank_in_key

    from task_instances

),

joined as (

    select
        failed_attempts.*,
        task_instances_by_key.task_instance_state,
        task_instances_by_key.task_instance_operator,
        task_instances_by_key.note

    from failed_attempts
    left join task_instances_by_key
        on
            failed_attempts.task_instance_key = task_instances_by_key.task_instance_key
            and task_instances_by_key.rank_in_key = 1

),

final as (

    select
        task_attempt_key,
        task_instance_key,
        dag_run_key,
        dag_id,
        task_id,
        run_id,
        map_index,
        try_number,
        attempt_number,
        state as attempt_state,
        -- the task instance failed for good with this attempt: no try followed it
        coalesce(is_last_attempt and task_instance_state = 'failed', false) as is_final_failure,
        started_at,
        ended_at as failed_at,
        duration_s,
        coalesce(operator, task_instance_operator) as operator,
        hostname,
        retry_reason,
        note as task_instance_note,
        attempt_source,
        is_deleted_at_source,
        deleted_at_source_at,
        {{ airflow_audit_built_at() }} as airflow_audit_built_at

    from joined

)

select * from final
