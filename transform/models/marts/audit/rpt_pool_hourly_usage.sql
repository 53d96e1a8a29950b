{#- One row per pool and hour (UTC) in which task attempts of that pool held slots. An attempt holds the
    pool_slots Airflow recorded with its try (fct_task_attempts) from its start to its end; one still
    running at the latest sync (int_latest_sync) holds them until the sync; none holds them for more
    than 1,000 hours (from the start of the hour it started in: a task instance left running by a lost
    worker would otherwise hold them until the sync). Attempts without a start, or neither ended nor
    running (deferred, up for reschedule), hold none: Airflow frees their slots (deferred ones take slots
    only in a pool with include_deferred, which is not counted here).
      slot_seconds_used   the slot-seconds the attempts held within the hour
      utilisation         slot_seconds_used / (slots x 3600), slots being the pool's size at the sync
                          (null for an unlimited pool, -1 slots, or one no longer in slot_pool)
      peak_slots_used     the most slots held at one instant of the hour
      is_saturated        peak_slots_used reached the pool's size: tasks may have waited for a slot
      attempts_started, queued_s_median   attempts that started in the hour, and the median of their
                          time from queued to started (a pool under pressure makes tasks wait)
    Each hour is counted from the attempts holding slots in it alone, so the table is incremental by
    pool hour (airflow_audit_pool_hours.sql): an hourly build recomputes the hours of the attempts that
    count otherwise than when it was last built (an attempt found again the same touches none, one still
    running the hours it held since); everything when a pool changed. -#}

{%- set partitions = airflow_audit_partitioned('airflow_audit_pool_hour_partitions') -%}
{{ config(post_hook=[
    "{{ airflow_audit_forget_replaced_attempts() }}", "{{ airflow_audit_keep_unended_attempts() }}"]) }}
-- depends_on: {{ ref('int_pool_attempts_replaced') }}

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

holding as (

    select
        attempts.pool as pool_name,
        coalesce(attempts.pool_slots, 1) as pool_slots,
        attempts.queued_at,
        attempts.started_at,
        {{ airflow_audit_pool_held_until('attempts', 'synced.synced_at') }} as held_until

    from {{ ref('fct_task_attempts') }} as attempts
    cross join synced
    where {{ airflow_audit_holds_slots('attempts') }}

),

-- in a partial build, the attempts around the touched hours
attempts as (

    select * from holding
    where {{ airflow_audit_near_touched_pool_hours('holding', partitions) }}

),

attempt_hours as (

    select
        hours.pool_name,
        hours.pool_slots,
        hours.queued_at,
        hours.started_at,
        hours.held_until,
        {{ dbt.dateadd('hour', 'hours.hour_offset', dbt.date_trunc('hour', 'hours.started_at')) }} as hour_start

    from ({{ airflow_audit_hours_from_start('attempts') }}) as hours

),

-- each attempt in each hour it holds slots in (in a partial build, the touched hours only)
held as (

    select
        attempt_hours.*,
        {{ dbt.dateadd('hour', 1, 'attempt_hours.hour_start') }} as hour_end

    from attempt_hours
    where
        attempt_hours.held_until > attempt_hours.hour_start
        and {{ airflow_audit_in_touched_keys(partitions, partitions.hours_sql, ['pool_name', 'hour_start']) }}

),

per_hour as (

    select
        pool_name,
        hour_start,
        -- summed in whole milliseconds: the same figure whatever order the rows are added in
        sum(
            pool_slots * {{ dbt.datediff(
                'greatest(started_at, hour_start)', 'least(held_until, hour_end)', 'millisecond') }}
        ) / 1000.0 as slot_seconds_used,
        sum(case when started_at < hour_start then pool_slots else 0 end) as slots_held_at_start,
        sum(case when started_at >= hour_start then 1 else 0 end) as attempts_started,
        {{ airflow_audit_percentile(
            'case when started_at >= hour_start and started_at >= queued_at then '
            ~ dbt.datediff('queued_at', 'started_at', 'millisecond') ~ ' / 1000.0 end', 0.5) }}
            as queued_s_median

    from held
    group by pool_name, hour_start

),

-- Within an hour, the slots taken (+) at each start and given back (-) at each end before the hour's
-- end (ends first at the same instant): on top of the slots held at the hour's start, the running sum
-- of these is the slots held after each instant.
changes as (

    select
        pool_name,
        hour_start,
        started_at as happened_at,
        1 as event_order,
        pool_slots as slot_change

    from held
    where started_at >= hour_start

    union all

    select
        pool_name,
        hour_start,
        held_until as happened_at,
        0 as event_order,
        -pool_slots as slot_change

    from held
    where held_until < hour_end

),

-- The running sum is taken over each pool's hours in order, less what the pool's earlier hours add up
-- to, rather than over each (pool, hour) apart: at 10M task instances DuckDB's window over every (pool,
-- hour), or its grouping of the changes by instant, ran out of a 384MB memory limit
-- (AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT); a window per pool does not. Changes at one instant need no
-- grouping: the ends' running sums (going down) stay below the level before the instant, and the
-- starts' (going up) reach the level after it, so the largest is the same.
hour_changes as (

    select
        pool_name,
        hour_start,
        sum(slot_change) as slot_change

    from changes
    group by pool_name, hour_start

),

earlier_hours as (

    select
        pool_name,
        hour_start,
        coalesce(sum(slot_change) over (
            partition by pool_name order by hour_start
            rows between unbounded preceding and 1 preceding
        ), 0) as change_before_hour

    from hour_changes

),

levels as (

    select
        pool_name,
        hour_start,
        sum(slot_change) over (
            partition by pool_name order by hour_start, happened_at, event_order
            rows between unbounded preceding and current row
        ) as change_through_instant

    from changes

),

peaks as (

    select
        levels.pool_name,
        levels.hour_start,
        max(levels.change_through_instant - earlier_hours.change_before_hour) as peak_change

    from levels
    inner join earlier_hours
        on
            levels.pool_name = earlier_hours.pool_name
            and levels.hour_start = earlier_hours.hour_start
    group by levels.pool_name, levels.hour_start

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
        per_hour.slots_held_at_start + greatest(coalesce(peaks.peak_change, 0), 0) as peak_slots_used,
        coalesce(
            pools.slots > 0
            and per_hour.slots_held_at_start + greatest(coalesce(peaks.peak_change, 0), 0) >= pools.slots,
            false
        ) as is_saturated,
        per_hour.attempts_started,
        per_hour.queued_s_median,
        {{ airflow_audit_built_at() }} as airflow_audit_built_at

    from per_hour
    left join peaks
        on
            per_hour.pool_name = peaks.pool_name
            and per_hour.hour_start = peaks.hour_start
    left join pools on per_hour.pool_name = pools.pool_name

)

select * from final
