{%- set raw = airflow_audit_inspect_source(source('airflow', 'dag_tag')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'dag_id', 'string') }} as dag_id,
        {{ airflow_audit_column(raw, 'name', 'string') }} as tag_name,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        {{ airflow_audit_surrogate_key(['dag_id', 'tag_name']) }} as dag_tag_key,
        dag_id,
        tag_name,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
