{#- sla_miss: Airflow 2.x only (SLAs were removed in 3.0): on 3.x this model is empty. -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'sla_miss')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'dag_id', 'string') }} as dag_id,
        {{ airflow_audit_column(raw, 'task_id', 'string') }} as task_id,
        {{ airflow_audit_column(raw, 'execution_date', 'timestamp') }} as logical_at,
        {{ airflow_audit_column(raw, 'timestamp', 'timestamp') }} as recorded_at,
        {{ airflow_audit_column(raw, 'email_sent', 'boolean') }} as is_email_sent,
        {{ airflow_audit_column(raw, 'notification_sent', 'boolean') }} as is_notification_sent,
        {{ airflow_audit_column(raw, 'description', 'string') }} as description,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        {{ airflow_audit_surrogate_key(['dag_id', 'task_id', 'logical_at']) }} as sla_miss_key,
        dag_id,
        task_id,
        logical_at,
        recorded_at,
        is_email_sent,
        is_notification_sent,
        description,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
