{#- dag_version: one row per version of a DAG's serialized definition (Airflow 3.x only: empty on 2.x). The
    serialized definition itself (version_data) is not read. -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'dag_version')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'id', 'string') }} as dag_version_id,
        {{ airflow_audit_column(raw, 'dag_id', 'string') }} as dag_id,
        {{ airflow_audit_column(raw, 'version_number', 'bigint') }} as version_number,
        {{ airflow_audit_column(raw, 'bundle_name', 'string') }} as bundle_name,
        {{ airflow_audit_column(raw, 'bundle_version', 'string') }} as bundle_version,
        {{ airflow_audit_column(raw, 'created_at', 'timestamp') }} as created_at,
        {{ airflow_audit_column(raw, 'last_updated', 'timestamp') }} as last_updated_at,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        dag_version_id,
        dag_id,
        version_number,
        bundle_name,
        bundle_version,
        created_at,
        last_updated_at,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
