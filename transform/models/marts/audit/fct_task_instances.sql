{#- One row per task instance (dag_id, task_id, run_id, map_index) as loaded, describing its latest try.
    Task instances deleted at the source are kept (archive mode), flagged by is_deleted_at_source. -#}

with

task_instances as (

    select * from {{ ref('stg_airflow__task_instances') }}

),

measured as (

    select
        task_instance_key,
        task_instance_id,
        dag_run_key,
        dag_id,
        task_id,
        run_id,
        map_index,
        is_mapped,
        state,
        try_number,
        max_tries,
        queued_at,
        started_at,
        ended_at,
        -- Airflow's own figure when it recorded one, else the span of the timestamps.
        coalesce(
            duration_s,
            case
                when ended_at >= started_at
                    then cast({{ dbt.datediff('started_at', 'ended_at', 'second') }} as {{ dbt.type_numeric() }})
            end
        ) as duration_s,
        -- queued_at belongs to the latest try; with reschedules it can postdate started_at: no negatives.
        case
            when started_at >= queued_at
                then {{ dbt.datediff('queued_at', 'started_at', 'second') }}
        end as queued_s,
        operator,
        pool,
        pool_slots,
        queue,
        priority_weight,
        executor,
        hostname,
        is_deleted_at_source,
        deleted_at_source_at

    from task_instances

),

final as (

    select
        task_instance_key,
        task_instance_id,
        dag_run_key,
        dag_id,
        task_id,
        run_id,
        map_index,
        is_mapped,
        state,
        try_number,
        max_tries,
        queued_at,
        started_at,
        ended_at,
        duration_s,
        queued_s,
        operator,
        pool,
        pool_slots,
        queue,
        priority_weight,
        executor,
        hostname,
        is_deleted_at_source,
        deleted_at_source_at

    from measured

)

select * from final
