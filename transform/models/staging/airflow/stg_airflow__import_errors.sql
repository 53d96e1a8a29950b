{%- set raw = airflow_audit_inspect_source(source('airflow', 'import_error')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'id', 'bigint') }} as import_error_id,
        {{ airflow_audit_column(raw, 'timestamp', 'timestamp') }} as recorded_at,
        {{ airflow_audit_column(raw, 'filename', 'string') }} as file_path,
        {{ airflow_audit_column(raw, 'bundle_name', 'string') }} as bundle_name,
        {{ airflow_audit_column(raw, 'processor_subdir', 'string') }} as processor_subdir,
        {{ airflow_audit_column(raw, 'stacktrace', 'string') }} as stacktrace,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        import_error_id,
        recorded_at,
        file_path,
        bundle_name,
        processor_subdir,
        stacktrace,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
