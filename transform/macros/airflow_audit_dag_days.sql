{#-
    rpt_dag_daily_health, partitioned by DAG and day. A (DAG, day) row depends on the runs of that DAG
    counted on that day (airflow_audit_run_date) and its task attempts counted on that day
    (airflow_audit_attempt_date) only. A run's day moves: Airflow queues a cleared run again without a
    start, so it counts on the day it was queued again, then on the day it starts; an attempt can
    leave a day too (Airflow before 2.10 keeps no earlier try). An hourly build recomputes:
    - the days of the runs and attempts fct_dag_runs and fct_task_attempts rewrote (their partitions),
      as they are now;
    - the days those rows were on before they were rewritten: the two marts' pre-hooks keep them in
      int_dag_days_replaced (airflow_audit_keep_replaced_dag_days) until the report's post-hook has
      recounted them (airflow_audit_forget_replaced_dag_days).
    A day none of those rows is on or was on holds the same runs and attempts as when it was counted.
    Everything is recomputed when what the two marts replaced is not known (int_dag_days_replaced is
    missing or says so: it was created, or one of the marts was rebuilt in full). Partitioned by DAG,
    the report recomputed every day of a DAG with one new run: after an hour of new runs, every DAG
    that ran, all its history.
-#}


{#- The day a DAG run counts on (columns prefixed by `alias.` when given): the day it started, else was
    queued, else its logical date, else (Airflow 3, a run without one) the day it was due. -#}
{% macro airflow_audit_run_date(alias=none) -%}
    {%- set p = alias ~ '.' if alias else '' -%}
    cast({{ dbt.date_trunc(
        'day', 'coalesce(' ~ p ~ 'started_at, ' ~ p ~ 'queued_at, ' ~ p ~ 'logical_at, ' ~ p ~ 'run_after_at)') }}
        as date)
{%- endmacro %}


{#- The day a task attempt counts on: the day it started, else ended. -#}
{% macro airflow_audit_attempt_date(alias=none) -%}
    {%- set p = alias ~ '.' if alias else '' -%}
    cast({{ dbt.date_trunc('day', 'coalesce(' ~ p ~ 'started_at, ' ~ p ~ 'ended_at)') }} as date)
{%- endmacro %}


{#- Partitions by DAG and day (see above): `natural_sql` gives the touched (dag_id, run_date), `sql` their
    dag_day_key; `known` is false when the build must recompute everything. Found once per build, when
    the report's body is compiled (airflow_audit_touched_once): by then both marts are final and what
    they replaced is kept, which the report's post-hook then forgets. -#}
{% macro airflow_audit_dag_day_partitions() -%}
    {%- set runs = airflow_audit_dag_run_partitions() -%}
    {%- set task_instances = airflow_audit_task_instance_partitions() -%}
    {%- set tables = runs.tables + task_instances.tables -%}
    {%- set days_sql -%}{%- if execute and not airflow_audit_in_unit_test() -%}
        {%- set dag_runs = airflow_audit_relation('fct_dag_runs') -%}
        {%- set attempts = airflow_audit_relation('fct_task_attempts') -%}
        select dag_days.dag_id, dag_days.run_date
        from (
            select dag_id, run_date from {{ airflow_audit_relation('int_dag_days_replaced') }}
            where dag_id is not null
            union all
            select dag_id, {{ airflow_audit_run_date() }} as run_date from {{ dag_runs }}
            where {{ airflow_audit_in_partitions_of(dag_runs, runs) }}
            union all
            select dag_id, {{ airflow_audit_attempt_date() }} as run_date from {{ attempts }}
            where {{ airflow_audit_in_partitions_of(attempts, task_instances) }}
        ) as dag_days
        where dag_days.run_date is not null
        group by dag_days.dag_id, dag_days.run_date
    {%- endif -%}{%- endset -%}
    {%- set days_sql = airflow_audit_touched_once('dag-days', ['dag_id', 'run_date'], days_sql, tables)
        if days_sql | trim else days_sql -%}
    {%- set sql -%}{%- if days_sql | trim -%}
        select {{ airflow_audit_surrogate_key(['touched_days.dag_id', 'touched_days.run_date']) }}
        from ({{ days_sql }}) as touched_days
    {%- endif -%}{%- endset -%}
    {{- return({
        'key': 'dag_day_key',
        'tables': tables,
        'known': airflow_audit_dag_days_known(tables),
        'sql': sql,
        'natural_key': ['dag_id', 'run_date'],
        'natural_sql': days_sql}) -}}
{%- endmacro %}


{#- False when the report's partial build cannot know which days to recompute: int_dag_days_replaced is
    missing or holds a row without a dag_id. Asked once per build (airflow_audit_remembered): the
    pre-hook and the report's tests use the body's answer. -#}
{% macro airflow_audit_dag_days_known(tables) -%}
    {%- if not execute or airflow_audit_without_warehouse() or not airflow_audit_knows_changes(tables) -%}
        {{- return(true) -}}
    {%- endif -%}
    {%- set replaced = airflow_audit_relation('int_dag_days_replaced') -%}
    {%- if adapter.get_relation(replaced.database, replaced.schema, replaced.identifier) is none -%}
        {{- return(false) -}}
    {%- endif -%}
    {%- set name = 'known:' ~ replaced -%}
    {%- if airflow_audit_remembered(name) is none -%}
        {%- set check -%}
            select count(*) from {{ replaced }} where dag_id is null
        {%- endset -%}
        {%- do airflow_audit_remember(name, run_query(check).columns[0].values() | sum == 0) -%}
    {%- endif -%}
    {{- return(airflow_audit_remembered(name)) -}}
{%- endmacro %}


{#- A pre-hook of fct_dag_runs and fct_task_attempts, before their touched partitions are replaced: keep
    the days their rows there count on (`day`, the name of the macro of that day) in
    int_dag_days_replaced, as the report last counted them. Where the build replaces everything, or not
    row by row, or creates the mart (a first build, or a --full-refresh of it alone), say that what was
    replaced is not known. Nothing before that table exists: it is created saying so. -#}
{% macro airflow_audit_keep_replaced_dag_days(partitions, day) -%}
    {%- if execute and not airflow_audit_without_warehouse() -%}
        {%- set replaced = airflow_audit_relation('int_dag_days_replaced') -%}
        {%- if adapter.get_relation(replaced.database, replaced.schema, replaced.identifier) is not none -%}
            {%- if is_incremental() and airflow_audit_partial_partitions(partitions) -%}
                insert into {{ replaced }} (dag_id, run_date)
                select distinct dag_id, {{ context[day]() }}
                from {{ this }}
                where {{ airflow_audit_in_partitions_of(this, partitions) }}
                    and {{ context[day]() }} is not null
            {%- else -%}
                insert into {{ replaced }} (dag_id) values (null)
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{#- rpt_dag_daily_health's post-hook: the days the two marts replaced rows on are now recounted. -#}
{% macro airflow_audit_forget_replaced_dag_days() -%}
    {%- if execute and not airflow_audit_without_warehouse() -%}
        delete from {{ airflow_audit_relation('int_dag_days_replaced') }} where 1 = 1
    {%- endif -%}
{%- endmacro %}
