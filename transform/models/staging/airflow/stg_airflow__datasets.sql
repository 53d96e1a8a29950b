{#- dataset: Airflow 2's datasets (3.x renamed them assets: stg_airflow__assets). uri arrives masked where
    it holds credentials; extra never leaves. is_orphaned arrives in 2.7. -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'dataset')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'id', 'bigint') }} as dataset_id,
        {{ airflow_audit_column(raw, 'uri', 'string') }} as uri,
        {{ airflow_audit_column(raw, 'is_orphaned', 'boolean') }} as is_orphaned,
        {{ airflow_audit_column(raw, 'created_at', 'timestamp') }} as created_at,
        {{ airflow_audit_column(raw, 'updated_at', 'timestamp') }} as updated_at,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        dataset_id,
        uri,
        is_orphaned,
        created_at,
        updated_at,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
