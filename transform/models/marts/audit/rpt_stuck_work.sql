{#- What was stuck at the latest sync (int_latest_sync), each against its own history:
    * a task instance `running` for longer than its task is allowed: twice the p95 of its successful
      attempts (rpt_task_reliability), at least `airflow_audit_stuck_floor_s` (600 s); a task without a
      successful attempt is allowed `airflow_audit_stuck_without_history_s` (86,400 s);
    * a task instance `queued` or `scheduled` since longer than twice the p95 of the fleet's queue delay
      of finished task instances, at least the same floor;
    * a DAG run `running` whose task instances have not started or ended anything for longer than twice
      the p95 duration of its DAG's successful runs, at least an hour, or a day
      without history.
    Rows deleted at the source are left out: this is the present, not the history. -#}

{%- set floor_s = var('airflow_audit_stuck_floor_s', 600) -%}
{%- set without_history_s = var('airflow_audit_stuck_without_history_s', 86400) -%}
{#- what a waiting task is allowed at least, with or without the fleet's history -#}
{%- set least_allowed_s = [floor_s | float, without_history_s | float] | min -%}

with

sync as (

    select synced_at from {{ ref('int_latest_sync') }}

),

-- Each branch below reads fct_task_instances itself: a CTE of it that they all read, DuckDB would hold in
-- memory whole (at 10M task instances and a 384MB limit: 22 s and 737 MB of peak RSS, against 6 s and
-- 535 MB read by each branch).

running_tasks as (

    select
        'task_running' as kind,
        ti.dag_id,
        ti.task_id,
        ti.run_id,
        ti.map_index,
        ti.state,
        ti.started_at as since_at,
        case
            when history.p95_duration_s is null then {{ without_history_s }}
            when 2 * history.p95_duration_s < {{ floor_s }} then {{ floor_s }}
            else 2 * history.p95_duration_s
        end as allowed_s

    from {{ ref('fct_task_instances') }} as ti
    left join {{ ref('rpt_task_reliability') }} as history
        on ti.dag_id = history.dag_id and ti.task_id = history.task_id
    where not ti.is_deleted_at_source and ti.state = 'running' and ti.started_at is not null

),

waiting as (

    select
        'task_queued' as kind,
        ti.dag_id,
        ti.task_id,
        ti.run_id,
        ti.map_index,
        ti.state,
        ti.queued_at as since_at

    from {{ ref('fct_task_instances') }} as ti
    where not ti.is_deleted_at_source and ti.state in ('queued', 'scheduled') and ti.queued_at is not null

),

-- The fleet's queue p95 reads every finished task instance (0.8 to 1.5 s at 10M task instances). It is
-- computed only when a task has waited longer than any allowance can be short (the floor, or the
-- allowance without history if shorter): in most syncs none has, and then no waiting task is stuck
-- whatever the p95.
queue_history as (

    select {{ airflow_audit_percentile('queued_s', 0.95) }} as p95_queued_s
    from {{ ref('fct_task_instances') }}
    where
        not is_deleted_at_source and state in ('success', 'failed') and queued_s is not null
        and exists (
            select 1
            from waiting
            cross join sync
            where {{ dbt.datediff('waiting.since_at', 'sync.synced_at', 'second') }} > {{ least_allowed_s }}
        )

),

waiting_tasks as (

    select
        waiting.*,
        case
            when queue_history.p95_queued_s is null then {{ without_history_s }}
            when 2 * queue_history.p95_queued_s < {{ floor_s }} then {{ floor_s }}
            else 2 * queue_history.p95_queued_s
        end as allowed_s

    from waiting
    cross join queue_history

),

-- the DAG runs measured below (running_runs)
running_run_keys as (

    select dag_run_key
    from {{ ref('fct_dag_runs') }}
    where state = 'running' and not is_deleted_at_source

),

run_activity as (

    select
        task_instances.dag_run_key,
        max(
            case
                when
                    task_instances.ended_at is not null
                    and (task_instances.started_at is null or task_instances.ended_at > task_instances.started_at)
                    then task_instances.ended_at
                else task_instances.started_at
            end
        ) as latest_task_activity_at

    from {{ ref('fct_task_instances') }} as task_instances
    inner join running_run_keys on task_instances.dag_run_key = running_run_keys.dag_run_key
    where not task_instances.is_deleted_at_source
    group by task_instances.dag_run_key

),

dag_durations as (

    select
        dag_id,
        {{ airflow_audit_percentile('duration_s', 0.95) }} as p95_duration_s

    from {{ ref('fct_dag_runs') }}
    where state = 'success' and duration_s is not null
    group by dag_id

),

running_runs as (

    select
        'run_without_progress' as kind,
        runs.dag_id,
        cast(null as {{ dbt.type_string() }}) as task_id,
        runs.run_id,
        cast(null as {{ dbt.type_int() }}) as map_index,
        runs.state,
        coalesce(activity.latest_task_activity_at, runs.started_at) as since_at,
        case
            when durations.p95_duration_s is null then {{ without_history_s }}
            when 2 * durations.p95_duration_s < 3600 then 3600
            else 2 * durations.p95_duration_s
        end as allowed_s

    from {{ ref('fct_dag_runs') }} as runs
    left join run_activity as activity on runs.dag_run_key = activity.dag_run_key
    left join dag_durations as durations on runs.dag_id = durations.dag_id
    where runs.state = 'running' and not runs.is_deleted_at_source

),

candidates as (

    select * from running_tasks
    union all
    select * from waiting_tasks
    union all
    select * from running_runs

),

measured as (

    select
        candidates.*,
        sync.synced_at as as_of,
        {{ dbt.datediff('candidates.since_at', 'sync.synced_at', 'second') }} as age_s

    from candidates
    cross join sync
    where candidates.since_at is not null

)

select
    {{ airflow_audit_surrogate_key(['kind', 'dag_id', 'task_id', 'run_id', 'map_index']) }} as stuck_key,
    kind,
    dag_id,
    task_id,
    run_id,
    map_index,
    state,
    since_at,
    as_of,
    age_s,
    round(cast(allowed_s as {{ airflow_audit_type('seconds') }}), 3) as allowed_s

from measured
where age_s > allowed_s
