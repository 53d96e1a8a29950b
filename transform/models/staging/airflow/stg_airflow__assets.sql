{#- asset: Airflow 3's assets (2.x: stg_airflow__datasets). name and uri arrive masked where they hold
    credentials; extra never leaves. -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'asset')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'id', 'bigint') }} as asset_id,
        {{ airflow_audit_column(raw, 'name', 'string') }} as asset_name,
        {{ airflow_audit_column(raw, 'uri', 'string') }} as uri,
        {{ airflow_audit_column(raw, 'group', 'string') }} as asset_group,
        {{ airflow_audit_column(raw, 'created_at', 'timestamp') }} as created_at,
        {{ airflow_audit_column(raw, 'updated_at', 'timestamp') }} as updated_at,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        asset_id,
        asset_name,
        uri,
        asset_group,
        created_at,
        updated_at,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
