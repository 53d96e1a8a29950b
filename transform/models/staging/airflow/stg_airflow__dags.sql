{%- set raw = airflow_audit_inspect_source(source('airflow', 'dag')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'dag_id', 'string') }} as dag_id,
        {{ airflow_audit_column(raw, 'dag_display_name', 'string') }} as dag_display_name,
        {{ airflow_audit_column(raw, 'description', 'string') }} as description,
        {{ airflow_audit_column(raw, 'owners', 'string') }} as owners,
        {{ airflow_audit_column(raw, 'fileloc', 'string') }} as file_path,
        {{ airflow_audit_column(raw, 'relative_fileloc', 'string') }} as relative_file_path,
        {{ airflow_audit_column(raw, 'bundle_name', 'string') }} as bundle_name,
        {{ airflow_audit_column(raw, 'bundle_version', 'string') }} as bundle_version,
        {{ airflow_audit_column(raw, 'root_dag_id', 'string') }} as root_dag_id,
        {{ airflow_audit_column(raw, 'is_subdag', 'boolean') }} as is_subdag,
        {{ airflow_audit_column(raw, 'is_paused', 'boolean') }} as is_paused,
        -- 2.x: is_active; 3.x: its inverse is_stale
        {{ airflow_audit_column(raw, 'is_active', 'boolean') }} as raw_is_active,
        {{ airflow_audit_column(raw, 'is_stale', 'boolean') }} as raw_is_stale,
        -- 2.x: schedule_interval (JSON-encoded); 3.x: timetable_summary
        {{ airflow_audit_column(raw, 'schedule_interval', 'string') }} as raw_schedule_interval,
        {{ airflow_audit_column(raw, 'timetable_summary', 'string') }} as raw_timetable_summary,
        {{ airflow_audit_column(raw, 'timetable_description', 'string') }} as timetable_description,
        {{ airflow_audit_column(raw, 'timetable_type', 'string') }} as timetable_type,
        {{ airflow_audit_column(raw, 'max_active_tasks', 'bigint') }} as max_active_tasks,
        {{ airflow_audit_column(raw, 'max_active_runs', 'bigint') }} as max_active_runs,
        {{ airflow_audit_column(raw, 'max_consecutive_failed_dag_runs', 'bigint') }}
            as max_consecutive_failed_dag_runs,
        {{ airflow_audit_column(raw, 'has_task_concurrency_limits', 'boolean') }} as has_task_concurrency_limits,
        {{ airflow_audit_column(raw, 'has_import_errors', 'boolean') }} as has_import_errors,
        {{ airflow_audit_column(raw, 'last_parsed_time', 'timestamp') }} as last_parsed_at,
        {{ airflow_audit_column(raw, 'last_expired', 'timestamp') }} as last_expired_at,
        {{ airflow_audit_column(raw, 'next_dagrun', 'timestamp') }} as next_run_logical_at,
        {{ airflow_audit_column(raw, 'next_dagrun_data_interval_start', 'timestamp') }}
            as next_run_data_interval_start_at,
        {{ airflow_audit_column(raw, 'next_dagrun_data_interval_end', 'timestamp') }}
            as next_run_data_interval_end_at,
        {{ airflow_audit_column(raw, 'next_dagrun_create_after', 'timestamp') }} as next_run_create_after_at,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        dag_id,
        dag_display_name,
        description,
        owners,
        file_path,
        relative_file_path,
        bundle_name,
        bundle_version,
        root_dag_id,
        is_subdag,
        is_paused,
        coalesce(raw_is_active, not raw_is_stale) as is_active,
        coalesce(
            -- 2.x stores json.dumps(schedule): '"@daily"', '"0 * * * *"', 'null', or a timedelta object
            case
                when raw_schedule_interval = 'null' then null
                when raw_schedule_interval like '"%"'
                    then {{ dbt.replace('raw_schedule_interval', "'\"'", "''") }}
                else raw_schedule_interval
            end,
            raw_timetable_summary
        ) as schedule,
        timetable_description,
        timetable_type,
        max_active_tasks,
        max_active_runs,
        max_consecutive_failed_dag_runs,
        has_task_concurrency_limits,
        has_import_errors,
        last_parsed_at,
        last_expired_at,
        next_run_logical_at,
        next_run_data_interval_start_at,
        next_run_data_interval_end_at,
        next_run_create_after_at,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
