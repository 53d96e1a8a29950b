{#-
    rpt_pool_hourly_usage, partitioned by pool hour. A pool hour's row depends on the attempts holding
    slots in that pool during that hour, on the pool's size and on the sync (an attempt still running
    holds its slots until the sync). An hourly build recomputes the pool hours
    - of the touched task instances' attempts, as they are now (fct_task_attempts) and as they were
      (int_pool_attempts_replaced: an attempt can leave an hour, and Airflow before 2.10 keeps no
      earlier try), an attempt then unended counted up to this sync;
    - of every attempt held until the sync, which moved;
    and everything when a pool changed (its size is in every row of it), when what fct_task_attempts
    replaced is not known (int_pool_attempts_replaced says so), or when the touched hours are more than
    var airflow_audit_partial_build_limit of the report's rows (a full build then costs less).
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


{#- The whole numbers 0 to 999, as a subquery's column hour_offset: an attempt's hours from the one it
    started in. -#}
{% macro airflow_audit_hour_offsets() -%}
    {%- set digits -%}
        select 0 as digit union all select 1 union all select 2 union all select 3 union all select 4
        union all select 5 union all select 6 union all select 7 union all select 8 union all select 9
    {%- endset -%}
    select ones.digit + 10 * tens.digit + 100 * hundreds.digit as hour_offset
    from ({{ digits }}) as ones
    cross join ({{ digits }}) as tens
    cross join ({{ digits }}) as hundreds
{%- endmacro %}


{#- Partitions by pool hour (see above): `hours_sql` gives the touched (pool_name, hour_start), `sql` their
    pool_hour_key; `known` is false when the build must recompute everything. -#}
{% macro airflow_audit_pool_hour_partitions() -%}
    {%- set tables = ['task_instance', 'task_instance_history', 'task_fail', 'task_instance_note', 'slot_pool'] -%}
    {%- set hours_sql -%}{%- if execute and not airflow_audit_in_unit_test() -%}
            select distinct
                spans.pool_name,
                {{ dbt.dateadd('hour', 'offsets.hour_offset', dbt.date_trunc('hour', 'spans.started_at')) }}
                    as hour_start
            from (
                select
                    attempts.pool as pool_name,
                    attempts.started_at,
                    {{ airflow_audit_pool_held_until('attempts', 'synced.synced_at') }} as held_until
                from (
                    select task_attempts.pool, task_attempts.state, task_attempts.started_at, task_attempts.ended_at
                    from {{ airflow_audit_relation('fct_task_attempts') }} as task_attempts
                    where
                        task_attempts.task_instance_key in (
                            {{ airflow_audit_touched_task_instances(['task_instance_key']) }})
                        or task_attempts.ended_at is null
                    union all
                    select replaced.pool, replaced.state, replaced.started_at, replaced.ended_at
                    from {{ airflow_audit_relation('int_pool_attempts_replaced') }} as replaced
                ) as attempts
                cross join {{ airflow_audit_relation('int_latest_sync') }} as synced
                where {{ airflow_audit_holds_slots('attempts') }}
            ) as spans
            inner join ({{ airflow_audit_hour_offsets() }}) as offsets
                on offsets.hour_offset <= {{ dbt.datediff(
                    dbt.date_trunc('hour', 'spans.started_at'), 'spans.held_until', 'hour') }}
            where {{ dbt.dateadd('hour', 'offsets.hour_offset', dbt.date_trunc('hour', 'spans.started_at')) }}
                < spans.held_until
    {%- endif -%}{%- endset -%}
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
        select case
            when (select count(*) from ({{ hours_sql }}) as touched_hours)
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
    counted out, by airflow_audit_in_touched_pool_hours. -#}
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

{#- On rows of pool hours (`alias`, with pool_name and hour_start): the touched ones. -#}
{% macro airflow_audit_in_touched_pool_hours(alias, partitions) -%}
    {%- if airflow_audit_partial_partitions(partitions) -%}
        exists (
            select 1
            from ({{ partitions.hours_sql }}) as touched_hours
            where
                touched_hours.pool_name = {{ alias }}.pool_name
                and touched_hours.hour_start = {{ alias }}.hour_start
        )
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}


{#- fct_task_attempts' first pre-hook: before the touched task instances' attempts are deleted (to be
    inserted again), keep them as they are in int_pool_attempts_replaced; where the build replaces
    everything, or not row by row, say that what was replaced is not known. Nothing before that table
    exists: it is created saying so. -#}
{% macro airflow_audit_keep_replaced_attempts(partitions) -%}
    {%- if execute and not airflow_audit_without_warehouse() and is_incremental() -%}
        {%- set replaced = airflow_audit_relation('int_pool_attempts_replaced') -%}
        {%- if adapter.get_relation(replaced.database, replaced.schema, replaced.identifier) is not none -%}
            {%- if airflow_audit_partial_partitions(partitions) -%}
                insert into {{ replaced }} (task_instance_key, pool, state, started_at, ended_at)
                select task_instance_key, pool, state, started_at, ended_at
                from {{ this }}
                where {{ airflow_audit_in_partitions_of(this, partitions) }}
            {%- else -%}
                insert into {{ replaced }} (task_instance_key) values (null)
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{#- rpt_pool_hourly_usage's post-hook: what fct_task_attempts replaced is now counted. -#}
{% macro airflow_audit_forget_replaced_attempts() -%}
    {%- if execute and not airflow_audit_without_warehouse() -%}
        delete from {{ airflow_audit_relation('int_pool_attempts_replaced') }} where 1 = 1
    {%- endif -%}
{%- endmacro %}
