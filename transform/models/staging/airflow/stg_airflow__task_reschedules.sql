{#- task_reschedule: one row per reschedule of a sensor in reschedule mode. 2.x keys it by the natural key
    and try_number; 3.x by the task instance's uuid (`ti_id`), and keeps only the current try's rows. -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'task_reschedule')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'id', 'bigint') }} as task_reschedule_id,
        -- 3.x only
        {{ airflow_audit_column(raw, 'ti_id', 'string') }} as task_instance_id,
        -- 2.x only
        {{ airflow_audit_column(raw, 'dag_id', 'string') }} as dag_id,
        {{ airflow_audit_column(raw, 'task_id', 'string') }} as task_id,
        {{ airflow_audit_column(raw, 'run_id', 'string') }} as run_id,
        {{ airflow_audit_column(raw, 'map_index', 'bigint') }} as map_index,
        {{ airflow_audit_column(raw, 'try_number', 'bigint') }} as try_number,
        {{ airflow_audit_column(raw, 'start_date', 'timestamp') }} as started_at,
        {{ airflow_audit_column(raw, 'end_date', 'timestamp') }} as ended_at,
        {{ airflow_audit_column(raw, 'duration', 'bigint') }} as duration_s,
        {{ airflow_audit_column(raw, 'reschedule_date', 'timestamp') }} as rescheduled_to_at,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        task_reschedule_id,
        case
            when dag_id is not null
                then {{ airflow_audit_staging_key('task_instance_key') }}
        end as task_instance_key,
        task_instance_id,
        dag_id,
        task_id,
        run_id,
        map_index,
        try_number,
        started_at,
        ended_at,
        duration_s,
        rescheduled_to_at,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
