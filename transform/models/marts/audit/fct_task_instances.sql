{#- One row per task instance (dag_id, task_id, run_id, map_index) as loaded, describing its latest try.
    Task instances deleted at the source are kept (archive mode), flagged by is_deleted_at_source; not the
    rows Airflow 3 re-keyed when it retried or cleared a task instance (airflow_audit_not_rekeyed). -#}

{%- set partitions = airflow_audit_partitioned('airflow_audit_task_instance_partitions') -%}

with

task_instances as (

    {{ airflow_audit_staged_in_partitions(ref('stg_airflow__task_instances'), partitions) }}

),

task_instance_notes as (

    select * from {{ ref('stg_airflow__task_instance_notes') }}

),

-- Airflow 2 keys a note by the natural key, Airflow 3 by the task instance's uuid: one row per key, the
-- note still present at the source first.
notes_by_key as (

    select
        task_instance_key,
        note,
        row_number() over (
            partition by task_instance_key
            order by case when is_deleted_at_source then 1 else 0 end, updated_at desc
        ) as rank_in_key

    from task_instance_notes
    where task_instance_key is not null

),

notes_by_id as (

    select
        task_instance_id,
        note,
        row_number() over (
            partition by task_instance_id
            order by case when is_deleted_at_source then 1 else 0 end, updated_at desc
        ) as rank_in_id

    from task_instance_notes
    where task_instance_id is not null

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
        task_display_name,
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
                    then {{ dbt.datediff('started_at', 'ended_at', 'millisecond') }} / 1000.0
            end
        ) as duration_s,
        -- queued_at belongs to the latest try; with reschedules it can postdate started_at: no negatives.
        case
            when started_at >= queued_at
                then {{ dbt.datediff('queued_at', 'started_at', 'millisecond') }} / 1000.0
        end as queued_s,
        operator,
        custom_operator_name,
        pool,
        pool_slots,
        queue,
        priority_weight,
        executor,
        hostname,
        retry_reason,
        is_deleted_at_source,
        deleted_at_source_at

    from task_instances
    where {{ airflow_audit_not_rekeyed() }}

),

noted as (

    select
        measured.*,
        coalesce(notes_by_key.note, notes_by_id.note) as note

    from measured
    left join notes_by_key
        on
            measured.task_instance_key = notes_by_key.task_instance_key
            and notes_by_key.rank_in_key = 1
    left join notes_by_id
        on
            measured.task_instance_id = notes_by_id.task_instance_id
            and notes_by_id.rank_in_id = 1

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
        task_display_name,
        state,
        try_number,
        max_tries,
        queued_at,
        started_at,
        ended_at,
        cast(duration_s as {{ airflow_audit_type('seconds') }}) as duration_s,
        cast(queued_s as {{ airflow_audit_type('seconds') }}) as queued_s,
        operator,
        custom_operator_name,
        pool,
        pool_slots,
        queue,
        priority_weight,
        executor,
        hostname,
        retry_reason,
        note,
        is_deleted_at_source,
        deleted_at_source_at,
        {{ airflow_audit_built_at() }} as airflow_audit_built_at

    from noted

)

select * from final
