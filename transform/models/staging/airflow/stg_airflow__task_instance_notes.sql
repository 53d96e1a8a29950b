{#- task_instance_note (Airflow 2.5+): one note per task instance. 2.x keys it by the natural key (dag_id,
    task_id, run_id, map_index) and an integer user_id; 3.x by the task instance's uuid (`ti_id`) and a
    string user_id. -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'task_instance_note')) -%}

with

source as (

    select
        -- 3.x only
        {{ airflow_audit_column(raw, 'ti_id', 'string') }} as task_instance_id,
        -- 2.x only
        {{ airflow_audit_column(raw, 'dag_id', 'string') }} as dag_id,
        {{ airflow_audit_column(raw, 'task_id', 'string') }} as task_id,
        {{ airflow_audit_column(raw, 'run_id', 'string') }} as run_id,
        {{ airflow_audit_column(raw, 'map_index', 'bigint') }} as map_index,
        {{ airflow_audit_column(raw, 'user_id', 'string') }} as note_user_id,
        {{ airflow_audit_column(raw, 'content', 'string') }} as note,
        {{ airflow_audit_column(raw, 'created_at', 'timestamp') }} as created_at,
        {{ airflow_audit_column(raw, 'updated_at', 'timestamp') }} as updated_at,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        {{ airflow_audit_surrogate_key(['task_instance_id', 'dag_id', 'task_id', 'run_id', 'map_index']) }}
            as task_instance_note_key,
        case
            when dag_id is not null
                then {{ airflow_audit_staging_key('task_instance_key') }}
        end as task_instance_key,
        task_instance_id,
        dag_id,
        task_id,
        run_id,
        map_index,
        note_user_id,
        note,
        created_at,
        updated_at,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
