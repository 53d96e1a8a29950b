{#- ab_view_menu: Flask-AppBuilder view menus, which Airflow calls resources (`DAG Runs`, `Connections`,
    `DAG:<dag_id>` ...). Built in on Airflow 2.x; on 3.x only with the FAB auth provider, else empty. -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'ab_view_menu')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'id', 'bigint') }} as view_menu_id,
        {{ airflow_audit_column(raw, 'name', 'string') }} as view_menu_name,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        view_menu_id,
        view_menu_name,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
