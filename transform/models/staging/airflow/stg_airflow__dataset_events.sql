{#- dataset_event: one row per dataset update a task (or, on 3.x, the API or a watcher) produced. extra never
    leaves. -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'dataset_event')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'id', 'bigint') }} as dataset_event_id,
        {{ airflow_audit_column(raw, 'dataset_id', 'bigint') }} as dataset_id,
        {{ airflow_audit_column(raw, 'source_dag_id', 'string') }} as source_dag_id,
        {{ airflow_audit_column(raw, 'source_task_id', 'string') }} as source_task_id,
        {{ airflow_audit_column(raw, 'source_run_id', 'string') }} as source_run_id,
        {{ airflow_audit_column(raw, 'source_map_index', 'bigint') }} as source_map_index,
        {{ airflow_audit_column(raw, 'timestamp', 'timestamp') }} as produced_at,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        dataset_event_id,
        dataset_id,
        source_dag_id,
        source_task_id,
        source_run_id,
        source_map_index,
        produced_at,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
