{#- log: Airflow's audit log. 2.x: execution_date; 3.x: logical_date. run_id and owner_display_name arrive
    in 2.8/2.9, try_number in 2.10; older versions give nulls. The event is kept as Airflow wrote it: the
    marts classify it (fct_audit_events). -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'log')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'id', 'bigint') }} as log_id,
        {{ airflow_audit_column(raw, 'dttm', 'timestamp') }} as logged_at,
        {{ airflow_audit_column(raw, 'event', 'string') }} as event,
        {{ airflow_audit_column(raw, 'dag_id', 'string') }} as dag_id,
        {{ airflow_audit_column(raw, 'task_id', 'string') }} as task_id,
        {{ airflow_audit_column(raw, 'run_id', 'string') }} as run_id,
        {{ airflow_audit_column(raw, 'map_index', 'bigint') }} as map_index,
        {{ airflow_audit_column(raw, 'try_number', 'bigint') }} as try_number,
        -- 2.x: execution_date; 3.x: logical_date
        {{ airflow_audit_column(raw, 'logical_date', 'timestamp') }} as raw_logical_date,
        {{ airflow_audit_column(raw, 'execution_date', 'timestamp') }} as raw_execution_date,
        {{ airflow_audit_column(raw, 'owner', 'string') }} as owner,
        {{ airflow_audit_column(raw, 'owner_display_name', 'string') }} as owner_display_name,
        {{ airflow_audit_column(raw, 'extra', 'string') }} as extra,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        log_id,
        logged_at,
        event,
        dag_id,
        task_id,
        run_id,
        map_index,
        try_number,
        coalesce(raw_logical_date, raw_execution_date) as logical_at,
        owner,
        owner_display_name,
        extra,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
