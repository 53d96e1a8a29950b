{#- deadline: one row per deadline a DAG's deadline alerts set on a DAG run (Airflow 3.x only: empty on
    2.x). -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'deadline')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'id', 'string') }} as deadline_id,
        {{ airflow_audit_column(raw, 'dagrun_id', 'bigint') }} as dag_run_id,
        {{ airflow_audit_column(raw, 'deadline_alert_id', 'string') }} as deadline_alert_id,
        {{ airflow_audit_column(raw, 'callback_id', 'string') }} as callback_id,
        {{ airflow_audit_column(raw, 'deadline_time', 'timestamp') }} as deadline_at,
        {{ airflow_audit_column(raw, 'missed', 'boolean') }} as is_missed,
        {{ airflow_audit_column(raw, 'created_at', 'timestamp') }} as created_at,
        {{ airflow_audit_column(raw, 'last_updated_at', 'timestamp') }} as last_updated_at,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        deadline_id,
        dag_run_id,
        deadline_alert_id,
        callback_id,
        deadline_at,
        is_missed,
        created_at,
        last_updated_at,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
