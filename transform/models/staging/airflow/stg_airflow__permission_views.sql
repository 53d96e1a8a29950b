{#- ab_permission_view: a Flask-AppBuilder permission (action, e.g. can_edit) on a view menu (resource, e.g.
    `DAG Runs`). Built in on Airflow 2.x; on 3.x only with the FAB auth provider, else empty. -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'ab_permission_view')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'id', 'bigint') }} as permission_view_id,
        {{ airflow_audit_column(raw, 'permission_id', 'bigint') }} as permission_id,
        {{ airflow_audit_column(raw, 'view_menu_id', 'bigint') }} as view_menu_id,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        permission_view_id,
        permission_id,
        view_menu_id,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
