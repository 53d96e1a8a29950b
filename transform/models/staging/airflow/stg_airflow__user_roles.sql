{#- ab_user_role: which Flask-AppBuilder user holds which role. Built in on Airflow 2.x; on 3.x only with
    the FAB auth provider, else empty. -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'ab_user_role')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'id', 'bigint') }} as user_role_id,
        {{ airflow_audit_column(raw, 'user_id', 'bigint') }} as user_id,
        {{ airflow_audit_column(raw, 'role_id', 'bigint') }} as role_id,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        user_role_id,
        user_id,
        role_id,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
