{#- dag_run_note (Airflow 2.5+): one note per DAG run. user_id is FAB's integer user id on 2.x and the auth
    manager's user id (a string) on 3.x: it is kept as a string. -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'dag_run_note')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'dag_run_id', 'bigint') }} as dag_run_id,
        {{ airflow_audit_column(raw, 'user_id', 'string') }} as note_user_id,
        {{ airflow_audit_column(raw, 'content', 'string') }} as note,
        {{ airflow_audit_column(raw, 'created_at', 'timestamp') }} as created_at,
        {{ airflow_audit_column(raw, 'updated_at', 'timestamp') }} as updated_at,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        dag_run_id,
        note_user_id,
        note,
        created_at,
        updated_at,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
