{%- set raw = airflow_audit_inspect_source(source('airflow', 'job')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'id', 'bigint') }} as job_id,
        {{ airflow_audit_column(raw, 'job_type', 'string') }} as job_type,
        {{ airflow_audit_column(raw, 'state', 'string') }} as state,
        {{ airflow_audit_column(raw, 'dag_id', 'string') }} as dag_id,
        {{ airflow_audit_column(raw, 'start_date', 'timestamp') }} as started_at,
        {{ airflow_audit_column(raw, 'end_date', 'timestamp') }} as ended_at,
        {{ airflow_audit_column(raw, 'latest_heartbeat', 'timestamp') }} as latest_heartbeat_at,
        {{ airflow_audit_column(raw, 'executor_class', 'string') }} as executor_class,
        {{ airflow_audit_column(raw, 'hostname', 'string') }} as hostname,
        {{ airflow_audit_column(raw, 'unixname', 'string') }} as unix_username,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        job_id,
        job_type,
        state,
        dag_id,
        started_at,
        ended_at,
        latest_heartbeat_at,
        executor_class,
        hostname,
        unix_username,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
