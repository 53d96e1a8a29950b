{#- dagrun_asset_event: which asset events queued which DAG run (the consumer side). -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'dagrun_asset_event')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'dag_run_id', 'bigint') }} as dag_run_id,
        {{ airflow_audit_column(raw, 'event_id', 'bigint') }} as asset_event_id,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        {{ airflow_audit_surrogate_key(['dag_run_id', 'asset_event_id']) }} as dagrun_asset_event_key,
        dag_run_id,
        asset_event_id,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
