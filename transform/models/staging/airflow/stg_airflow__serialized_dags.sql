{#- serialized_dag: one row per DAG (2.x) or per DAG version (3.x) as the DAG processor serialized
    it, with Airflow's own hash of that serialization (dag_hash, which changes when the DAG's code
    changes what Airflow serializes: a task added or removed, an argument changed). The serialization
    itself (data, data_compressed: param defaults, templated fields' literal values) is never read:
    the extractor leaves it out. -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'serialized_dag')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'id', 'string') }} as serialized_dag_id,
        {{ airflow_audit_column(raw, 'dag_id', 'string') }} as dag_id,
        {{ airflow_audit_column(raw, 'dag_hash', 'string') }} as dag_hash,
        {{ airflow_audit_column(raw, 'dag_version_id', 'string') }} as dag_version_id,
        {{ airflow_audit_column(raw, 'fileloc', 'string') }} as file_path,
        {{ airflow_audit_column(raw, 'created_at', 'timestamp') }} as created_at,
        {{ airflow_audit_column(raw, 'last_updated', 'timestamp') }} as last_updated_at,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        coalesce(serialized_dag_id, dag_id) as serialized_dag_key,
        serialized_dag_id,
        dag_id,
        dag_hash,
        dag_version_id,
        file_path,
        created_at,
        last_updated_at,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
