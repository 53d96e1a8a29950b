{#- backfill: one row per backfill requested through Airflow 3's API or UI (empty on 2.x, where backfills
    are CLI BackfillJobs in `job`). dag_run_conf is not read. -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'backfill')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'id', 'bigint') }} as backfill_id,
        {{ airflow_audit_column(raw, 'dag_id', 'string') }} as dag_id,
        {{ airflow_audit_column(raw, 'from_date', 'timestamp') }} as from_at,
        {{ airflow_audit_column(raw, 'to_date', 'timestamp') }} as to_at,
        {{ airflow_audit_column(raw, 'is_paused', 'boolean') }} as is_paused,
        {{ airflow_audit_column(raw, 'reprocess_behavior', 'string') }} as reprocess_behavior,
        {{ airflow_audit_column(raw, 'max_active_runs', 'bigint') }} as max_active_runs,
        {{ airflow_audit_column(raw, 'triggering_user_name', 'string') }} as triggering_user_name,
        {{ airflow_audit_column(raw, 'created_at', 'timestamp') }} as created_at,
        {{ airflow_audit_column(raw, 'completed_at', 'timestamp') }} as completed_at,
        {{ airflow_audit_column(raw, 'updated_at', 'timestamp') }} as updated_at,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        backfill_id,
        dag_id,
        from_at,
        to_at,
        is_paused,
        reprocess_behavior,
        max_active_runs,
        triggering_user_name,
        created_at,
        completed_at,
        updated_at,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
