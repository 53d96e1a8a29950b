{#- One row per DAG run as loaded. Runs deleted at the source are kept (archive mode), flagged by
    is_deleted_at_source: Airflow's `db clean` purges old runs, and the audit trail should outlive it. -#}

with

dag_runs as (

    select * from {{ ref('stg_airflow__dag_runs') }}

),

classified as (

    select
        dag_run_key,
        dag_run_id,
        dag_id,
        run_id,
        run_type,
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
        queued_at,
        started_at,
        ended_at,
        clear_number,
        backfill_id,
        is_deleted_at_source,
        deleted_at_source_at

    from dag_runs

),

measured as (

    select
        *,
        -- A run re-queued by a clear can carry timestamps from different attempts: no negative spans.
        case
            when ended_at >= started_at
                then {{ dbt.datediff('started_at', 'ended_at', 'second') }}
        end as duration_s,
        case
            when started_at >= queued_at
                then {{ dbt.datediff('queued_at', 'started_at', 'second') }}
        end as queue_delay_s

    from classified

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
        queued_at,
        started_at,
        ended_at,
        duration_s,
        queue_delay_s,
        clear_number,
        backfill_id,
        is_deleted_at_source,
        deleted_at_source_at

    from measured

)

select * from final
