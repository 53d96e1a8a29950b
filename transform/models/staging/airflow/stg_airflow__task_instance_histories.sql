{#- task_instance_history (Airflow 2.10+): one row per earlier try of a task instance, written when the
    task instance is retried or cleared. 2.10 keys it by an integer `id`, 3.x by the uuid the task instance
    had during that try (`task_instance_id`). Absent before 2.10: the model is then empty and the marts
    fall back to task_fail. -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'task_instance_history')) -%}

with

source as (

    select
        -- 2.10 only
        {{ airflow_audit_column(raw, 'id', 'bigint') }} as task_instance_history_id,
        -- 3.x only
        {{ airflow_audit_column(raw, 'task_instance_id', 'string') }} as task_instance_id,
        {{ airflow_audit_column(raw, 'dag_id', 'string') }} as dag_id,
        {{ airflow_audit_column(raw, 'task_id', 'string') }} as task_id,
        {{ airflow_audit_column(raw, 'run_id', 'string') }} as run_id,
        {{ airflow_audit_column(raw, 'map_index', 'bigint') }} as map_index,
        {{ airflow_audit_column(raw, 'try_number', 'bigint') }} as try_number,
        {{ airflow_audit_column(raw, 'state', 'string') }} as state,
        {{ airflow_audit_column(raw, 'max_tries', 'bigint') }} as max_tries,
        {{ airflow_audit_column(raw, 'scheduled_dttm', 'timestamp') }} as scheduled_at,
        {{ airflow_audit_column(raw, 'queued_dttm', 'timestamp') }} as queued_at,
        {{ airflow_audit_column(raw, 'start_date', 'timestamp') }} as started_at,
        {{ airflow_audit_column(raw, 'end_date', 'timestamp') }} as ended_at,
        {{ airflow_audit_column(raw, 'duration', 'seconds') }} as duration_s,
        {{ airflow_audit_column(raw, 'updated_at', 'timestamp') }} as updated_at,
        {{ airflow_audit_column(raw, 'operator', 'string') }} as operator,
        {{ airflow_audit_column(raw, 'pool', 'string') }} as pool,
        {{ airflow_audit_column(raw, 'pool_slots', 'bigint') }} as pool_slots,
        {{ airflow_audit_column(raw, 'queue', 'string') }} as queue,
        {{ airflow_audit_column(raw, 'executor', 'string') }} as executor,
        {{ airflow_audit_column(raw, 'hostname', 'string') }} as hostname,
        {{ airflow_audit_column(raw, 'job_id', 'bigint') }} as job_id,
        {{ airflow_audit_column(raw, 'dag_version_id', 'string') }} as dag_version_id,
        {{ airflow_audit_column(raw, 'retry_reason', 'string') }} as retry_reason,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        {{ airflow_audit_staging_key('task_attempt_key') }}
            as task_attempt_key,
        {{ airflow_audit_staging_key('task_instance_key') }} as task_instance_key,
        {{ airflow_audit_staging_key('dag_run_key') }} as dag_run_key,
        task_instance_history_id,
        task_instance_id,
        dag_id,
        task_id,
        run_id,
        map_index,
        try_number,
        state,
        max_tries,
        scheduled_at,
        queued_at,
        started_at,
        ended_at,
        duration_s,
        updated_at,
        operator,
        pool,
        pool_slots,
        queue,
        executor,
        hostname,
        job_id,
        dag_version_id,
        retry_reason,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
