{%- set raw = airflow_audit_inspect_source(source('airflow', 'dag_run')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'id', 'bigint') }} as dag_run_id,
        {{ airflow_audit_column(raw, 'dag_id', 'string') }} as dag_id,
        {{ airflow_audit_column(raw, 'run_id', 'string') }} as run_id,
        {{ airflow_audit_column(raw, 'run_type', 'string') }} as run_type,
        {{ airflow_audit_column(raw, 'state', 'string') }} as state,
        -- 2.x: execution_date (not null); 3.x: logical_date (nullable)
        {{ airflow_audit_column(raw, 'logical_date', 'timestamp') }} as raw_logical_date,
        {{ airflow_audit_column(raw, 'execution_date', 'timestamp') }} as raw_execution_date,
        {{ airflow_audit_column(raw, 'data_interval_start', 'timestamp') }} as data_interval_start_at,
        {{ airflow_audit_column(raw, 'data_interval_end', 'timestamp') }} as data_interval_end_at,
        {{ airflow_audit_column(raw, 'run_after', 'timestamp') }} as run_after_at,
        {{ airflow_audit_column(raw, 'queued_at', 'timestamp') }} as queued_at,
        {{ airflow_audit_column(raw, 'start_date', 'timestamp') }} as started_at,
        {{ airflow_audit_column(raw, 'end_date', 'timestamp') }} as ended_at,
        {{ airflow_audit_column(raw, 'last_scheduling_decision', 'timestamp') }} as last_scheduling_decision_at,
        {{ airflow_audit_column(raw, 'created_at', 'timestamp') }} as created_at,
        {{ airflow_audit_column(raw, 'updated_at', 'timestamp') }} as updated_at,
        -- 2.x: external_trigger; 3.x: triggered_by
        {{ airflow_audit_column(raw, 'external_trigger', 'boolean') }} as raw_external_trigger,
        -- Airflow 3 stores DagRunTriggeredByType member names (TIMETABLE, UI, ...): compare in lowercase
        lower({{ airflow_audit_column(raw, 'triggered_by', 'string') }}) as raw_triggered_by,
        {{ airflow_audit_column(raw, 'triggering_user_name', 'string') }} as triggering_user_name,
        {{ airflow_audit_column(raw, 'creating_job_id', 'bigint') }} as creating_job_id,
        {{ airflow_audit_column(raw, 'scheduled_by_job_id', 'bigint') }} as scheduled_by_job_id,
        {{ airflow_audit_column(raw, 'backfill_id', 'bigint') }} as backfill_id,
        {{ airflow_audit_column(raw, 'clear_number', 'bigint') }} as clear_number,
        {{ airflow_audit_column(raw, 'created_dag_version_id', 'string') }} as dag_version_id,
        {{ airflow_audit_column(raw, 'bundle_version', 'string') }} as bundle_version,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        {{ airflow_audit_staging_key('dag_run_key') }} as dag_run_key,
        dag_run_id,
        dag_id,
        run_id,
        run_type,
        state,
        coalesce(raw_logical_date, raw_execution_date) as logical_at,
        data_interval_start_at,
        data_interval_end_at,
        run_after_at,
        queued_at,
        started_at,
        ended_at,
        last_scheduling_decision_at,
        created_at,
        updated_at,
        coalesce(
            raw_triggered_by,
            -- Airflow 2 records only whether the run came from outside the scheduler, not through what
            case
                when raw_external_trigger then 'external'
                when run_type = 'scheduled' then 'timetable'
                when run_type in ('dataset_triggered', 'asset_triggered') then 'asset'
                when run_type = 'backfill' then 'backfill'
            end
        ) as triggered_by,
        coalesce(
            raw_external_trigger,
            raw_triggered_by in ('cli', 'operator', 'rest_api', 'ui', 'test')
        ) as is_externally_triggered,
        triggering_user_name,
        creating_job_id,
        scheduled_by_job_id,
        backfill_id,
        clear_number,
        dag_version_id,
        bundle_version,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
