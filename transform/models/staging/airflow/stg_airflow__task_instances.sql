{%- set raw = airflow_audit_inspect_source(source('airflow', 'task_instance')) -%}

with

source as (

    select
        -- 3.x only: uuid primary key
        {{ airflow_audit_column(raw, 'id', 'string') }} as task_instance_id,
        {{ airflow_audit_column(raw, 'dag_id', 'string') }} as dag_id,
        {{ airflow_audit_column(raw, 'task_id', 'string') }} as task_id,
        {{ airflow_audit_column(raw, 'run_id', 'string') }} as run_id,
        {{ airflow_audit_column(raw, 'map_index', 'bigint') }} as map_index,
        {{ airflow_audit_column(raw, 'task_display_name', 'string') }} as task_display_name,
        {{ airflow_audit_column(raw, 'rendered_map_index', 'string') }} as rendered_map_index,
        {{ airflow_audit_column(raw, 'state', 'string') }} as state,
        {{ airflow_audit_column(raw, 'try_number', 'bigint') }} as try_number,
        {{ airflow_audit_column(raw, 'max_tries', 'bigint') }} as max_tries,
        {{ airflow_audit_column(raw, 'scheduled_dttm', 'timestamp') }} as scheduled_at,
        {{ airflow_audit_column(raw, 'queued_dttm', 'timestamp') }} as queued_at,
        {{ airflow_audit_column(raw, 'start_date', 'timestamp') }} as started_at,
        {{ airflow_audit_column(raw, 'end_date', 'timestamp') }} as ended_at,
        {{ airflow_audit_column(raw, 'duration', 'seconds') }} as duration_s,
        {{ airflow_audit_column(raw, 'updated_at', 'timestamp') }} as updated_at,
        {{ airflow_audit_column(raw, 'last_heartbeat_at', 'timestamp') }} as last_heartbeat_at,
        {{ airflow_audit_column(raw, 'operator', 'string') }} as operator,
        {{ airflow_audit_column(raw, 'custom_operator_name', 'string') }} as custom_operator_name,
        {{ airflow_audit_column(raw, 'pool', 'string') }} as pool,
        {{ airflow_audit_column(raw, 'pool_slots', 'bigint') }} as pool_slots,
        {{ airflow_audit_column(raw, 'queue', 'string') }} as queue,
        {{ airflow_audit_column(raw, 'priority_weight', 'bigint') }} as priority_weight,
        {{ airflow_audit_column(raw, 'executor', 'string') }} as executor,
        {{ airflow_audit_column(raw, 'external_executor_id', 'string') }} as external_executor_id,
        {{ airflow_audit_column(raw, 'hostname', 'string') }} as hostname,
        {{ airflow_audit_column(raw, 'unixname', 'string') }} as unix_username,
        {{ airflow_audit_column(raw, 'pid', 'bigint') }} as pid,
        {{ airflow_audit_column(raw, 'job_id', 'bigint') }} as job_id,  -- 2.x only
        {{ airflow_audit_column(raw, 'queued_by_job_id', 'bigint') }} as queued_by_job_id,
        {{ airflow_audit_column(raw, 'trigger_id', 'bigint') }} as trigger_id,
        {{ airflow_audit_column(raw, 'trigger_timeout', 'timestamp') }} as trigger_timeout_at,
        {{ airflow_audit_column(raw, 'next_method', 'string') }} as next_method,
        -- 3.x only
        {{ airflow_audit_column(raw, 'dag_version_id', 'string') }} as dag_version_id,
        {{ airflow_audit_column(raw, 'retry_reason', 'string') }} as retry_reason,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        {{ airflow_audit_staging_key('task_instance_key') }} as task_instance_key,
        task_instance_id,
        {{ airflow_audit_staging_key('dag_run_key') }} as dag_run_key,
        dag_id,
        task_id,
        run_id,
        map_index,
        -- map_index is -1 for a task that is not mapped (and for a mapped task not yet expanded)
        map_index >= 0 as is_mapped,
        task_display_name,
        rendered_map_index,
        state,
        try_number,
        max_tries,
        scheduled_at,
        queued_at,
        started_at,
        ended_at,
        duration_s,
        updated_at,
        last_heartbeat_at,
        operator,
        custom_operator_name,
        pool,
        pool_slots,
        queue,
        priority_weight,
        executor,
        external_executor_id,
        hostname,
        unix_username,
        pid,
        job_id,
        queued_by_job_id,
        trigger_id,
        trigger_timeout_at,
        next_method,
        dag_version_id,
        retry_reason,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
