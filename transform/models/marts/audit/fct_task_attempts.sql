{#- One row per known try (attempt) of a task instance.

    Where attempts come from, whatever the Airflow version:
    - task_instance_history (2.10+): every earlier try, written when a task instance is retried or cleared;
    - task_instance: the current try, when the task instance is at or past running (a queued or scheduled
      task instance has not started the try its try_number names, and on Airflow < 2.10 try_number still
      names the previous try then);
    - task_fail (2.x): failed tries. On 2.10 each one is also in the history or is the current try (same
      task instance, same start); on 2.4-2.9 (no history table) it is the only trace of earlier failures,
      and Airflow did not record which try number failed.
    A try both in the history and current (Airflow writes the history row when the failure is handled)
    is kept once, from task_instance. attempt_number numbers the known attempts of a task instance from 1:
    by try_number, task_fail rows (no try number) first, by their start. -#}

{#- keeps what it replaces for rpt_pool_hourly_usage (int_pool_attempts_replaced), and the days of it for
    rpt_dag_daily_health (int_dag_days_replaced) -#}
{%- set partitions = airflow_audit_partitioned(
    'airflow_audit_task_instance_partitions', keep_replaced_attempts=true,
    keep_replaced_days='airflow_audit_attempt_date') -%}
{#- its windows hold about all its rows: under a memory limit a whole build spills from the start -#}
{{ config(
    pre_hook="{{ airflow_audit_out_of_core('airflow_audit_task_instance_partitions', true) }}",
    post_hook="{{ airflow_audit_out_of_core('airflow_audit_task_instance_partitions', false) }}") }}

with

task_instances as (

    {{ airflow_audit_staged_in_partitions(ref('stg_airflow__task_instances'), partitions) }}

),

task_instance_histories as (

    {{ airflow_audit_staged_in_partitions(ref('stg_airflow__task_instance_histories'), partitions) }}

),

task_fails as (

    {{ airflow_audit_staged_in_partitions(ref('stg_airflow__task_fails'), partitions) }}

),

current_tries as (

    select
        task_instance_key,
        dag_run_key,
        dag_id,
        task_id,
        run_id,
        map_index,
        try_number,
        state,
        max_tries,
        queued_at,
        started_at,
        ended_at,
        duration_s,
        operator,
        pool,
        pool_slots,
        queue,
        executor,
        hostname,
        retry_reason,
        cast(null as {{ dbt.type_bigint() }}) as task_fail_id,
        'task_instance' as attempt_source,
        1 as source_priority,
        is_deleted_at_source,
        deleted_at_source_at

    from task_instances
    where
        try_number >= 1
        and (
            state in (
                'running', 'success', 'failed', 'up_for_retry', 'up_for_reschedule', 'deferred',
                'restarting', 'shutdown'
            )
            -- a task that skipped itself at run time ran; one skipped by a branch never started
            or (state = 'skipped' and started_at is not null)
        )
        -- a row Airflow 3 re-keyed: its try is in the history
        and {{ airflow_audit_not_rekeyed() }}

),

earlier_tries as (

    select
        task_instance_key,
        dag_run_key,
        dag_id,
        task_id,
        run_id,
        map_index,
        try_number,
        state,
        max_tries,
        queued_at,
        started_at,
        ended_at,
        duration_s,
        operator,
        pool,
        pool_slots,
        queue,
        executor,
        hostname,
        retry_reason,
        cast(null as {{ dbt.type_bigint() }}) as task_fail_id,
        'task_instance_history' as attempt_source,
        2 as source_priority,
        is_deleted_at_source,
        deleted_at_source_at

    from task_instance_histories

),

known_tries as (

    select * from current_tries
    union all
    select * from earlier_tries

),

deduplicated_tries as (

    select
        *,
        row_number() over (
            partition by task_instance_key, try_number, is_deleted_at_source
            order by source_priority
        ) as rank_in_try

    from known_tries

),

-- task_fail rows that no known try accounts for (Airflow < 2.10, or history rows gone).
unmatched_failures as (

    select
        task_fails.task_instance_key,
        task_fails.dag_run_key,
        task_fails.dag_id,
        task_fails.task_id,
        task_fails.run_id,
        task_fails.map_index,
        cast(null as {{ dbt.type_bigint() }}) as try_number,
        'failed' as state,
        cast(null as {{ dbt.type_bigint() }}) as max_tries,
        cast(null as {{ dbt.type_timestamp() }}) as queued_at,
        task_fails.started_at,
        task_fails.ended_at,
        cast(task_fails.duration_s as {{ airflow_audit_type('seconds') }}) as duration_s,
        cast(null as {{ dbt.type_string() }}) as operator,
        cast(null as {{ dbt.type_string() }}) as pool,
        cast(null as {{ dbt.type_bigint() }}) as pool_slots,
        cast(null as {{ dbt.type_string() }}) as queue,
        cast(null as {{ dbt.type_string() }}) as executor,
        cast(null as {{ dbt.type_string() }}) as hostname,
        cast(null as {{ dbt.type_string() }}) as retry_reason,
        task_fails.task_fail_id,
        'task_fail' as attempt_source,
        3 as source_priority,
        task_fails.is_deleted_at_source,
        task_fails.deleted_at_source_at

    from task_fails
    -- Two anti-joins on equalities (a try with the same start; without a start, the same end)
    -- rather than one join on an OR, which warehouses run as a nested loop.
    where
        not exists (
            select 1
            from known_tries
            where
                known_tries.task_instance_key = task_fails.task_instance_key
                and known_tries.started_at = task_fails.started_at
        )
        and not (
            task_fails.started_at is null
            and exists (
                select 1
                from known_tries
                where
                    known_tries.task_instance_key = task_fails.task_instance_key
                    and known_tries.ended_at = task_fails.ended_at
            )
        )

),

attempts as (

    select
        task_instance_key,
        dag_run_key,
        dag_id,
        task_id,
        run_id,
        map_index,
        try_number,
        state,
        max_tries,
        queued_at,
        started_at,
        ended_at,
        duration_s,
        operator,
        pool,
        pool_slots,
        queue,
        executor,
        hostname,
        retry_reason,
        task_fail_id,
        attempt_source,
        is_deleted_at_source,
        deleted_at_source_at

    from deduplicated_tries
    where rank_in_try = 1

    union all

    select
        task_instance_key,
        dag_run_key,
        dag_id,
        task_id,
        run_id,
        map_index,
        try_number,
        state,
        max_tries,
        queued_at,
        started_at,
        ended_at,
        duration_s,
        operator,
        pool,
        pool_slots,
        queue,
        executor,
        hostname,
        retry_reason,
        task_fail_id,
        attempt_source,
        is_deleted_at_source,
        deleted_at_source_at

    from unmatched_failures

),

numbered as (

    select
        *,
        -- the try as a label: its number, or the task_fail row that is its only trace
        coalesce(
            cast(try_number as {{ dbt.type_string() }}),
            {{ dbt.concat(["'task_fail-'", 'cast(task_fail_id as ' ~ dbt.type_string() ~ ')']) }}
        ) as try_label,
        row_number() over (
            partition by task_instance_key
            order by
                coalesce(try_number, 0),
                coalesce(started_at, ended_at),
                task_fail_id
        ) as attempt_number,
        -- the last attempt is the one numbered as many as there are (one sort, and exactly one last)
        count(*) over (partition by task_instance_key) as attempt_count

    from attempts

),

measured as (

    select
        {{ airflow_audit_surrogate_key(['dag_id', 'task_id', 'run_id', 'map_index', 'try_label']) }}
            as task_attempt_key,
        task_instance_key,
        dag_run_key,
        dag_id,
        task_id,
        run_id,
        map_index,
        try_number,
        attempt_number,
        attempt_number = attempt_count as is_last_attempt,
        state,
        -- up_for_retry: this try failed and another will follow
        state in ('failed', 'up_for_retry') as is_failed,
        max_tries,
        queued_at,
        started_at,
        ended_at,
        coalesce(
            duration_s,
            case
                when ended_at >= started_at
                    then {{ dbt.datediff('started_at', 'ended_at', 'millisecond') }} / 1000.0
            end
        ) as duration_s,
        case
            when started_at >= queued_at
                then {{ dbt.datediff('queued_at', 'started_at', 'millisecond') }} / 1000.0
        end as queued_s,
        operator,
        pool,
        pool_slots,
        queue,
        executor,
        hostname,
        retry_reason,
        task_fail_id,
        attempt_source,
        is_deleted_at_source,
        deleted_at_source_at

    from numbered

),

final as (

    select
        task_attempt_key,
        task_instance_key,
        dag_run_key,
        dag_id,
        task_id,
        run_id,
        map_index,
        try_number,
        attempt_number,
        is_last_attempt,
        state,
        is_failed,
        max_tries,
        queued_at,
        started_at,
        ended_at,
        cast(duration_s as {{ airflow_audit_type('seconds') }}) as duration_s,
        cast(queued_s as {{ airflow_audit_type('seconds') }}) as queued_s,
        operator,
        pool,
        pool_slots,
        queue,
        executor,
        hostname,
        retry_reason,
        task_fail_id,
        attempt_source,
        is_deleted_at_source,
        deleted_at_source_at,
        {{ airflow_audit_built_at() }} as airflow_audit_built_at

    from measured

)

select * from final
