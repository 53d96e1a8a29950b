{#- One row per DAG run as loaded. Runs deleted at the source are kept (archive mode), flagged by
    is_deleted_at_source: Airflow's `db clean` purges old runs, and the audit trail should outlive it.
    On Airflow 3, the DAG version the run was created from (dag_version, when synced). -#}

{#- keeps the days of what it replaces for rpt_dag_daily_health (int_dag_days_replaced) -#}
{%- set partitions = airflow_audit_partitioned(
    'airflow_audit_dag_run_partitions', keep_replaced_days='airflow_audit_run_date') -%}

with

dag_runs as (

    {{ airflow_audit_staged_in_partitions(ref('stg_airflow__dag_runs'), partitions) }}

),

dag_run_notes as (

    select * from {{ ref('stg_airflow__dag_run_notes') }}

),

dag_versions as (

    select * from {{ ref('stg_airflow__dag_versions') }}

),

classified as (

    select
        dag_run_key,
        dag_run_id,
        dag_id,
        run_id,
        run_type,
        -- The same vocabulary on Airflow 2 and 3, from the run type both versions record.
        case
            when run_type = 'scheduled' then 'scheduled'
            when run_type = 'manual' then 'manual'
            when run_type = 'backfill' then 'backfill'
            when run_type in ('dataset_triggered', 'asset_triggered') then 'asset'
            else 'other'
        end as trigger_method,
        triggered_by,
        is_externally_triggered,
        triggering_user_name,
        state,
        logical_at,
        data_interval_start_at,
        data_interval_end_at,
        run_after_at,
        queued_at,
        started_at,
        ended_at,
        clear_number,
        backfill_id,
        dag_version_id,
        is_deleted_at_source,
        deleted_at_source_at

    from dag_runs

),

measured as (

    select
        *,
        -- Milliseconds, then seconds: fractional, the same on every warehouse. A run re-queued by a clear
        -- can carry timestamps from different attempts: no negative spans.
        case
            when ended_at >= started_at
                then {{ dbt.datediff('started_at', 'ended_at', 'millisecond') }} / 1000.0
        end as duration_s,
        case
            when started_at >= queued_at
                then {{ dbt.datediff('queued_at', 'started_at', 'millisecond') }} / 1000.0
        end as queue_delay_s

    from classified

),

noted as (

    select
        measured.*,
        dag_run_notes.note,
        dag_run_notes.note_user_id,
        dag_run_notes.updated_at as note_updated_at,
        dag_versions.version_number as dag_version_number

    from measured
    left join dag_run_notes
        on measured.dag_run_id = dag_run_notes.dag_run_id
    left join dag_versions
        on measured.dag_version_id = dag_versions.dag_version_id

),

final as (

    select
        dag_run_key,
        dag_run_id,
        dag_id,
        run_id,
        run_type,
        trigger_method,
        triggered_by,
        is_externally_triggered,
        triggering_user_name,
        state,
        logical_at,
        data_interval_start_at,
        data_interval_end_at,
        run_after_at,
        queued_at,
        started_at,
        ended_at,
        cast(duration_s as {{ airflow_audit_type('seconds') }}) as duration_s,
        cast(queue_delay_s as {{ airflow_audit_type('seconds') }}) as queue_delay_s,
        clear_number,
        backfill_id,
        dag_version_id,
        dag_version_number,
        note,
        note_user_id,
        note_updated_at,
        is_deleted_at_source,
        deleted_at_source_at,
        {{ airflow_audit_built_at() }} as airflow_audit_built_at

    from noted

)

select * from final
