{#- task_fail exists on Airflow 2.x only: on 3.x this model is empty. -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'task_fail')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'id', 'bigint') }} as task_fail_id,
        {{ airflow_audit_column(raw, 'dag_id', 'string') }} as dag_id,
        {{ airflow_audit_column(raw, 'task_id', 'string') }} as task_id,
        {{ airflow_audit_column(raw, 'run_id', 'string') }} as run_id,
        {{ airflow_audit_column(raw, 'map_index', 'bigint') }} as map_index,
        {{ airflow_audit_column(raw, 'start_date', 'timestamp') }} as started_at,
        {{ airflow_audit_column(raw, 'end_date', 'timestamp') }} as ended_at,
        {{ airflow_audit_column(raw, 'duration', 'bigint') }} as duration_s,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        task_fail_id,
        {{ airflow_audit_staging_key('task_instance_key') }} as task_instance_key,
        {{ airflow_audit_staging_key('dag_run_key') }} as dag_run_key,
        dag_id,
        task_id,
        run_id,
        map_index,
        started_at,
        ended_at,
        duration_s,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
