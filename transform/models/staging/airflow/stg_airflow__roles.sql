{#- ab_role: built in on Airflow 2.x; on 3.x only with the FAB auth provider. -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'ab_role')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'id', 'bigint') }} as role_id,
        {{ airflow_audit_column(raw, 'name', 'string') }} as role_name,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        role_id,
        role_name,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
