{#-
    rpt_pool_hourly_usage, partitioned by pool hour. A pool hour's row depends on the attempts holding
    slots in that pool during that hour, on the pool's size and on the sync (an attempt still running
    holds its slots until the sync). An hourly build recomputes the pool hours of the attempts that
    count differently now than when the report was last built:
    - the touched task instances' attempts as they are now (fct_task_attempts) against what the report
      counted (int_pool_attempts_replaced: an attempt can leave an hour, and Airflow before 2.10 keeps
      no earlier try);
    - every attempt unended now against the attempts unended then, which the report's post-hook keeps
      with the instant it counted them to (an attempt then unended and not kept so: up to this sync).
    The two sides are compared as multisets of (pool, slots, queue time, start, held until), +1 now and
    -1 then: an attempt found again the same, whatever its key, try or state, adds to its hours what it
    added before and touches none. Airflow 2.10+ clearing a task instance moves its try, unchanged, to
    task_instance_history; a try number, a priority or a note that changes moves nothing either; an
    attempt left running past its 1,000 hours holds the same hours at every sync. An attempt counted
    otherwise now has the hours of both its spans recomputed; one whose hold's end alone moved (still
    running, synced again), the hours between its two ends.
    Everything is recomputed when a pool changed (its size is in every row of it), when what
    fct_task_attempts replaced is not known (int_pool_attempts_replaced says so), or when the touched
    hours are more than var airflow_audit_partial_build_limit of the report's rows (a full build then
    costs less).
-#}


{#- When an attempt (columns prefixed by `alias.`) stops holding its slots: its end, or the sync while
    it runs, at most 1,000 hours from the start of the hour it started in. One definition for the
    report's body and its touched hours, which must agree. -#}
{% macro airflow_audit_pool_held_until(alias, synced_at) -%}
    {%- set max_hours = 1000 -%}
    {%- set cap = dbt.dateadd('hour', max_hours, dbt.date_trunc('hour', alias ~ '.started_at')) -%}
    case
        when coalesce({{ alias }}.ended_at, {{ synced_at }}) < {{ cap }}
            then coalesce({{ alias }}.ended_at, {{ synced_at }})
        else {{ cap }}
    end
{%- endmacro %}


{#- The attempts (prefixed by `alias.`) that hold slots: in a pool, started, and ended or running.
    Deferred attempts and those up for reschedule hold none. -#}
{% macro airflow_audit_holds_slots(alias) -%}
    {{ alias }}.pool is not null
    and {{ alias }}.started_at is not null
    and ({{ alias }}.ended_at is not null or {{ alias }}.state in ('running', 'restarting'))
{%- endmacro %}


{#- The rows of `relation` (a name or a parenthesised query, with started_at and held_until), each once
    per hour from the one it started in to the one it holds slots until, as column hour_offset (0 for
    the hour it started in). A query, to read from as a subquery. DuckDB lists each row's own hours
    (range); the other warehouses join the whole numbers 0 to 999 on a range, which DuckDB ran as a
    nested loop over every attempt and number (at 1M task instances 0.31 s of the report's 0.55 s). -#}
{% macro airflow_audit_hours_from_start(relation) -%}
    {{- return(adapter.dispatch('airflow_audit_hours_from_start', 'airflow_audit')(relation)) -}}
{%- endmacro %}

{% macro duckdb__airflow_audit_hours_from_start(relation) -%}
    select
        held.*,
        unnest(range(0, {{ airflow_audit_hours_held('held') }} + 1)) as hour_offset
    from {{ relation }} as held
{%- endmacro %}

{% macro default__airflow_audit_hours_from_start(relation) -%}
    {%- set digits -%}
        select 0 as digit union all select 1 union all select 2 union all select 3 union all select 4
        union all select 5 union all select 6 union all select 7 union all select 8 union all select 9
    {%- endset -%}
    select
        held.*,
        offsets.hour_offset
    from {{ relation }} as held
    inner join (
        select ones.digit + 10 * tens.digit + 100 * hundreds.digit as hour_offset
        from ({{ digits }}) as ones
        cross join ({{ digits }}) as tens
        cross join ({{ digits }}) as hundreds
    ) as offsets
        on offsets.hour_offset <= {{ airflow_audit_hours_held('held') }}
{%- endmacro %}

{#- The hours from the one a row (`alias`) started in to the one it holds slots until. -#}
{% macro airflow_audit_hours_held(alias) -%}
    {{ dbt.datediff(dbt.date_trunc('hour', alias ~ '.started_at'), alias ~ '.held_until', 'hour') }}
{%- endmacro %}


{#- Partitions by pool hour (see above): `hours_sql` gives the touched (pool_name, hour_start), `sql` their
    pool_hour_key; `known` is false when the build must recompute everything. -#}
{% macro airflow_audit_pool_hour_partitions() -%}
    {%- set tables = ['task_instance', 'task_instance_history', 'task_fail', 'task_instance_note', 'slot_pool'] -%}
    {#- the attempts counted otherwise now than then (above), grouped by pool, slots, queue time and
        start: the hours from the start to the latest hold's end; where the hold's end alone moved (one
        span then, one now: an attempt still running, synced again), the hours between its two ends
        only, as the hours before the earlier end's hour are held whole both times (a task running
        for a day recomputed its 24 hours at every hourly sync, now one or two) -#}
    {%- set spans_sql -%}{%- if execute and not airflow_audit_in_unit_test() -%}
            (
                select
                    differing.pool as pool_name,
                    case
                        when count(*) = 2 and min(differing.side) = -1 and max(differing.side) = 1
                            then min(differing.held_until)
                        else differing.started_at
                    end as started_at,
                    max(differing.held_until) as held_until
                from (
                    select
                        counted.pool,
                        counted.pool_slots,
                        counted.queued_at,
                        counted.started_at,
                        counted.held_until,
                        sum(counted.side) as side
                    from (
                        select
                            attempts.pool, attempts.pool_slots, attempts.queued_at, attempts.started_at,
                            {{ airflow_audit_pool_held_until('attempts', 'synced.synced_at') }} as held_until,
                            1 as side
                        from {{ airflow_audit_relation('fct_task_attempts') }} as attempts
                        cross join {{ airflow_audit_relation('int_latest_sync') }} as synced
                        where
                            (
                                attempts.task_instance_key in (
                                    {{ airflow_audit_touched_task_instances(['task_instance_key']) }})
                                or attempts.ended_at is null
                            )
                            and {{ airflow_audit_holds_slots('attempts') }}
                        union all
                        select
                            replaced.pool, replaced.pool_slots, replaced.queued_at, replaced.started_at,
                            coalesce(
                                replaced.held_until,
                                {{ airflow_audit_pool_held_until('replaced', 'synced.synced_at') }}
                            ) as held_until,
                            -1 as side
                        from {{ airflow_audit_relation('int_pool_attempts_replaced') }} as replaced
                        cross join {{ airflow_audit_relation('int_latest_sync') }} as synced
                        where {{ airflow_audit_holds_slots('replaced') }}
                    ) as counted
                    group by
                        counted.pool, counted.pool_slots, counted.queued_at, counted.started_at, counted.held_until
                    having sum(counted.side) <> 0
                ) as differing
                group by differing.pool, differing.pool_slots, differing.queued_at, differing.started_at
            )
    {%- endif -%}{%- endset -%}
    {%- set hours_sql -%}{%- if execute and not airflow_audit_in_unit_test() -%}
            select distinct
                spans.pool_name,
                {{ dbt.dateadd('hour', 'spans.hour_offset', dbt.date_trunc('hour', 'spans.started_at')) }}
                    as hour_start
            from ({{ airflow_audit_hours_from_start(spans_sql) }}) as spans
            where {{ dbt.dateadd('hour', 'spans.hour_offset', dbt.date_trunc('hour', 'spans.started_at')) }}
                < spans.held_until
    {%- endif -%}{%- endset -%}
    {#- found once per build, as the body's compile finds them (by then fct_task_attempts and what it
        replaced are final): the check, the pre-hook, the body's three filters and the report's two
        tests each found them again in fct_task_attempts (at 10M task instances, about 0.3 s each
        alone) -#}
    {%- set hours_sql = airflow_audit_touched_once(
        'pool-hours', ['pool_name', 'hour_start'], hours_sql, tables, count_all=true)
        if hours_sql | trim else hours_sql -%}
    {%- set keys_sql -%}{%- if execute and not airflow_audit_in_unit_test() -%}
            select {{ airflow_audit_surrogate_key(['touched_hours.pool_name', 'touched_hours.hour_start']) }}
            from ({{ hours_sql }}) as touched_hours
    {%- endif -%}{%- endset -%}
    {{- return({
        'key': 'pool_hour_key', 'tables': tables, 'known': airflow_audit_pool_hours_known(tables, hours_sql),
        'sql': keys_sql, 'hours_sql': hours_sql}) -}}
{%- endmacro %}


{#- False when the pool hours' partial build cannot know what to recompute: a pool changed, or what
    fct_task_attempts replaced is not known (int_pool_attempts_replaced is missing or says so); and when
    recomputing the touched hours (`hours_sql`) would not pay: they are more than var
    airflow_audit_partial_build_limit of the report's rows (each touched hour is counted from all its
    attempts, so at 1M task instances, with 39% of the hours touched, the partial build already cost as
    much as a full one). Asked once per build (airflow_audit_remembered): the pre-hook and the report's
    tests use the body's answer. -#}
{% macro airflow_audit_pool_hours_known(tables, hours_sql) -%}
    {%- if not execute or airflow_audit_without_warehouse() or not airflow_audit_knows_changes(tables) -%}
        {{- return(true) -}}
    {%- endif -%}
    {%- set replaced = airflow_audit_relation('int_pool_attempts_replaced') -%}
    {%- if adapter.get_relation(replaced.database, replaced.schema, replaced.identifier) is none -%}
        {{- return(false) -}}
    {%- endif -%}
    {%- set report = airflow_audit_relation('rpt_pool_hourly_usage') -%}
    {%- set limit = airflow_audit_partial_build_limit() -%}
    {%- set check -%}
        select count(*) from {{ replaced }} where task_instance_key is null
        union all
        select count(*) from {{ airflow_audit_staging('stg_airflow__pools') }}
        where {{ airflow_audit_changed('slot_pool') }}
        {%- if adapter.get_relation(report.database, report.schema, report.identifier) is not none %}
        union all
        {%- set touched = airflow_audit_touched_count('pool-hours') %}
        select case
            when {{ touched if touched is not none else '(select count(*) from (' ~ hours_sql ~ ') as touched_hours)' }}
                > {{ limit }} * (select count(*) from {{ report }})
                then 1
            else 0
        end
        {%- endif %}
    {%- endset -%}
    {%- set name = 'known:' ~ report -%}
    {%- if airflow_audit_remembered(name) is none -%}
        {%- do airflow_audit_remember(name, run_query(check).columns[0].values() | sum == 0) -%}
    {%- endif -%}
    {{- return(airflow_audit_remembered(name)) -}}
{%- endmacro %}


{#- The body's filters in a partial build (else `1 = 1`). On attempts (`alias`, with started_at and
    held_until): those holding slots between the first and the last touched hour (uncorrelated, so any
    warehouse plans it as a filter); exactly which hours each one holds is told after its hours are
    counted out, by airflow_audit_in_touched_keys. -#}
{% macro airflow_audit_near_touched_pool_hours(alias, partitions) -%}
    {%- if airflow_audit_partial_partitions(partitions) -%}
        {{ alias }}.held_until
        > (select min(touched_hours.hour_start) from ({{ partitions.hours_sql }}) as touched_hours)
        and {{ dbt.date_trunc('hour', alias ~ '.started_at') }}
        <= (select max(touched_hours.hour_start) from ({{ partitions.hours_sql }}) as touched_hours)
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}

{#- fct_task_attempts' first pre-hook: before the touched task instances' attempts are deleted (to be
    inserted again), keep them in int_pool_attempts_replaced as the report last counted them. An attempt
    already kept there keeps that row: one the report's post-hook kept unended, or one kept by an earlier
    build of fct_task_attempts since the report was built (which the report counted, not what came in
    between). Where the build replaces everything, or not row by row, or creates the mart (a first
    build, or a --full-refresh of it alone), say that what was replaced is not known. Nothing before
    that table exists: it is created saying so. -#}
{% macro airflow_audit_keep_replaced_attempts(partitions) -%}
    {%- if execute and not airflow_audit_without_warehouse() -%}
        {%- set replaced = airflow_audit_relation('int_pool_attempts_replaced') -%}
        {%- if adapter.get_relation(replaced.database, replaced.schema, replaced.identifier) is not none -%}
            {%- if is_incremental() and airflow_audit_partial_partitions(partitions) -%}
                insert into {{ replaced }} (
                    task_instance_key, task_attempt_key, is_deleted_at_source, pool, pool_slots, state,
                    queued_at, started_at, ended_at)
                select
                    task_instance_key, task_attempt_key, is_deleted_at_source, pool, pool_slots, state,
                    queued_at, started_at, ended_at
                from {{ this }} as attempts
                where {{ airflow_audit_in_partitions_of(this, partitions) }}
                    and not exists (
                        select 1 from {{ replaced }} as kept
                        where
                            kept.task_attempt_key = attempts.task_attempt_key
                            and kept.is_deleted_at_source = attempts.is_deleted_at_source
                    )
            {%- else -%}
                insert into {{ replaced }} (task_instance_key) values (null)
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{#- rpt_pool_hourly_usage's first post-hook: what fct_task_attempts replaced is now counted. -#}
{% macro airflow_audit_forget_replaced_attempts() -%}
    {%- if execute and not airflow_audit_without_warehouse() -%}
        delete from {{ airflow_audit_relation('int_pool_attempts_replaced') }} where 1 = 1
    {%- endif -%}
{%- endmacro %}


{#- rpt_pool_hourly_usage's second post-hook: the attempts still holding slots at this sync, kept as
    counted, up to the instant they were counted to. The next build compares them with what they are
    then: one left running past its 1,000 hours holds the same hours at every sync, and touches none. -#}
{% macro airflow_audit_keep_unended_attempts() -%}
    {%- if execute and not airflow_audit_without_warehouse() -%}
        insert into {{ airflow_audit_relation('int_pool_attempts_replaced') }} (
            task_instance_key, task_attempt_key, is_deleted_at_source, pool, pool_slots, state, queued_at,
            started_at, ended_at, held_until)
        select
            attempts.task_instance_key, attempts.task_attempt_key, attempts.is_deleted_at_source,
            attempts.pool, attempts.pool_slots, attempts.state, attempts.queued_at, attempts.started_at,
            attempts.ended_at, {{ airflow_audit_pool_held_until('attempts', 'synced.synced_at') }}
        from {{ airflow_audit_relation('fct_task_attempts') }} as attempts
        cross join {{ airflow_audit_relation('int_latest_sync') }} as synced
        where attempts.ended_at is null and {{ airflow_audit_holds_slots('attempts') }}
    {%- endif -%}
{%- endmacro %}
