{#- slot_pool: Airflow's pools. include_deferred arrives in 2.7, team_name in 3.x. -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'slot_pool')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'id', 'bigint') }} as pool_id,
        {{ airflow_audit_column(raw, 'pool', 'string') }} as pool_name,
        {{ airflow_audit_column(raw, 'slots', 'bigint') }} as slots,
        {{ airflow_audit_column(raw, 'description', 'string') }} as description,
        {{ airflow_audit_column(raw, 'include_deferred', 'boolean') }} as includes_deferred,
        {{ airflow_audit_column(raw, 'team_name', 'string') }} as team_name,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        pool_id,
        pool_name,
        slots,
        description,
        includes_deferred,
        team_name,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
