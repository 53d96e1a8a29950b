{#- One row per pool and hour (UTC) in which task attempts of that pool held slots. An attempt holds its
    task instance's pool_slots from its start to its end; one still running at the latest sync
    (int_latest_sync) holds them until the sync; none holds them for more than 1,000 hours (from the start
    of the hour it started in: a task instance left running by a lost worker would otherwise hold them
    until the sync). Attempts without a start, or neither ended nor running (deferred, up for
    reschedule), hold none: Airflow frees their slots (deferred ones take slots only in a pool with
    include_deferred, which is not counted here).
      slot_seconds_used   the slot-seconds the attempts held within the hour
      utilisation         slot_seconds_used / (slots x 3600), slots being the pool's size at the sync
                          (null for an unlimited pool, -1 slots, or one no longer in slot_pool)
      peak_slots_used     the most slots held at one instant of the hour
      is_saturated        peak_slots_used reached the pool's size: tasks may have waited for a slot
      attempts_started, queued_s_median   attempts that started in the hour, and the median of their
                          time from queued to started (a pool under pressure makes tasks wait) -#}

{%- set max_hours = 1000 -%}

with

synced as (

    select synced_at from {{ ref('int_latest_sync') }}

),

pools as (

    select
        pool_name,
        slots

    from {{ ref('stg_airflow__pools') }}
    where not is_deleted_at_source

),

task_slots as (

    select
        task_instance_key,
        coalesce(pool_slots, 1) as pool_slots

    from {{ ref('fct_task_instances') }}

),

attempts as (

    select
        attempts.pool as pool_name,
        coalesce(task_slots.pool_slots, 1) as pool_slots,
        attempts.queued_at,
        attempts.started_at,
        case
            when
                coalesce(attempts.ended_at, synced.synced_at)
                < {{ dbt.dateadd('hour', max_hours, dbt.date_trunc('hour', 'attempts.started_at')) }}
                then coalesce(attempts.ended_at, synced.synced_at)
            else {{ dbt.dateadd('hour', max_hours, dbt.date_trunc('hour', 'attempts.started_at')) }}
        end as held_until

    from {{ ref('fct_task_attempts') }} as attempts
    cross join synced
    left join task_slots on attempts.task_instance_key = task_slots.task_instance_key
    where
        attempts.pool is not null
        and attempts.started_at is not null
        and (attempts.ended_at is not null or attempts.state in ('running', 'restarting'))

),

digits as (

    select 0 as digit
    union all
    select 1 as digit
    union all
    select 2 as digit
    union all
    select 3 as digit
    union all
    select 4 as digit
    union all
    select 5 as digit
    union all
    select 6 as digit
    union all
    select 7 as digit
    union all
    select 8 as digit
    union all
    select 9 as digit

),

hour_offsets as (

    select ones.digit + 10 * tens.digit + 100 * hundreds.digit as hour_offset
    from digits as ones
    cross join digits as tens
    cross join digits as hundreds

),

attempt_hours as (

    select
        attempts.pool_name,
        attempts.pool_slots,
        attempts.queued_at,
        attempts.started_at,
        attempts.held_until,
        {{ dbt.dateadd('hour', 'hour_offsets.hour_offset', dbt.date_trunc('hour', 'attempts.started_at')) }}
            as hour_start

    from attempts
    inner join hour_offsets
        on hour_offsets.hour_offset <= {{ dbt.datediff(
            dbt.date_trunc('hour', 'attempts.started_at'), 'attempts.held_until', 'hour') }}

),

held as (

    select
        attempt_hours.*,
        {{ dbt.dateadd('hour', 1, 'attempt_hours.hour_start') }} as hour_end

    from attempt_hours

),

per_hour as (

    select
        pool_name,
        hour_start,
        sum(
            pool_slots * {{ dbt.datediff(
                'greatest(started_at, hour_start)', 'least(held_until, hour_end)', 'millisecond') }} / 1000.0
        ) as slot_seconds_used,
        sum(case when started_at < hour_start then pool_slots else 0 end) as slots_held_at_start,
        sum(case when started_at >= hour_start then 1 else 0 end) as attempts_started,
        {{ airflow_audit_percentile(
            'case when started_at >= hour_start and started_at >= queued_at then '
            ~ dbt.datediff('queued_at', 'started_at', 'millisecond') ~ ' / 1000.0 end', 0.5) }}
            as queued_s_median

    from held
    where held_until > hour_start
    group by pool_name, hour_start

),

-- Slots held after each start (+) and end (-), ends first at the same instant.
events as (

    select
        pool_name,
        started_at as happened_at,
        1 as event_order,
        pool_slots as slot_change

    from attempts

    union all

    select
        pool_name,
        held_until as happened_at,
        0 as event_order,
        -pool_slots as slot_change

    from attempts

),

levels as (

    select
        pool_name,
        happened_at,
        sum(slot_change) over (
            partition by pool_name order by happened_at, event_order
            rows between unbounded preceding and current row
        ) as slots_held

    from events

),

peaks as (

    select
        pool_name,
        {{ dbt.date_trunc('hour', 'happened_at') }} as hour_start,
        max(slots_held) as peak_at_events

    from levels
    group by pool_name, {{ dbt.date_trunc('hour', 'happened_at') }}

),

final as (

    select
        {{ airflow_audit_surrogate_key(['per_hour.pool_name', 'per_hour.hour_start']) }} as pool_hour_key,
        per_hour.pool_name,
        per_hour.hour_start,
        case when pools.slots > 0 then pools.slots end as slots,
        per_hour.slot_seconds_used,
        case
            when pools.slots > 0 then per_hour.slot_seconds_used / (pools.slots * 3600.0)
        end as utilisation,
        greatest(coalesce(peaks.peak_at_events, 0), per_hour.slots_held_at_start) as peak_slots_used,
        coalesce(
            pools.slots > 0
            and greatest(coalesce(peaks.peak_at_events, 0), per_hour.slots_held_at_start) >= pools.slots,
            false
        ) as is_saturated,
        per_hour.attempts_started,
        per_hour.queued_s_median

    from per_hour
    left join peaks
        on
            per_hour.pool_name = peaks.pool_name
            and per_hour.hour_start = peaks.hour_start
    left join pools on per_hour.pool_name = pools.pool_name

)

select * from final
