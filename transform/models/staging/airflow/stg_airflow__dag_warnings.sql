{#- dag_warning: what the DAG processor warns about a DAG (a pool it names that does not exist; on 3.x
    also asset conflicts and runtime-varying values). Airflow replaces a DAG's warnings on every parse
    and deletes them once the DAG is clean. The primary key is (dag_id, warning_type). -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'dag_warning')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'dag_id', 'string') }} as dag_id,
        {{ airflow_audit_column(raw, 'warning_type', 'string') }} as warning_type,
        {{ airflow_audit_column(raw, 'message', 'string') }} as message,
        {{ airflow_audit_column(raw, 'timestamp', 'timestamp') }} as raised_at,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        {{ airflow_audit_surrogate_key(['dag_id', 'warning_type']) }} as dag_warning_key,
        dag_id,
        warning_type,
        message,
        raised_at,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
