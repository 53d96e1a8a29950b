{#- dag_owner_attributes (Airflow 2.4+): the links a DAG declares for its owners (`owner_links`). -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'dag_owner_attributes')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'dag_id', 'string') }} as dag_id,
        {{ airflow_audit_column(raw, 'owner', 'string') }} as owner,
        {{ airflow_audit_column(raw, 'link', 'string') }} as owner_link,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        {{ airflow_audit_surrogate_key(['dag_id', 'owner']) }} as dag_owner_key,
        dag_id,
        owner,
        owner_link,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
