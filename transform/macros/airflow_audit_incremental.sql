{#-
    Incremental marts: each large mart is replaced partition by partition, a partition being every row
    that depends on one key (a task instance, a DAG run, an audit log row, a DAG). In an incremental run
    the model deletes the partitions touched since the last passing build (its pre-hook) and inserts them
    recomputed (its body, filtered to the same keys): the result is the table a full rebuild would give,
    whatever changed in a partition, rows that left it included.

    "Touched since the last passing build" comes from the var airflow_audit_since, which
    `dbt-<warehouse>:build-changed` (transform/build_changed.py) sets from the figures recorded with that
    build, per raw table:
      {loaded_after: <max loaded_at then>, deleted_after: <max deleted_at_source_at then, or null>}
          rows loaded (content changed) or marked deleted at the source since then;
      'all'     the table cannot say what changed (rows deleted outright by mirror mode, fewer rows than
                before, another column set, empty then): every model reading it is rebuilt in full;
      'absent'  the table is not in the warehouse (nothing to read).
    Without the var (a plain `dbt build`), an incremental model rebuilds everything in place; with
    --full-refresh (or on a first run) it is created as a table from scratch.
-#}


{#- A large mart's materialization, called first in its model with the name of its partitions' macro:
    incremental, replaced partition by partition (the pre-hook deletes what the body inserts again; on
    DuckDB a partial build replaces small partitions in place instead, get_incremental_airflow_audit_in_place_sql).
    Returns the partitions, for the body's filters. keep_replaced_attempts: fct_task_attempts keeps the
    attempts it replaces for rpt_pool_hourly_usage (airflow_audit_pool_hours.sql); keep_replaced_days,
    the name of the macro of the day a row counts on: fct_dag_runs and fct_task_attempts keep the days
    of the rows they replace for rpt_dag_daily_health (airflow_audit_dag_days.sql). Both run before the
    delete. -#}
{% macro airflow_audit_partitioned(partitions_macro, keep_replaced_attempts=false, keep_replaced_days=none) -%}
    {%- set hooks = [] -%}
    {%- if keep_replaced_attempts -%}
        {%- do hooks.append('{{ airflow_audit_keep_replaced_attempts(' ~ partitions_macro ~ '()) }}') -%}
    {%- endif -%}
    {%- if keep_replaced_days -%}
        {%- do hooks.append(
            '{{ airflow_audit_keep_replaced_dag_days(' ~ partitions_macro ~ "(), '" ~ keep_replaced_days ~ "') }}") -%}
    {%- endif -%}
    {%- do hooks.append('{{ airflow_audit_delete_partitions(' ~ partitions_macro ~ '()) }}') -%}
    {{- config(
        materialized='incremental',
        incremental_strategy=(
            'airflow_audit_in_place' if target.type == 'duckdb' and partitions_macro in airflow_audit_in_place_partitions()
            else airflow_audit_append_strategy()),
        meta={'airflow_audit_partitions': partitions_macro},
        on_schema_change='fail',
        pre_hook=hooks
    ) -}}
    {{- return(context[partitions_macro]()) -}}
{%- endmacro %}


{#- The column airflow_audit_built_at of every incremental mart: when the dbt run that wrote the row started
    (dbt's run_started_at, UTC), the same for every row one run writes. A partial build rewrites every row of
    the partitions it replaces (deleted and inserted, or updated in place), so its rows are exactly those
    with its own time: its tests read those (airflow_audit_touched_rows), found by the warehouse's own
    pruning (DuckDB's zone maps, Snowflake's micro-partitions) instead of by a lookup of every row's key. -#}
{% macro airflow_audit_built_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}


{#- The partitions a mart replaces in place on DuckDB (get_incremental_airflow_audit_in_place_sql): small
    ones, whose touched rows an hour of changes keeps few. A DAG's partition holds all its runs or days,
    and an audit log row is never changed by Airflow. -#}
{% macro airflow_audit_in_place_partitions() -%}
    {{- return(['airflow_audit_task_instance_partitions', 'airflow_audit_dag_run_partitions']) -}}
{%- endmacro %}


{#- The strategy that inserts the model's rows as they are: append, or on BigQuery (no append) a merge
    without a unique key, which inserts. -#}
{% macro airflow_audit_append_strategy() -%}
    {{- return('merge' if target.type == 'bigquery' else 'append') -}}
{%- endmacro %}


{#- The DuckDB strategy of the marts partitioned by task instance or DAG run (incremental_strategy
    'airflow_audit_in_place'; airflow_audit_partitioned). A build that rebuilds every partition appends
    the body's rows (the pre-hook emptied the mart). A partial build replaces the touched partitions in
    place: within each partition, the mart's rows and the body's are paired in any order; a pair becomes
    the body's row by an update, a body's row without a pair is inserted, a mart's row without one
    deleted. The mart then holds what deleting the partitions and appending the body would have left,
    but DuckDB deletes only the rows that left a partition: a deleted row leaves a marker in DuckDB's
    storage (for each 2,048 rows with one, a 32 KB array) that DuckDB loads outside its memory limit
    whenever a later process reads that part of the table. After a 1% change at 10M task instances,
    counting fct_task_attempts in a process of its own took 200 MB when the build had deleted and
    inserted its touched partitions, 63 MB when it had updated them; the model took 12.1 s against 6.6 s
    (an update rewrites every column it sets: it sets only those some pair changed,
    airflow_audit_changed_columns).
    DuckDB holds an update in memory until the transaction ends, outside what it can spill: updating
    880,000 rows of fct_task_attempts ran out of 384MB, 264,000 did not. When the touched partitions
    hold more than airflow_audit_in_place_limit() rows, they are deleted and the body appended. -#}
{% macro get_incremental_airflow_audit_in_place_sql(arg_dict) -%}
    {%- set partitions = context[config.get('meta')['airflow_audit_partitions']]() -%}
    {%- if not airflow_audit_partial_partitions(partitions) -%}
        {{- return(get_incremental_append_sql(arg_dict)) -}}
    {%- endif -%}
    {%- set mart, body = arg_dict['target_relation'], arg_dict['temp_relation'] -%}
    {%- set names = arg_dict['dest_columns'] | map(attribute='name') | list -%}
    {%- set key = partitions.key -%}
    {%- set new_rows = mart.identifier ~ '__airflow_audit_new_rows' -%}
    {%- set old_rows = mart.identifier ~ '__airflow_audit_old_rows' -%}
    {%- set pairs -%}
        {{ old_rows }} as old_rows
        inner join {{ new_rows }} as new_rows
            on old_rows.{{ key }} = new_rows.{{ key }} and old_rows.airflow_audit_pair = new_rows.airflow_audit_pair
    {%- endset -%}
    {%- set find_old_rows -%}
        create or replace temporary table {{ old_rows }} as
        select
            rowid as airflow_audit_rowid,
            {{ key }},
            row_number() over (partition by {{ key }} order by rowid) as airflow_audit_pair
        from {{ mart }}
        where {{ airflow_audit_in_partitions_of(mart, partitions) }}
    {%- endset -%}
    {%- do run_query(find_old_rows) -%}
    {%- set touched = run_query('select count(*) from ' ~ old_rows).rows[0][0] -%}
    {%- if touched > airflow_audit_in_place_limit() -%}
        delete from {{ mart }} where rowid in (select airflow_audit_rowid from {{ old_rows }});

        {{ get_incremental_append_sql(arg_dict) }};

        drop table {{ old_rows }}
    {%- else -%}
        {%- set find_new_rows -%}
        create or replace temporary table {{ new_rows }} as
        select *, row_number() over (partition by {{ key }}) as airflow_audit_pair
        from {{ body }}
        {%- endset -%}
        {%- do run_query(find_new_rows) -%}
        {%- set changed = airflow_audit_changed_columns(mart, names, old_rows, pairs) -%}
        delete from {{ mart }}
        where rowid in (
            select old_rows.airflow_audit_rowid from {{ old_rows }} as old_rows
            where not exists (
                select 1 from {{ new_rows }} as new_rows
                where old_rows.{{ key }} = new_rows.{{ key }} and old_rows.airflow_audit_pair = new_rows.airflow_audit_pair
            )
        );

        {%- if changed %}

        update {{ mart }} as mart set
            {%- for name in changed %}
            {{ adapter.quote(name) }} = replacing.{{ adapter.quote(name) }}{{ ',' if not loop.last }}
            {%- endfor %}
        from (select old_rows.airflow_audit_rowid, new_rows.* from {{ pairs }}) as replacing
        where mart.rowid = replacing.airflow_audit_rowid;
        {%- endif %}

        insert into {{ mart }} ({{ get_quoted_csv(names) }})
        select {{ get_quoted_csv(names) }} from {{ new_rows }} as new_rows
        where not exists (
            select 1 from {{ old_rows }} as old_rows
            where old_rows.{{ key }} = new_rows.{{ key }} and old_rows.airflow_audit_pair = new_rows.airflow_audit_pair
        );

        drop table {{ new_rows }};
        drop table {{ old_rows }}
    {%- endif -%}
{%- endmacro %}


{#- Of `names`, the columns in which some pair (`pairs`, old_rows with the body's new_rows) holds different
    values, in the mart's order: the in-place update sets those alone. DuckDB rewrites every column an update
    sets, whether or not its value changed: after 1% changed across the history at 10M task instances, the
    87,296 pairs of fct_task_attempts differed in 3 of its 30 columns, and setting those alone took 0.7 s
    instead of 4.0 to 4.3 s, plus 1.1 s to find them. They are read from the mart by row id, so from the
    parts of it the touched rows lie in. -#}
{% macro airflow_audit_changed_columns(mart, names, old_rows, pairs) -%}
    {%- set differing -%}
        select
            {%- for name in names %}
            max(case when held.{{ adapter.quote(name) }} is distinct from new_rows.{{ adapter.quote(name) }}
                then 1 else 0 end) as {{ adapter.quote(name) }}{{ ',' if not loop.last }}
            {%- endfor %}
        from {{ pairs }}
        inner join (
            select rowid as airflow_audit_rowid, * from {{ mart }}
            where rowid in (select unnest(list(airflow_audit_rowid)) from {{ old_rows }})
        ) as held on held.airflow_audit_rowid = old_rows.airflow_audit_rowid
    {%- endset -%}
    {%- set flags = run_query(differing).rows[0] -%}
    {%- set changed = [] -%}
    {%- for index in range(names | length) if flags[index] -%}
        {%- do changed.append(names[index]) -%}
    {%- endfor -%}
    {{- return(changed) -}}
{%- endmacro %}


{#- var airflow_audit_in_place_limit (AIRFLOW_AUDIT_IN_PLACE_LIMIT) as a whole number: the most rows of a mart a
    partial build updates in place (get_incremental_airflow_audit_in_place_sql); or a sentence saying what to
    give. 100,000 by default: an hour of changes at 10M task instances touches a few thousand, a 1% change
    spread over the whole history 88,000 attempts, and an update of that many fits in 384MB. -#}
{% macro airflow_audit_in_place_limit() -%}
    {{- return(airflow_audit_setting(
        'airflow_audit_in_place_limit', 'AIRFLOW_AUDIT_IN_PLACE_LIMIT', '[0-9]+',
        'a whole number of rows, such as 100000') | int) -}}
{%- endmacro %}


{#- dbt-duckdb's incremental materialization writes the body's rows into a temporary table, then inserts
    them from it into the mart: every row written twice, and held in the client's memory in between (its
    temporary tables live there). For the marts above (append, SQL) the temporary relation is a view of
    the body instead, so the append's `insert ... select` computes the body once and writes it once. The
    view is read where the table was, after the pre-hooks, in the same transaction: the same rows.
    Overrides the adapter's macro of that name (dbt looks in the root project first); every other
    caller (tables, snapshots, other strategies, a model with a sql_header or an enforced contract,
    which the adapter's handles) gets the adapter's. -#}
{% macro duckdb__create_table_as(temporary, relation, compiled_code, language='sql', partitioned_by=none, sorted_by=none) -%}
    {%- set contract = config.get('contract') -%}
    {%- if temporary and language == 'sql' and config.get('materialized') == 'incremental'
            and config.get('incremental_strategy') in ('append', 'airflow_audit_in_place')
            and config.get('sql_header') is none
            and not (contract and contract.enforced) -%}
        create temporary view {{ relation.include(database=false, schema=false) }} as (
            {{ compiled_code }}
        );
    {%- else -%}
        {{- dbt.duckdb__create_table_as(temporary, relation, compiled_code, language, partitioned_by, sorted_by) -}}
    {%- endif -%}
{%- endmacro %}


{#- The since-figures of one raw table (see above), or none when it cannot be used. -#}
{% macro airflow_audit_since(table) -%}
    {%- set since = var('airflow_audit_since', none) -%}
    {%- if since is not mapping -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set figures = since.get(table) -%}
    {%- if figures == 'absent' -%}
        {{- return(figures) -}}
    {%- endif -%}
    {#- timestamps as the warehouse printed them, or the table counts as unknown (rebuilt in full) -#}
    {%- set instant = '^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9:.]+$' -%}
    {%- if figures is mapping and modules.re.match(instant, figures.get('loaded_after') or '')
            and (figures.get('deleted_after') is none
                 or modules.re.match(instant, figures.get('deleted_after'))) -%}
        {{- return(figures) -}}
    {%- endif -%}
    {{- return(none) -}}
{%- endmacro %}


{#- True when this run replaces only these partitions' touched ones: a partial run (below) that knows
    which they are (partitions.known, where the partitions say; true elsewhere). -#}
{% macro airflow_audit_partial_partitions(partitions) -%}
    {{- return(airflow_audit_is_partial(partitions.tables) and partitions.get('known', true)) -}}
{%- endmacro %}


{#- On an incremental model's creation (a first build, a full refresh): `1 = 1`, else `1 = 0`. Without a
    warehouse to ask (an offline compile, a unit test), the creation's. -#}
{% macro airflow_audit_on_creation() -%}
    {{- '1 = 0' if not airflow_audit_without_warehouse() and is_incremental() else '1 = 1' -}}
{%- endmacro %}


{#- True when this run replaces only the partitions touched since the last build: an incremental run,
    with figures for every raw table the partitions are read from. -#}
{% macro airflow_audit_is_partial(tables) -%}
    {%- if airflow_audit_without_warehouse() or not is_incremental() -%}
        {{- return(false) -}}
    {%- endif -%}
    {{- return(airflow_audit_knows_changes(tables)) -}}
{%- endmacro %}


{#- True when the var says what changed in each of these raw tables. -#}
{% macro airflow_audit_knows_changes(tables) -%}
    {%- for table in tables -%}
        {%- if airflow_audit_since(table) is none -%}
            {{- return(false) -}}
        {%- endif -%}
    {%- endfor -%}
    {{- return(true) -}}
{%- endmacro %}


{#- A predicate on a staging model's loaded_at / deleted_at_source_at (prefixed by `alias.` when given):
    the row changed since the last passing build. Only used in partial runs. -#}
{% macro airflow_audit_changed(table, alias=none) -%}
    {%- set figures = airflow_audit_since(table) -%}
    {%- set prefix = alias ~ '.' if alias else '' -%}
    {%- if figures is none -%}
        1 = 1
    {%- elif figures == 'absent' -%}
        1 = 0
    {%- else -%}
        ({{ prefix }}loaded_at > cast('{{ figures.loaded_after }}' as {{ dbt.type_timestamp() }})
        {%- if figures.get('deleted_after') %}
            or {{ prefix }}deleted_at_source_at > cast('{{ figures.deleted_after }}' as {{ dbt.type_timestamp() }})
        {%- else %}
            or {{ prefix }}deleted_at_source_at is not null
        {%- endif -%})
    {%- endif -%}
{%- endmacro %}


{#- Partitions by task instance: every row of a task instance (its latest try, its attempts, its failures)
    depends on the task_instance, task_instance_history, task_fail and task_instance_note rows of that
    task instance only. `sql` gives the touched task instances by key (the marts store it), `natural_sql`
    by natural key (dag_id, task_id, run_id, map_index), which the marts filter the staging views on
    before they hash any key (airflow_audit_staged_in_partitions). -#}
{% macro airflow_audit_task_instance_partitions() -%}
    {%- set natural_key = airflow_audit_staging_keys()['task_instance_key'] -%}
    {{- return({
        'key': 'task_instance_key',
        'tables': ['task_instance', 'task_instance_history', 'task_fail', 'task_instance_note'],
        'sql': airflow_audit_touched_task_instances(['task_instance_key']),
        'natural_key': natural_key,
        'natural_sql': airflow_audit_touched_task_instances(natural_key)}) -}}
{%- endmacro %}


{#- The task instances touched since the last passing build, as rows of `columns` (the key, or the
    natural key): those whose task_instance, task_instance_history, task_fail or task_instance_note
    rows changed. -#}
{% macro airflow_audit_touched_task_instances(columns) -%}
    {%- if execute and not airflow_audit_in_unit_test() -%}
        {%- set selected = columns | join(', ') -%}
        {%- set query -%}
        select {{ selected }} from {{ airflow_audit_staging('stg_airflow__task_instances') }}
        where {{ airflow_audit_changed('task_instance') }}
        {{ airflow_audit_distinct_set_operator('union') }}
        select {{ selected }} from {{ airflow_audit_staging('stg_airflow__task_instance_histories') }}
        where {{ airflow_audit_changed('task_instance_history') }}
        {{ airflow_audit_distinct_set_operator('union') }}
        select {{ selected }} from {{ airflow_audit_staging('stg_airflow__task_fails') }}
        where {{ airflow_audit_changed('task_fail') }}
        {{ airflow_audit_distinct_set_operator('union') }}
        -- notes: keyed by the natural key on 2.x, by the task instance's uuid on 3.x
        select {{ selected }} from {{ airflow_audit_staging('stg_airflow__task_instance_notes') }}
        where {{ columns[0] }} is not null and {{ airflow_audit_changed('task_instance_note') }}
        {{ airflow_audit_distinct_set_operator('union') }}
        select noted.{{ columns | join(', noted.') }}
        from {{ airflow_audit_staging('stg_airflow__task_instances') }} as noted
        inner join {{ airflow_audit_staging('stg_airflow__task_instance_notes') }} as notes
            on noted.task_instance_id = notes.task_instance_id
        where {{ airflow_audit_changed('task_instance_note', 'notes') }}
        {%- endset -%}
        {{- airflow_audit_touched_once(
            'task-instances:' ~ selected, columns, query,
            ['task_instance', 'task_instance_history', 'task_fail', 'task_instance_note']) -}}
    {%- endif -%}
{%- endmacro %}


{#- Partitions by DAG run: a run's row depends on its dag_run and dag_run_note rows (and on Airflow 3 its
    dag_version's). `sql` gives the touched runs by key, `natural_sql` by natural key (dag_id, run_id), which
    fct_dag_runs filters the staging view on before it hashes a key (airflow_audit_staged_in_partitions). -#}
{% macro airflow_audit_dag_run_partitions() -%}
    {%- set natural_key = airflow_audit_staging_keys()['dag_run_key'] -%}
    {{- return({
        'key': 'dag_run_key',
        'tables': ['dag_run', 'dag_run_note', 'dag_version'],
        'sql': airflow_audit_touched_dag_runs(['dag_run_key']),
        'natural_key': natural_key,
        'natural_sql': airflow_audit_touched_dag_runs(natural_key)}) -}}
{%- endmacro %}


{#- The DAG runs touched since the last passing build, as rows of `columns` (the key, or the natural key):
    those whose dag_run, dag_run_note or dag_version rows changed. -#}
{% macro airflow_audit_touched_dag_runs(columns) -%}
    {%- if execute and not airflow_audit_in_unit_test() -%}
        {%- set query -%}
        select {{ columns | join(', ') }} from {{ airflow_audit_staging('stg_airflow__dag_runs') }}
        where {{ airflow_audit_changed('dag_run') }}
        {{ airflow_audit_distinct_set_operator('union') }}
        select dag_runs.{{ columns | join(', dag_runs.') }}
        from {{ airflow_audit_staging('stg_airflow__dag_runs') }} as dag_runs
        inner join {{ airflow_audit_staging('stg_airflow__dag_run_notes') }} as notes
            on dag_runs.dag_run_id = notes.dag_run_id
        where {{ airflow_audit_changed('dag_run_note', 'notes') }}
        {{ airflow_audit_distinct_set_operator('union') }}
        select dag_runs.{{ columns | join(', dag_runs.') }}
        from {{ airflow_audit_staging('stg_airflow__dag_runs') }} as dag_runs
        inner join {{ airflow_audit_staging('stg_airflow__dag_versions') }} as versions
            on dag_runs.dag_version_id = versions.dag_version_id
        where {{ airflow_audit_changed('dag_version', 'versions') }}
        {%- endset -%}
        {{- airflow_audit_touched_once(
            'dag-runs:' ~ columns | join(', '), columns, query, ['dag_run', 'dag_run_note', 'dag_version']) -}}
    {%- endif -%}
{%- endmacro %}


{#- Partitions by audit log row. -#}
{% macro airflow_audit_log_partitions() -%}
    {%- set sql -%}{%- if execute and not airflow_audit_in_unit_test() -%}
        select log_id from {{ airflow_audit_staging('stg_airflow__logs') }}
        where {{ airflow_audit_changed('log') }}
    {%- endif -%}{%- endset -%}
    {{- return({'key': 'audit_event_id', 'tables': ['log'], 'sql': sql}) -}}
{%- endmacro %}


{#- Partitions by DAG: the rows of a DAG in rpt_task_reliability, rpt_dag_durations and rpt_failure_streaks
    depend on its runs and task attempts only (and on vars, never on the time of the sync). -#}
{% macro airflow_audit_dag_partitions() -%}
    {%- set tables = airflow_audit_dag_work_tables() -%}
    {%- set sql = airflow_audit_touched_dag_work(['dag_id']) -%}
    {%- set sql = airflow_audit_touched_once('dags', ['dag_id'], sql, tables) if sql | trim else sql -%}
    {{- return({
        'key': 'dag_id',
        'tables': tables,
        'sql': sql}) -}}
{%- endmacro %}


{#- Partitions by DAG run, touched by its own row or its task instances' (fct_dag_run_lateness: a run's
    lateness depends on its dag_run row and its task instances' starts only). The DAG partitions would
    recompute every run of a DAG with one new run: after 1% arrived as new runs at 10M task instances,
    every DAG, the whole mart (about 8 s of the build). The touched runs are found by natural key,
    which the staging views read without hashing any key, and hashed once found. -#}
{% macro airflow_audit_dag_run_work_partitions() -%}
    {%- set tables = airflow_audit_dag_work_tables() -%}
    {%- set sql = airflow_audit_touched_dag_work(['dag_id', 'run_id']) -%}
    {%- if sql | trim -%}
        {%- set runs = airflow_audit_touched_once('dag-runs-by-work', ['dag_id', 'run_id'], sql, tables) -%}
        {%- set sql -%}
        select {{ airflow_audit_surrogate_key(['touched_runs.dag_id', 'touched_runs.run_id']) }}
        from ({{ runs }}) as touched_runs
        {%- endset -%}
    {%- endif -%}
    {{- return({
        'key': 'dag_run_key',
        'tables': tables,
        'sql': sql}) -}}
{%- endmacro %}


{#- Partitions by DAG and due day (rpt_dag_daily_lateness: a day's figures are those of the scheduled runs
    of fct_dag_run_lateness due that day). Touched: the due days of the runs that mart rewrote in this
    build (its partitions, by DAG run), and every (DAG, day) whose count of runs there differs from the
    report's. A run's due time is set when Airflow creates it (run_after, or its data interval's end), and
    a clear resets its start, not that, so a touched run counts on the day it counted on; a run that left
    a day all the same (removed, or its due time rewritten) leaves that day one run short, which the
    counts find, and a day none of the touched runs is due on that holds as many runs as the report
    counted holds the same runs, none of them changed. The DAG partitions recomputed every day of a DAG
    with one new run: after 1% arrived as new runs, every DAG. `sql` gives the touched days by key,
    `natural_sql` as (dag_id, due_date). Found once, before the pre-hook deletes them (see
    airflow_audit_touched_once); found again after it, when they are more than the values hold, they are
    the same days less those without a run left, which nothing replaces. -#}
{% macro airflow_audit_dag_due_day_partitions() -%}
    {%- set tables = airflow_audit_dag_work_tables() -%}
    {%- set days_sql -%}{%- if execute and not airflow_audit_in_unit_test() -%}
        {%- set lateness = airflow_audit_relation('fct_dag_run_lateness') -%}
        select dag_id, {{ airflow_audit_due_date() }} as due_date
        from {{ lateness }}
        where {{ airflow_audit_in_partitions_of(lateness, airflow_audit_dag_run_work_partitions()) }}
        {{ airflow_audit_distinct_set_operator('union') }}
        select
            coalesce(reported.dag_id, counted.dag_id) as dag_id,
            coalesce(reported.due_date, counted.due_date) as due_date
        from (
            select dag_id, {{ airflow_audit_due_date() }} as due_date, count(*) as run_count
            from {{ lateness }}
            group by dag_id, {{ airflow_audit_due_date() }}
        ) as counted
        full outer join {{ airflow_audit_relation('rpt_dag_daily_lateness') }} as reported
            on counted.dag_id = reported.dag_id and counted.due_date = reported.due_date
        where coalesce(counted.run_count, 0) <> coalesce(reported.scheduled_run_count, 0)
    {%- endif -%}{%- endset -%}
    {%- set days_sql = airflow_audit_touched_once('dag-due-days', ['dag_id', 'due_date'], days_sql, tables)
        if days_sql | trim else days_sql -%}
    {%- set sql -%}{%- if days_sql | trim -%}
        select {{ airflow_audit_surrogate_key(['touched_days.dag_id', 'touched_days.due_date']) }}
        from ({{ days_sql }}) as touched_days
    {%- endif -%}{%- endset -%}
    {{- return({
        'key': 'dag_due_day_key',
        'tables': tables,
        'sql': sql,
        'natural_key': ['dag_id', 'due_date'],
        'natural_sql': days_sql}) -}}
{%- endmacro %}


{#- The day a scheduled run was due on (fct_dag_run_lateness's due_at). -#}
{% macro airflow_audit_due_date() -%}
    cast({{ dbt.date_trunc('day', 'due_at') }} as date)
{%- endmacro %}


{#- The raw tables of a DAG's runs and task attempts, whose changes touch the DAG and DAG run partitions
    (airflow_audit_dag_partitions, airflow_audit_dag_run_work_partitions). -#}
{% macro airflow_audit_dag_work_tables() -%}
    {{- return(['dag_run', 'task_instance', 'task_instance_history', 'task_fail']) -}}
{%- endmacro %}


{#- The query for the `columns` (of dag_id and run_id, which every staging view of those tables has) of
    the rows of those tables changed since the last passing build, distinct; '' without a warehouse's
    run to ask (parsing, a unit test). -#}
{% macro airflow_audit_touched_dag_work(columns) -%}
    {%- set sql -%}{%- if execute and not airflow_audit_in_unit_test() -%}
        {%- set views = {
            'dag_run': 'stg_airflow__dag_runs',
            'task_instance': 'stg_airflow__task_instances',
            'task_instance_history': 'stg_airflow__task_instance_histories',
            'task_fail': 'stg_airflow__task_fails'} -%}
        {%- for table in airflow_audit_dag_work_tables() %}
        select {{ columns | join(', ') }} from {{ airflow_audit_staging(views[table]) }}
        where {{ airflow_audit_changed(table) }}
        {%- if not loop.last %}
        {{ airflow_audit_distinct_set_operator('union') }}
        {%- endif %}
        {%- endfor -%}
    {%- endif -%}{%- endset -%}
    {{- return(sql) -}}
{%- endmacro %}


{#- The model body's filter: `<column> in (<touched keys>)` in a partial run, else everything. column
    defaults to the partitions' key as the mart names it. -#}
{% macro airflow_audit_in_partitions(partitions, column=none) -%}
    {%- if airflow_audit_partial_partitions(partitions) -%}
        {{ column or partitions.key }} in ({{ partitions.sql }})
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}


{#- The filter of a table's rows (`relation`, a mart) to the touched partitions: on DuckDB, by the rows found on
    the key column alone (`rowid in (...)`), which spares the rows outside them: a filter on the key itself
    reads every column of every row before it drops the rest (a key is a hash: no zone map skips any), where
    the rows found tell DuckDB which row groups to read. After an hour of new runs at 1M task instances,
    `select *` of fct_task_attempts' touched rows took 0.05 s instead of 0.35 to 0.5 s; as fast as before
    when the touched rows are spread over the table. The rows are found by airflow_audit_rowids_where. The other
    warehouses: the key filter. -#}
{% macro airflow_audit_in_partitions_of(relation, partitions, column=none) -%}
    {%- if column is none and airflow_audit_partial_partitions(partitions)
            and airflow_audit_rebuilt_here(relation, partitions) -%}
        {{- return('airflow_audit_built_at = ' ~ airflow_audit_built_at()) -}}
    {%- endif -%}
    {{- return(adapter.dispatch('airflow_audit_in_partitions_of', 'airflow_audit')(relation, partitions, column)) -}}
{%- endmacro %}

{#- True when `relation` is another incremental mart, partitioned as `partitions`, that this run built before
    the model reading it: its rows in the touched partitions are then exactly those with this run's
    time (airflow_audit_built_at), which the warehouse finds by pruning, without reading its key column
    (fct_task_failures reads fct_task_attempts and fct_task_instances so, the attempts anomaly mart
    fct_task_attempts). A model's own table, or a mart this run did not build, is read by key. -#}
{% macro airflow_audit_rebuilt_here(relation, partitions) -%}
    {%- set node = airflow_audit_built_by_this_run(relation) -%}
    {%- if node is none or (relation.identifier | lower) == (this.identifier | lower) -%}
        {{- return(false) -}}
    {%- endif -%}
    {%- set its_partitions = (node.config.meta or {}).get('airflow_audit_partitions') -%}
    {%- if not its_partitions -%}
        {{- return(false) -}}
    {%- endif -%}
    {%- set its = context[its_partitions]() -%}
    {{- return(its.key == partitions.key and its.tables == partitions.tables) -}}
{%- endmacro %}

{#- The model of `relation` (dbt's graph node) when this run builds it (it is selected); else none. -#}
{% macro airflow_audit_built_by_this_run(relation) -%}
    {%- set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ (relation.identifier | lower)) -%}
    {{- return(node if node is not none and node.unique_id in selected_resources else none) -}}
{%- endmacro %}

{% macro duckdb__airflow_audit_in_partitions_of(relation, partitions, column) -%}
    {%- if airflow_audit_partial_partitions(partitions) -%}
        {{ airflow_audit_rowids_where(relation, (column or partitions.key) ~ ' in (' ~ partitions.sql ~ ')') }}
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}

{% macro default__airflow_audit_in_partitions_of(relation, partitions, column) -%}
    {{- airflow_audit_in_partitions(partitions, column) -}}
{%- endmacro %}


{#- DuckDB: the rows of `relation` (a table) where `condition` holds, as a filter on the same table read
    again (`alias.rowid in (...)`; no alias: the unqualified rowid). The rows are found on the columns the
    condition reads alone; the filter then reads the rest of only those rows' row groups. They are handed
    over as one list (unnest(list(rowid))), not as a subquery of row ids: DuckDB's planner cannot tell how
    few rows a subquery returns, and where the same WHERE also filters the table on other columns (a
    finished attempt), it guesses the filtered table smaller and builds its join on it, reading every
    row. At 10M task instances after an hour of new runs, the anomaly mart's first markers took 0.3 s
    instead of 0.9 s, its window markers 0.3 s instead of 1.6 s (the query alone, on the warehouse the
    build read). -#}
{% macro airflow_audit_rowids_where(relation, condition, alias=none) -%}
    {{ alias ~ '.' if alias }}rowid in (select unnest(list(rowid)) from {{ relation }} where {{ condition }})
{%- endmacro %}


{#- A column that finds a row of a table again later in the same statement (a model's body): on DuckDB the
    row's rowid, elsewhere its `key` (prefixed by `alias.` when given). A join back on rowids reads only
    the row groups of the rows it finds, where one on a key reads the key of every row: the attempts
    anomaly mart joins the few attempts it computes back to fct_task_attempts for their other columns;
    at 10M task instances after an hour of new runs, 300 attempts at the end of the table took 0.002 s
    by rowid against 0.36 s by key, 300 spread over it 0.22 s against 0.34 s (warm, the join alone). A
    rowid is valid within the statement that read it only: DuckDB may move rows when it checkpoints. A
    dbt unit test's fixtures have no rowid: the key there. -#}
{% macro airflow_audit_row_locator(key, alias=none) -%}
    {{- return(adapter.dispatch('airflow_audit_row_locator', 'airflow_audit')(key, alias)) -}}
{%- endmacro %}

{% macro duckdb__airflow_audit_row_locator(key, alias) -%}
    {#- a dbt unit test reads its fixtures, which have no rowid -#}
    {{ alias ~ '.' if alias }}{{ key if airflow_audit_in_unit_test() else 'rowid' }}
{%- endmacro %}

{% macro default__airflow_audit_row_locator(key, alias) -%}
    {{ alias ~ '.' if alias }}{{ key }}
{%- endmacro %}


{#- The body's filter on a staging view by the partitions' natural key (a view hashes its key for every row
    it returns, so a filter on the key hashes the whole table; on DuckDB a semi-join on the natural key
    reads only the touched rows, about 10x faster for an hour of changes at 1M task instances): the
    other warehouses, which have no common form of a multi-column IN, filter on the key (`key`, an
    expression of it where the rows lack the column). -#}
{% macro airflow_audit_in_partitions_by_natural_key(partitions, key=none) -%}
    {{- return(adapter.dispatch('airflow_audit_in_partitions_by_natural_key', 'airflow_audit')(partitions, key)) -}}
{%- endmacro %}

{% macro duckdb__airflow_audit_in_partitions_by_natural_key(partitions, key) -%}
    {%- if airflow_audit_is_partial(partitions.tables) -%}
        ({{ partitions.natural_key | join(', ') }}) in ({{ partitions.natural_sql }})
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}

{% macro default__airflow_audit_in_partitions_by_natural_key(partitions, key) -%}
    {{- airflow_audit_in_partitions(partitions, key) -}}
{%- endmacro %}


{#- The keys the staging views hash from natural keys, by name: one definition for the views
    (airflow_audit_staging_key) and for a partial build that hashes them for the rows it reads only
    (airflow_audit_staged_in_partitions). -#}
{% macro airflow_audit_staging_keys() -%}
    {{- return({
        'task_attempt_key': ['dag_id', 'task_id', 'run_id', 'map_index', 'try_number'],
        'task_instance_key': ['dag_id', 'task_id', 'run_id', 'map_index'],
        'dag_run_key': ['dag_id', 'run_id']}) -}}
{%- endmacro %}

{% macro airflow_audit_staging_key(name) -%}
    {{- airflow_audit_surrogate_key(airflow_audit_staging_keys()[name]) -}}
{%- endmacro %}


{#- A mart body's read of a staging view (`relation`): its rows in the touched partitions, by natural key
    (airflow_audit_in_partitions_by_natural_key), or every row when the build is not partial. A view hashes
    its keys for every row it reads, and DuckDB applies the semi-join on the natural key only after that:
    on DuckDB a partial build reads the view's rows without their keys, filters them, and hashes the keys
    (airflow_audit_staging_keys) of the rows it keeps. The task instances touched after 1% of them changed
    at 10M: 2.76 s hashed first, 0.26 s so. -#}
{% macro airflow_audit_staged_in_partitions(relation, partitions) -%}
    {%- set filtered -%}
    select * from {{ relation }}
    where {{ airflow_audit_in_partitions_by_natural_key(partitions) }}
    {{- airflow_audit_filter_first(partitions) }}
    {%- endset -%}
    {{- airflow_audit_keys_hashed_last(relation, filtered) if airflow_audit_is_partial(partitions.tables)
        else filtered -}}
{%- endmacro %}


{#- `filtered`, a query of a staging view's (`relation`'s) rows filtered to what a build touched, with the
    view's keys (airflow_audit_staging_keys) hashed for the rows it keeps only, on DuckDB; elsewhere, as it
    is. -#}
{% macro airflow_audit_keys_hashed_last(relation, filtered) -%}
    {{- return(adapter.dispatch('airflow_audit_keys_hashed_last', 'airflow_audit')(relation, filtered)) -}}
{%- endmacro %}

{% macro duckdb__airflow_audit_keys_hashed_last(relation, filtered) -%}
    {#- the keys the view defines as `{{ airflow_audit_staging_key(name) }} as name`, no other way -#}
    {%- set node = airflow_audit_staging_node(relation) -%}
    {%- set code = (node.raw_code if node else '').split() | join(' ') -%}
    {%- set keys = [] -%}
    {%- for name, natural_key in airflow_audit_staging_keys().items()
            if "airflow_audit_staging_key('" ~ name ~ "') }} as " ~ name ~ "," in code -%}
        {%- do keys.append(airflow_audit_surrogate_key(natural_key) ~ ' as ' ~ name) -%}
    {%- endfor -%}
    {%- if not keys -%}
        {{- return(filtered) -}}
    {%- endif %}
    select * replace (
        {{ keys | join(',\n        ') }}
    )
    from ({{ filtered }}
    ) as touched
{%- endmacro %}

{% macro default__airflow_audit_keys_hashed_last(relation, filtered) -%}
    {{- return(filtered) -}}
{%- endmacro %}


{#- After a filter to what a build touched (`offset 0` on DuckDB, nothing elsewhere): the filter is then
    applied next to the scan. Without it DuckDB may place the filters of the query around it (a mart's own
    state filter, a test's `is null`) before it, which stops its join filter from pruning the scan and
    makes it compute every row of a staging view, hashing their keys: fct_task_attempts after an hour of
    new runs at 1M task instances read 0.84 s instead of 0.12 s, a staging not_null test 0.19 s instead
    of 0.01 s. Only where the build is partial (when `partitions` are given). -#}
{% macro airflow_audit_filter_first(partitions=none) -%}
    {%- if partitions is none or airflow_audit_partial_partitions(partitions) -%}
        {{- adapter.dispatch('airflow_audit_filter_first', 'airflow_audit')() -}}
    {%- endif -%}
{%- endmacro %}

{% macro duckdb__airflow_audit_filter_first() -%}
    {{- return('\n    offset 0') -}}
{%- endmacro %}

{% macro default__airflow_audit_filter_first() -%}
{%- endmacro %}


{#- The pre-hook: delete the partitions the body is about to insert (all of them when the run is not
    partial). Nothing on a full refresh or first run, where the model is created from scratch, nor in a
    partial build that replaces them in place (get_incremental_airflow_audit_in_place_sql). -#}
{% macro airflow_audit_delete_partitions(partitions) -%}
    {%- if not airflow_audit_without_warehouse() and is_incremental()
            and not (config.get('incremental_strategy') == 'airflow_audit_in_place'
                     and airflow_audit_partial_partitions(partitions)) -%}
        delete from {{ this }} where {{ airflow_audit_in_partitions(partitions) }}
    {%- endif -%}
{%- endmacro %}


{#- The finished attempts of fct_task_attempts (columns prefixed by `alias.` when given), the ones
    fct_task_attempt_duration_anomalies measures: a success or a failed try, with a start and a duration. -#}
{% macro airflow_audit_finished_attempt(alias=none) -%}
    {%- set prefix = alias ~ '.' if alias else '' -%}
    ({{ prefix }}state = 'success' or {{ prefix }}is_failed)
    and {{ prefix }}duration_s is not null
    and {{ prefix }}started_at is not null
{%- endmacro %}


{#- The finished DAG runs of fct_dag_runs (columns prefixed by `alias.` when given), the ones
    fct_dag_run_duration_anomalies measures: a success or a failure, with a start and a duration. -#}
{% macro airflow_audit_finished_run(alias=none) -%}
    {%- set prefix = alias ~ '.' if alias else '' -%}
    {{ prefix }}state in ('success', 'failed')
    and {{ prefix }}duration_s is not null
    and {{ prefix }}started_at is not null
{%- endmacro %}


{#- What a duration anomaly mart measures, for its pre-hook (airflow_audit_delete_duration_anomalies) and
    its body (airflow_audit_anomalies_partial): `measured`, the rows it measures (`finished(alias)` says
    which), their partitions, each row's key, its series (a task's attempts, a DAG's runs) and the order's
    tiebreak after started_at. -#}
{% macro airflow_audit_task_attempt_anomalies() -%}
    {{- return({
        'measured': ref('fct_task_attempts'), 'partitions': airflow_audit_task_instance_partitions(),
        'row_key': 'task_attempt_key', 'series': ['dag_id', 'task_id'], 'tiebreak': 'task_attempt_key',
        'finished': airflow_audit_finished_attempt}) -}}
{%- endmacro %}

{% macro airflow_audit_dag_run_anomalies() -%}
    {{- return({
        'measured': ref('fct_dag_runs'), 'partitions': airflow_audit_dag_run_partitions(),
        'row_key': 'dag_run_key', 'series': ['dag_id'], 'tiebreak': 'run_id',
        'finished': airflow_audit_finished_run}) -}}
{%- endmacro %}

{#- The duration anomaly marts' pre-hooks. -#}
{% macro airflow_audit_delete_task_attempt_anomalies() -%}
    {{ airflow_audit_delete_duration_anomalies(airflow_audit_task_attempt_anomalies()) }}
{%- endmacro %}

{% macro airflow_audit_delete_dag_run_anomalies() -%}
    {{ airflow_audit_delete_duration_anomalies(airflow_audit_dag_run_anomalies()) }}
{%- endmacro %}


{#- var airflow_audit_partial_build_limit as a number from 0 to 1, or a sentence saying what to give. -#}
{% macro airflow_audit_partial_build_limit() -%}
    {{- return(airflow_audit_setting(
        'airflow_audit_partial_build_limit', 'AIRFLOW_AUDIT_PARTIAL_BUILD_LIMIT',
        '(0(\\.[0-9]+)?|1(\\.0*)?|\\.[0-9]+)', "a share of a mart's rows from 0 to 1, such as 0.35") | float) -}}
{%- endmacro %}


{#- The var `name` (set from the environment variable `env`), trimmed, when it matches `pattern` whole;
    else the build stops in one sentence saying what to give (`expected`). -#}
{% macro airflow_audit_setting(name, env, pattern, expected) -%}
    {%- set given = var(name) | string -%}
    {%- if modules.re.match('^\\s*' ~ pattern ~ '\\s*$', given) is none -%}
        {{- exceptions.raise_compiler_error(
            "var " ~ name ~ " (" ~ env ~ ") is '" ~ given ~ "': give " ~ expected ~ ".") -}}
    {%- endif -%}
    {{- return(given | trim) -}}
{%- endmacro %}


{#- A decision a build takes with a query once and uses in several places (a model's body, compiled
    first, then its hooks, then its tests), by name: the value remembered for this dbt invocation, or
    none. The same tables answer the same then (nothing changes them between the body's compile and the
    pre-hooks), so a second query would only cost time: at 1M task instances, on 2 busy cores, 0.6 s for
    an anomaly mart's scope. Kept in dbt's graph of the invocation, the one object every node's context
    shares. -#}
{% macro airflow_audit_remembered(name) -%}
    {{- return((graph.get('airflow_audit_remembered') or {}).get(invocation_id ~ '/' ~ name)) -}}
{%- endmacro %}

{#- setdefault, in one step: two models' threads remembering their first answers at once would each
    put a new dict in the graph, and the second drop the first's answer. -#}
{% macro airflow_audit_remember(name, value) -%}
    {%- do graph.setdefault('airflow_audit_remembered', {}).update({invocation_id ~ '/' ~ name: value}) -%}
    {{- return(value) -}}
{%- endmacro %}


{#- A query of a partial build's touched rows (`query`: rows of `columns`, named `name`; `tables`, the raw
    tables whose changes it finds): on DuckDB, run once per dbt invocation, at its first use, and written
    into each statement that uses it as values, where it finds at most airflow_audit_values_limit()
    rows; else the query itself. The first answer is the one meant: the staging views it reads do not
    change during a build, and the pool hours (airflow_audit_pool_hour_partitions) are those the report's
    body replaced, which its post-hook then forgets. An hourly build filters on the touched task
    instances in every mart body, pre-hook and data test that reads the task instance marts, each time
    scanning task_instance and its zoned timestamps again (at 10M task instances, 0.05 s per use, warm,
    and about 150 uses). As values, DuckDB's planner also knows how few they are. With count_all, it
    counts every row, remembered for airflow_audit_touched_count. Elsewhere, in a build that does not
    know what changed, or without a warehouse: the query. -#}
{% macro airflow_audit_touched_once(name, columns, query, tables, count_all=false) -%}
    {%- if target.type != 'duckdb' or not execute or airflow_audit_without_warehouse()
            or not airflow_audit_knows_changes(tables) -%}
        {{- return(query) -}}
    {%- endif -%}
    {%- set remembered = airflow_audit_remembered('touched:' ~ name) -%}
    {%- if remembered is not none -%}
        {{- return(remembered) -}}
    {%- endif -%}
    {%- set limit = airflow_audit_values_limit() -%}
    {%- set literals = [] -%}
    {%- for column in columns -%}
        {%- do literals.append(airflow_audit_duckdb_literal('touched.' ~ column)) -%}
    {%- endfor -%}
    {%- set fetch -%}
        {%- if count_all %}
        with found as materialized ({{ query }})
        select
            (select count(*) from found),
            (
                select string_agg('(' || {{ literals | join(" || ', ' || ") }} || ')', ', ')
                from (select * from found limit {{ limit + 1 }}) as touched
            )
        {%- else %}
        select count(*), string_agg('(' || {{ literals | join(" || ', ' || ") }} || ')', ', ')
        from (select * from ({{ query }}) as found limit {{ limit + 1 }}) as touched
        {%- endif %}
    {%- endset -%}
    {%- set fetched = run_query(fetch).rows[0] -%}
    {%- if count_all -%}
        {%- do airflow_audit_remember('touched-count:' ~ name, fetched[0]) -%}
    {%- endif -%}
    {%- if fetched[0] > limit -%}
        {%- set relation = query -%}
    {%- elif fetched[0] == 0 -%}
        {%- set relation -%}
            select * from ({{ query }}) as found where 1 = 0
        {%- endset -%}
    {%- else -%}
        {%- set relation -%}
            select * from (values {{ fetched[1] }}) as touched({{ columns | join(', ') }})
        {%- endset -%}
    {%- endif -%}
    {{- return(airflow_audit_remember('touched:' ~ name, relation)) -}}
{%- endmacro %}


{#- How many rows airflow_audit_touched_once(name, ..., count_all=true) found in this build, or none. -#}
{% macro airflow_audit_touched_count(name) -%}
    {{- return(airflow_audit_remembered('touched-count:' ~ name)) -}}
{%- endmacro %}


{#- The SQL that renders the value of `expression` on DuckDB as a literal of its type, for a build that
    writes values it queried once into the statements that use them (airflow_audit_touched_once,
    airflow_audit_fetch_markers): a string quoted, any other value cast from its text (DuckDB's text of
    a value casts back to the same value: a timestamp to the microsecond, a double in its shortest exact
    form), null as null. Rendered by the warehouse, never read back through dbt's typed tables. -#}
{% macro airflow_audit_duckdb_literal(expression) -%}
    coalesce(case
        when typeof({{ expression }}) = 'VARCHAR'
            then '''' || replace(cast({{ expression }} as varchar), '''', '''''') || ''''
        else 'cast(''' || replace(cast({{ expression }} as varchar), '''', '''''') || ''' as '
            || typeof({{ expression }}) || ')'
    end, 'null')
{%- endmacro %}


{#- Most rows written into a build's SQL as values, touched rows (airflow_audit_touched_once) or markers
    (airflow_audit_fetch_markers, written once into a table in a run or build); with more, the query is used
    instead (for the markers in a run or build, once, into that table). An hour of new runs at 10M task
    instances touches about 300 task instances. DuckDB parses and binds a values list again at each use: when
    the attempts mart wrote its window markers into six statements, after 1% of 1M task instances arrived as
    new runs (9,019 window markers), dbt's own build took 18.4 and 18.6 s with them written out (the limit was
    10,000), 8.3 and 8.0 s with the query, the mart 16.6 s against 3.4 s, dbt's peak RSS 2.4 GB against 1.0
    GB. For tests only, AIRFLOW_AUDIT_TEST_VALUES_LIMIT sets it (0: always the query). -#}
{% macro airflow_audit_values_limit() -%}
    {%- set override = env_var('AIRFLOW_AUDIT_TEST_VALUES_LIMIT', '') | trim -%}
    {{- return(override | int if override else 2000) -}}
{%- endmacro %}


{#- A duration anomaly mart's first markers: per series, the earliest start among the rows of the touched
    partitions, as `measured` holds them now (finished ones) and as this table held them. Only a series
    with one can lack rows to compute: the body looks for them there (airflow_audit_in_touched_series).
    The pre-hook reads from the first window marker instead (airflow_audit_from_first_window_marker). -#}
{% macro airflow_audit_first_markers(anomalies, kept=false) -%}
    {%- set series, partitions = anomalies.series | join(', '), anomalies.partitions -%}
    select {{ series }}, min(started_at) as first_marker_at
    from (
        select {{ series }}, started_at
        from {{ anomalies.measured }} as touched_rows
        where
            {{ airflow_audit_in_partitions_of(anomalies.measured, partitions) }}
            and {{ anomalies.finished('touched_rows') }}
        union all
        select {{ series }}, started_at
        from {{ airflow_audit_held_touched_rows(anomalies, kept) }}
    ) as markers
    group by {{ series }}
{%- endmacro %}


{#- A duration anomaly mart's markers, queried once per build, before its pre-hook (by the scope,
    airflow_audit_anomalies_partial): the number of first markers (airflow_audit_first_markers, 'markers') and
    of window markers (airflow_audit_window_markers, 'window-markers'), and the scope's two counts: the
    finished rows of the touched partitions (touched_rows) and every finished row (measured_rows). On DuckDB
    one query finds the touched rows once for all of them (at 10M task instances after an hour of new runs,
    the three queries that each found them took 4.5 s of the attempts mart's 10.9 s), and the markers are also
    written out for the pre-hook and the body (airflow_audit_markers_relation): in a run or build, into tables
    of the build, whatever their number (airflow_audit_write_markers); else (dbt compile) as values in each
    statement, up to airflow_audit_values_limit() of a kind. Each value is rendered by the warehouse
    (airflow_audit_duckdb_literal). Written out, they tell DuckDB's planner how few they are: as a query, it
    cannot tell, and it builds its joins on the big side instead; and each use would run the query again.
    Written into each statement, DuckDB parses and binds them again at each: at 1M task instances after 1%
    arrived as new runs, the dag-run mart's 1,236 window markers made its compiled SQL 709 KB and cost about
    3.7 s of its statements (creating its view, describing it, planning and running the insert) against 0.6 s
    named in a table, on a busy machine. Elsewhere, nothing is written out, nor in dbt compile beyond
    airflow_audit_values_limit() markers of a kind. -#}
{% macro airflow_audit_fetch_markers(anomalies) -%}
    {%- set measured, partitions = anomalies.measured, anomalies.partitions -%}
    {%- set measured_rows -%}
        (
            select count(*)
            from {{ measured }} as measured
            where {{ anomalies.finished('measured') }}
        ) as measured_rows
    {%- endset -%}
    {%- if target.type != 'duckdb' -%}
        {%- set fetched = {} -%}
        {%- for kind, query in [
                ('markers', airflow_audit_first_markers(anomalies)),
                ('window-markers', airflow_audit_window_markers(anomalies))] -%}
            {%- do fetched.update({kind: run_query('select count(*) from (' ~ query ~ ') as markers').rows[0][0]}) -%}
        {%- endfor -%}
        {%- set scope -%}
            select
                (
                    select count(*)
                    from {{ measured }} as touched_rows
                    where
                        {{ airflow_audit_in_partitions_of(measured, partitions) }}
                        and {{ anomalies.finished('touched_rows') }}
                ) as touched_rows,
                {{ measured_rows }}
        {%- endset -%}
        {%- set counts = run_query(scope).rows[0] -%}
        {%- do fetched.update({'touched_rows': counts[0], 'measured_rows': counts[1]}) -%}
        {{- return(fetched) -}}
    {%- endif -%}
    {#- a run or build writes them into tables of its own; dbt compile, into its SQL -#}
    {%- if flags.WHICH in ('run', 'build') -%}
        {{- return(airflow_audit_write_markers(anomalies, measured_rows)) -}}
    {%- endif -%}
    {%- set kinds = {
        'markers': {'names': anomalies.series, 'numbers': [], 'moments': ['first_marker_at']},
        'window-markers': {
            'names': [anomalies.row_key] + anomalies.series, 'numbers': ['is_old_row'], 'moments': ['started_at']}} -%}
    {%- set aggregates = {} -%}
    {%- for kind, columns in kinds.items() -%}
        {%- set literals = [] -%}
        {%- for column in columns.names + columns.numbers + columns.moments -%}
            {%- do literals.append(airflow_audit_duckdb_literal('markers.' ~ column)) -%}
        {%- endfor -%}
        {%- do aggregates.update({kind: "string_agg('(' || " ~ literals | join(" || ', ' || ") ~ " || ')', ', ')"}) -%}
    {%- endfor -%}
    {%- set fetch -%}
        with
        {{ airflow_audit_marker_ctes(anomalies, materialized=true) }},

        first_markers as (
            select {{ anomalies.series | join(', ') }}, min(started_at) as first_marker_at
            from touched
            group by {{ anomalies.series | join(', ') }}
        ),

        window_markers as (
            {{ airflow_audit_window_markers_of_touched(anomalies) }}
        )

        select
            (select count(*) from first_markers) as first_marker_count,
            (select {{ aggregates['markers'] }} from first_markers as markers) as first_marker_rows,
            (select count(*) from window_markers) as window_marker_count,
            (select {{ aggregates['window-markers'] }} from window_markers as markers) as window_marker_rows,
            (select count(*) from touched where is_old_row = 0) as touched_rows,
            {{ measured_rows }}
    {%- endset -%}
    {%- set fetched = run_query(fetch).rows[0] -%}
    {%- for kind, columns in kinds.items() -%}
        {%- set count, rows = fetched[loop.index0 * 2], fetched[loop.index0 * 2 + 1] -%}
        {%- set relation = none -%}
        {%- if count == 0 -%}
            {%- do airflow_audit_remember('none-' ~ kind ~ ':' ~ measured, true) -%}
            {%- set relation -%}
                (select
                    {%- for column in columns.names %}
                    cast(null as {{ dbt.type_string() }}) as {{ column }},
                    {%- endfor %}
                    {%- for column in columns.numbers %}
                    cast(null as {{ dbt.type_int() }}) as {{ column }},
                    {%- endfor %}
                    {%- for column in columns.moments %}
                    cast(null as {{ dbt.type_timestamp() }}) as {{ column }}
                    {%- endfor %}
                where 1 = 0)
            {%- endset -%}
        {%- elif count <= airflow_audit_values_limit() -%}
            {%- set relation -%}
                (select * from (values {{ rows }}) as marker_values({{
                    (columns.names + columns.numbers + columns.moments) | join(', ') }}))
            {%- endset -%}
        {%- endif -%}
        {%- if relation is not none -%}
            {%- do airflow_audit_remember(kind ~ ':' ~ measured, relation) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return({
        'markers': fetched[0], 'window-markers': fetched[2],
        'touched_rows': fetched[4], 'measured_rows': fetched[5]}) -}}
{%- endmacro %}


{#- airflow_audit_fetch_markers in a run or build on DuckDB: the rows of the touched partitions
    (airflow_audit_marker_ctes' `touched`, reading the mart as it was, before any hook) written once into a
    table of the build, and each kind of markers from that table into its own (airflow_audit_markers_table),
    which the pre-hook and the body name; then the counts, read from those tables. The values a query found
    were written into the tables before, and beyond airflow_audit_values_limit() of a kind each table's
    query found the touched rows again: at 10M task instances after 1% arrived as new runs, the attempts
    mart's first query took 7.1 s and the two tables' 5.0 and 4.2 s. -#}
{% macro airflow_audit_write_markers(anomalies, measured_rows) -%}
    {%- set series, measured = anomalies.series | join(', '), anomalies.measured -%}
    {%- set touched = airflow_audit_markers_table('touched-rows') -%}
    {%- set tables = {
        'markers': airflow_audit_markers_table('markers'),
        'window-markers': airflow_audit_markers_table('window-markers')} -%}
    {%- do run_query('create or replace table ' ~ touched ~ ' as with '
        ~ airflow_audit_marker_ctes(anomalies) ~ ' select * from touched') -%}
    {%- do run_query('create or replace table ' ~ tables['markers'] ~ ' as select ' ~ series
        ~ ', min(started_at) as first_marker_at from ' ~ touched ~ ' group by ' ~ series) -%}
    {%- do run_query('create or replace table ' ~ tables['window-markers'] ~ ' as with '
        ~ airflow_audit_marker_ctes(anomalies, touched_table=touched) ~ ' '
        ~ airflow_audit_window_markers_of_touched(anomalies)) -%}
    {%- set counts -%}
        select
            (select count(*) from {{ tables['markers'] }}) as first_marker_count,
            (select count(*) from {{ tables['window-markers'] }}) as window_marker_count,
            (select count(*) from {{ touched }} where is_old_row = 0) as touched_rows,
            {{ measured_rows }}
    {%- endset -%}
    {%- set fetched = run_query(counts).rows[0] -%}
    {%- for kind, count in [('markers', fetched[0]), ('window-markers', fetched[1])] -%}
        {%- if count == 0 -%}
            {%- do airflow_audit_remember('none-' ~ kind ~ ':' ~ measured, true) -%}
        {%- endif -%}
        {%- do airflow_audit_remember(kind ~ ':' ~ measured, tables[kind] | string) -%}
    {%- endfor -%}
    {{- return({
        'markers': fetched[0], 'window-markers': fetched[1],
        'touched_rows': fetched[2], 'measured_rows': fetched[3]}) -}}
{%- endmacro %}


{#- True when this build of a duration anomaly mart found no window marker and wrote that into its SQL
    (airflow_audit_fetch_markers; on DuckDB): then no row after a marker is computed again, and the
    pre-hook (airflow_audit_delete_duration_anomalies), the body's search for the rows to compute
    (airflow_audit_is_missing) and its scope (airflow_audit_missing_starts) leave out the half that looks
    for them, which finds nothing but reads every row of the mart or of the touched series to find it.
    A change that moves no start and no duration finds none: a try number or a note moving on, Airflow
    2.10+ clearing a task instance, a run's scheduling decision. -#}
{% macro airflow_audit_without_window_markers(anomalies) -%}
    {{- return(airflow_audit_remembered('none-window-markers:' ~ anomalies.measured) == true) -}}
{%- endmacro %}


{#- A duration anomaly mart's first markers (`kind` 'markers') or window markers ('window-markers') as a
    relation to join: as airflow_audit_fetch_markers wrote them out (a table of the build, or values), or
    the query. -#}
{% macro airflow_audit_markers_relation(anomalies, kind) -%}
    {%- set remembered = airflow_audit_remembered(kind ~ ':' ~ anomalies.measured) -%}
    {%- if remembered is not none -%}
        {{ remembered }}
    {%- elif kind == 'markers' -%}
        ({{ airflow_audit_first_markers(anomalies, kept=true) }})
    {%- else -%}
        ({{ airflow_audit_window_markers(anomalies, kept=true) }})
    {%- endif -%}
{%- endmacro %}


{#- A duration anomaly mart's window markers: the rows of the touched partitions, as `measured` holds them
    now (finished ones, is_old_row 0) and as this table held them (is_old_row 1), that can change another
    row's figures, by `row_key` and is_old_row. Only a successful row is in a window; and a successful row
    this table held, found again now with the same start and duration as the one row of its series
    starting then, was exchanged for itself: each window holds the same durations from the same starts in
    the same order. That is what Airflow writes when it clears an old task instance (2.10+ moves the try
    to task_instance_history, unchanged, or a try number moves on) or touches a run without moving it (a
    note, a scheduling decision): its own row is computed again, the windows after it are not. -#}
{% macro airflow_audit_window_markers(anomalies, kept=false) -%}
    with
    {{ airflow_audit_marker_ctes(anomalies, kept=kept) }}

    {{ airflow_audit_window_markers_of_touched(anomalies) }}
{%- endmacro %}


{#- The CTEs a duration anomaly mart's markers are found from: `touched`, the rows of the touched
    partitions, as `measured` holds them now (finished ones, is_old_row 0) and as this table held them
    (is_old_row 1), with is_success (or as a run or build on DuckDB wrote them into `touched_table`); and
    `exchanges`, each start of a series where one successful row as it was and one as it is are alike.
    `touched` is read more than once: in a CTE, which DuckDB then computes once (`materialized`, where a
    query reads it in several subqueries, says so). -#}
{% macro airflow_audit_marker_ctes(anomalies, materialized=false, kept=false, touched_table=none) -%}
    {%- set series, row_key, measured = anomalies.series, anomalies.row_key, anomalies.measured -%}
    touched as {{ 'materialized ' if materialized }}(
        {%- if touched_table is not none %}
        select * from {{ touched_table }}
        {%- else %}
        select
            {{ row_key }}, {{ series | join(', ') }}, started_at, duration_s, 0 as is_old_row,
            case when state = 'success' then 1 else 0 end as is_success
        from {{ measured }} as touched_rows
        where
            {{ airflow_audit_in_partitions_of(measured, anomalies.partitions) }}
            and {{ anomalies.finished('touched_rows') }}
        union all
        select
            {{ row_key }}, {{ series | join(', ') }}, started_at, duration_s, 1 as is_old_row,
            case when state = 'success' then 1 else 0 end as is_success
        from {{ airflow_audit_held_touched_rows(anomalies, kept) }}
        {%- endif %}
    ),

    exchanges as (
        select {{ series | join(', ') }}, started_at
        from touched
        group by {{ series | join(', ') }}, started_at
        having
            count(*) = 2 and sum(is_old_row) = 1 and sum(is_success) = 2
            and min(duration_s) = max(duration_s)
    )
{%- endmacro %}


{#- The window markers (airflow_audit_window_markers) among the rows of the CTEs of
    airflow_audit_marker_ctes. -#}
{% macro airflow_audit_window_markers_of_touched(anomalies) -%}
    {%- set series, measured = anomalies.series, anomalies.measured -%}
    select
        touched.{{ anomalies.row_key }},
        touched.is_old_row,
        touched.{{ series | join(', touched.') }},
        touched.started_at
    from touched
    left join (
        -- at a start no other row of the series has now
        select exchanges.{{ series | join(', exchanges.') }}, exchanges.started_at
        from exchanges
        inner join (
            -- the finished rows at an exchange's start, found first in a query of their own: else DuckDB
            -- joins the exchanges to every finished row and filters the row ids after the join
            select starting_then.{{ series | join(', starting_then.') }}, starting_then.started_at
            from {{ measured }} as starting_then
            where
                {{ anomalies.finished('starting_then') }}
                {%- if target.type == 'duckdb' %}
                and {{ airflow_audit_rowids_where(measured,
                    '(' ~ series | join(', ') ~ ', started_at) in (select ' ~ series | join(', ')
                    ~ ', started_at from exchanges)', 'starting_then') }}
                {%- endif %}
        ) as starting_then
            on
                {% for column in series -%}
                starting_then.{{ column }} = exchanges.{{ column }} and
                {% endfor -%}
                starting_then.started_at = exchanges.started_at
        group by exchanges.{{ series | join(', exchanges.') }}, exchanges.started_at
        having count(*) = 1
    ) as exchanged
        on
            {% for column in series -%}
            touched.{{ column }} = exchanged.{{ column }} and
            {% endfor -%}
            touched.started_at = exchanged.started_at
    where touched.is_success = 1 and exchanged.started_at is null
{%- endmacro %}


{#- True when a duration anomaly mart (`anomalies`, above) builds only what changed: a partial build
    (airflow_audit_is_partial) in which the rows it computes again are at most var
    airflow_audit_partial_build_limit of the rows it measures: the finished rows of the touched partitions,
    and history_runs rows after each window marker (airflow_audit_window_markers), at most. Beyond that,
    computing the windows around the gaps costs more than computing every row. Asked once per build
    (airflow_audit_remembered), with the markers fetched (airflow_audit_fetch_markers): the pre-hook uses
    the body's answer. At 10M task instances with 1% of them changed across the history (a try number moved
    on, a start and duration kept), the attempts mart was built partially in 17.7 s instead of 47 s in
    full (384MB, its node alone): 1.6 s the first markers, 4.4 s the window markers, 0.8 s this count (now
    one query, airflow_audit_fetch_markers), 0.9 s the pre-hook, 9.9 s the body. -#}
{% macro airflow_audit_anomalies_partial(anomalies) -%}
    {%- set partitions = anomalies.partitions -%}
    {%- if not airflow_audit_is_partial(partitions.tables) -%}
        {{- return(false) -}}
    {%- endif -%}
    {%- set name = 'partial:' ~ anomalies.measured -%}
    {%- if airflow_audit_remembered(name) is none -%}
        {%- set fetched = airflow_audit_fetch_markers(anomalies) -%}
        {%- set history_runs = var('airflow_audit_anomaly_history_runs') | int -%}
        {#- at most every row: history_runs rows after each marker may be the same rows -#}
        {%- set again = [
            fetched.touched_rows + history_runs * fetched['window-markers'], fetched.measured_rows] | min -%}
        {%- do airflow_audit_remember(name, again <= airflow_audit_partial_build_limit() * fetched.measured_rows) -%}
    {%- endif -%}
    {{- return(airflow_audit_remembered(name)) -}}
{%- endmacro %}


{#- A duration anomaly mart's rows of the touched partitions as it held them before its pre-hook deleted them
    (the `is_old_row` side of its markers), kept for the build in a table of their own, <mart>__held_touched,
    where its markers are not written out (airflow_audit_fetch_markers: on Snowflake, BigQuery and Redshift):
    the markers' query runs again in the pre-hook and in the body, after the pre-hook deleted those rows, and
    read from the mart it found fewer markers there, so the body left rows the pre-hook had deleted uncomputed
    (found by tests/end_to_end/test_incremental_marts.py with AIRFLOW_AUDIT_TEST_VALUES_LIMIT at 0). Hooks of
    the mart: `step` 'drop' (first, and after the build: a table a failed build left) or 'create'. -#}
{% macro airflow_audit_keep_held_touched(anomalies, step) -%}
    {%- if airflow_audit_without_warehouse() or not is_incremental() -%}
        {{- return('') -}}
    {%- endif -%}
    {%- if step == 'drop' -%}
        drop table if exists {{ airflow_audit_held_touched_relation() }}
    {%- elif airflow_audit_anomalies_partial(anomalies) and not airflow_audit_markers_written_out(anomalies) -%}
        create table {{ airflow_audit_held_touched_relation() }} as
        select {{ anomalies.row_key }}, {{ anomalies.series | join(', ') }}, started_at, duration_s, state
        from {{ this }}
        where {{ airflow_audit_in_partitions_of(this, anomalies.partitions) }}
    {%- endif -%}
{%- endmacro %}


{#- The table a build on DuckDB writes a duration anomaly mart's touched rows or markers of `kind`
    ('touched-rows', 'markers' or 'window-markers') into, once, beside the mart (airflow_audit_write_markers);
    its post-hook drops it (airflow_audit_drop_build_tables). -#}
{% macro airflow_audit_markers_table(kind) -%}
    {{- return(api.Relation.create(database=this.database, schema=this.schema,
        identifier=this.identifier ~ '__' ~ kind | replace('-', '_'))) -}}
{%- endmacro %}


{#- A duration anomaly mart's post-hook: drop the tables its build kept beside it. On DuckDB, those its
    touched rows and markers were written into (airflow_audit_markers_table), by this build or by one that
    failed before its post-hook, in one hook of three statements (DuckDB runs them all); elsewhere the held
    rows (airflow_audit_keep_held_touched), as its 'drop' step. -#}
{% macro airflow_audit_drop_build_tables(anomalies) -%}
    {%- if target.type != 'duckdb' -%}
        {{- return(airflow_audit_keep_held_touched(anomalies, 'drop')) -}}
    {%- endif -%}
    {%- if not airflow_audit_without_warehouse() -%}
        drop table if exists {{ airflow_audit_markers_table('touched-rows') }};
        drop table if exists {{ airflow_audit_markers_table('markers') }};
        drop table if exists {{ airflow_audit_markers_table('window-markers') }}
    {%- endif -%}
{%- endmacro %}


{#- The table airflow_audit_keep_held_touched keeps a build's held rows in, beside the mart. -#}
{% macro airflow_audit_held_touched_relation() -%}
    {{- return(api.Relation.create(
        database=this.database, schema=this.schema, identifier=this.identifier ~ '__held_touched')) -}}
{%- endmacro %}


{#- `from` and `where` of the rows a duration anomaly mart held in the touched partitions: `kept`, as the
    build kept them before the pre-hook (airflow_audit_keep_held_touched), for the markers' query in the
    pre-hook and the body; else from the mart itself, before any hook (airflow_audit_fetch_markers). -#}
{% macro airflow_audit_held_touched_rows(anomalies, kept) -%}
    {%- if kept -%}
        {{ airflow_audit_held_touched_relation() }} where 1 = 1
    {%- else -%}
        {{ this }} where {{ airflow_audit_in_partitions_of(this, anomalies.partitions) }}
    {%- endif -%}
{%- endmacro %}


{#- Whether both kinds of a duration anomaly mart's markers are written out in this build, into a table of
    it or into its SQL as values (airflow_audit_fetch_markers). -#}
{% macro airflow_audit_markers_written_out(anomalies) -%}
    {{- return(airflow_audit_remembered('markers:' ~ anomalies.measured) is not none
        and airflow_audit_remembered('window-markers:' ~ anomalies.measured) is not none) -}}
{%- endmacro %}


{#- A duration anomaly mart's pre-hook: in a partial build, delete the rows whose figures may have
    changed, which the body then computes again. A row's figures depend on itself and on the last
    history_runs successful rows of its series (`series`: a task's attempts, a DAG's runs) before it (its
    window), in start order, ties broken by `tiebreak`. The rows of the touched partitions go. So does a
    row with fewer than history_runs successful rows between it and a window marker before it
    (airflow_audit_window_markers: a success of a touched partition, now or as this table held it at its old
    place, that was not exchanged for itself): only then can the marker be inside its window. With
    history_runs = 30, a run that adds a day of attempts deletes those and nothing else; one that changes
    an old attempt's duration, that attempt and the 30 successes after it; one that clears an old task
    instance (its try kept in the history), that task instance's rows alone. Only each series' rows from
    its first window marker on are read. Everything when the build does not know what changed or when that
    is most of the rows (airflow_audit_anomalies_partial); nothing on a full refresh or first run. -#}
{% macro airflow_audit_delete_duration_anomalies(anomalies) -%}
    {%- if not airflow_audit_without_warehouse() and is_incremental() -%}
        {%- set measured, partitions, row_key = anomalies.measured, anomalies.partitions, anomalies.row_key -%}
        {%- set series, tiebreak, finished = anomalies.series, anomalies.tiebreak, anomalies.finished -%}
        {%- if airflow_audit_anomalies_partial(anomalies) -%}
            {%- set history_runs = var('airflow_audit_anomaly_history_runs') | int -%}
            {%- set columns = [row_key] + series + ['started_at'] + ([tiebreak] if tiebreak != row_key else []) -%}
            {%- set in_order -%}
                partition by {{ series | join(', ') }} order by started_at, {{ tiebreak }}, is_old_row
            {%- endset -%}
            delete from {{ this }} where {{ partitions.key }} in ({{ partitions.sql }})
            {%- if not airflow_audit_without_window_markers(anomalies) %} or {{ row_key }} in (
                select {{ row_key }}
                from (
                    select
                        {{ row_key }},
                        is_old_row,
                        successes_so_far - is_success as prior_successes,
                        max(case when is_marker = 1 then successes_so_far end) over (
                            {{ in_order }} rows between unbounded preceding and 1 preceding
                        ) as successes_at_last_marker
                    from (
                        select
                            *,
                            sum(is_success) over (
                                {{ in_order }} rows between unbounded preceding and current row
                            ) as successes_so_far
                        from (
                            select
                                rows_and_old_rows.*,
                                case when markers.{{ row_key }} is null then 0 else 1 end as is_marker
                            from (
                                select
                                    measured.{{ columns | join(', measured.') }},
                                    0 as is_old_row,
                                    case when measured.state = 'success' then 1 else 0 end as is_success
                                -- rows before a series' first window marker have none before them: only the rest
                                from {{ airflow_audit_from_first_window_marker(measured, 'measured', anomalies) }}
                                where {{ finished('measured') }}
                                union all
                                select
                                    {{ columns | join(', ') }},
                                    1 as is_old_row,
                                    0 as is_success
                                from {{ this }}
                                where {{ airflow_audit_in_partitions_of(this, partitions) }}
                            ) as rows_and_old_rows
                            left join {{ airflow_audit_markers_relation(anomalies, 'window-markers') }} as markers
                                on
                                    rows_and_old_rows.{{ row_key }} = markers.{{ row_key }}
                                    and rows_and_old_rows.is_old_row = markers.is_old_row
                        ) as flagged
                    ) as counted
                ) as marked
                where is_old_row = 0 and prior_successes - successes_at_last_marker < {{ history_runs }}
            )
            {%- endif -%}
        {%- else -%}
            delete from {{ this }} where 1 = 1
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{#- A duration anomaly mart's rows to compute (its body's `marked`): the rows of `finished`, each with
    is_missing, true when the mart does not hold it: every row unless the build is partial. Then the
    pre-hook left the mart holding every finished row of `measured` (`anomalies`) but those of the
    touched partitions and those after a window marker it deleted, so only those are looked for in the
    mart: an anti-join of every row with the mart took 20 s of a 45 s build at 10M task instances. -#}
{% macro airflow_audit_missing_rows(finished, anomalies, partial) -%}
    select
        *,
        {% if partial -%}
            {{ airflow_audit_is_missing(anomalies) }}
        {%- else -%}
            true
        {%- endif %} as is_missing

    from {{ finished }}
{%- endmacro %}


{#- `relation` as `alias`, its rows from the first window marker of their series on (a series without
    one: none), for the pre-hook and the body of a duration anomaly mart. -#}
{% macro airflow_audit_from_first_window_marker(relation, alias, anomalies) -%}
    {%- set series = anomalies.series -%}
    {{ relation }} as {{ alias }}
    inner join (
        select {{ series | join(', ') }}, min(started_at) as first_marker_at
        from {{ airflow_audit_markers_relation(anomalies, 'window-markers') }} as window_markers
        group by {{ series | join(', ') }}
    ) as first_window_markers
        on
            {% for column in series -%}
            {{ alias }}.{{ column }} = first_window_markers.{{ column }}
            and {% endfor -%}
            {{ alias }}.started_at >= first_window_markers.first_marker_at
{%- endmacro %}


{#- In a partial build, whether a finished row of a duration anomaly mart's `measured` is missing from the
    mart (airflow_audit_missing_rows): a row of a touched partition, or one after a window marker the
    mart no longer holds. Its bare columns are the row's. -#}
{% macro airflow_audit_is_missing(anomalies) -%}
    {%- set row_key, series, partitions = anomalies.row_key, anomalies.series, anomalies.partitions -%}
    (
        {{ partitions.key }} in ({{ partitions.sql }})
        {%- if not airflow_audit_without_window_markers(anomalies) %}
        or {{ row_key }} in (
            {%- for table in [anomalies.measured, this] %}
            select after_markers.{{ row_key }}
            from {{ airflow_audit_from_first_window_marker(table, 'after_markers', anomalies) }}
            {%- if loop.first %}
            -- less those the mart still holds (a row outside the touched partitions starts where it started)
            {{ airflow_audit_distinct_set_operator('except') }}
            {%- endif %}
            {%- endfor %}
        )
        {%- endif %}
    )
{%- endmacro %}


{#- The series and start of each finished row of a partial build's `measured` that the mart lacks (the rows
    airflow_audit_is_missing finds), for the scope of the rows to read (airflow_audit_history_scope): the
    rows of the touched partitions, found as the other reads of `measured` find them
    (airflow_audit_in_partitions_of: by this build's time where this build rewrote it), and the rows from
    a series' first window marker on, found by their start, less those the mart holds (by key, series and
    start: a row it holds at another start is of a touched partition, in the first half). Each half reads
    only its own rows: as one filter (`a or b`) on every finished row, the search read the key columns of
    every row (at 10M task instances after an hour of new runs, 0.73 s of a 1.5 to 2.0 s body for 550
    rows); the second half as a filter on the key (`in`), DuckDB built its join on the rows after the
    markers (after 1% of them arrived as new runs, 2.1 s for none). A start found by both halves is
    listed once. -#}
{% macro airflow_audit_missing_starts(anomalies) -%}
    {%- set measured, series = anomalies.measured, anomalies.series -%}
    {#- without the second half, the union's distinct is the first half's own -#}
    select {{ 'distinct ' if airflow_audit_without_window_markers(anomalies) }}{{ series | join(', ') }}, started_at
    from {{ measured }} as candidates
    where
        {{ anomalies.finished('candidates') }}
        and {{ airflow_audit_in_partitions_of(measured, anomalies.partitions) }}
    {%- if not airflow_audit_without_window_markers(anomalies) %}
    {{ airflow_audit_distinct_set_operator('union') }}
    select {{ series | join(', ') }}, started_at
    from (
        {%- for table in [measured, this] %}
        select
            after_rows.{{ anomalies.row_key }},
            after_rows.{{ series | join(', after_rows.') }},
            after_rows.started_at
        from {{ airflow_audit_from_first_window_marker(table, 'after_rows', anomalies) }}
        {%- if loop.first %}
        where {{ anomalies.finished('after_rows') }}
        -- less those the mart holds, where it holds them (a row outside the touched partitions starts
        -- where it started)
        {{ airflow_audit_distinct_set_operator('except') }}
        {%- endif %}
        {%- endfor %}
    ) as after_markers_not_held
    {%- endif %}
{%- endmacro %}


{#- A duration anomaly mart's `finished` filter in a partial build: the rows of the series (a task, a DAG)
    with a row of a touched partition, in `measured` as it is now or in this table as it was. Only those
    series can lack rows: after a passing build the table holds every finished row of `measured`, and the
    pre-hook deletes rows of those series only (a marker's, or one with a marker in its window). So the
    search for the rows to compute (airflow_audit_missing_rows) reads what changed, not every row. The
    series as the mart held them come from the rows kept before the pre-hook (airflow_audit_keep_held_touched).
    The subquery names its columns touched_<column>, so that each bare <column> is the filtered row's
    (airflow_audit_in_series). Every row (1 = 1) in any other build. -#}
{% macro airflow_audit_in_touched_series(measured, partitions, series, partial) -%}
    {%- if not partial -%}
        {{- return('1 = 1') -}}
    {%- endif -%}
    {%- set markers = airflow_audit_remembered('markers:' ~ measured) -%}
    {%- if markers is not none -%}
        {#- on DuckDB, the series of the first markers written out (airflow_audit_fetch_markers): a
            series lacks rows only where the pre-hook deleted some (a series with a marker) or where a
            finished row of a touched partition is new (a marker) -#}
        {%- set in_marked_series -%}
            ({{ series | join(', ') }}) in (select {{ series | join(', ') }} from {{ markers }} as touched_series)
        {%- endset -%}
        {{- return(in_marked_series) -}}
    {%- endif -%}
    {%- set touched_columns -%}
        {%- for column in series %}{{ column }} as touched_{{ column }}{{ ', ' if not loop.last }}{% endfor -%}
    {%- endset -%}
    {%- set touched_series -%}
            select {{ touched_columns }}
            from {{ measured }}
            where {{ partitions.key }} in ({{ partitions.sql }})
            {{ airflow_audit_distinct_set_operator('union') }}
            select {{ touched_columns }}
            -- as the mart held them before its pre-hook deleted them
            from {{ airflow_audit_held_touched_relation() }}
    {%- endset -%}
    {{- airflow_audit_in_series(series, touched_series) -}}
{%- endmacro %}


{#- Whether the row's `series` columns are those of a row of `touched_series` (a query naming them
    touched_<column>). On DuckDB the series are handed over as one list: as a correlated EXISTS, or an IN
    of the subquery, DuckDB could not tell how few series it returns and built its hash table on the
    rows it filters: at 10M task instances after 1% arrived as new runs (every task touched), 4.8 s of
    the attempts anomaly mart's 11.5 s body (alone, warm), 0.8 s so. Elsewhere, EXISTS. -#}
{% macro airflow_audit_in_series(series, touched_series) -%}
    {{- return(adapter.dispatch('airflow_audit_in_series', 'airflow_audit')(series, touched_series)) -}}
{%- endmacro %}

{% macro duckdb__airflow_audit_in_series(series, touched_series) -%}
    ({{ series | join(', ') }}) in (
        select unnest(list((
            {%- for column in series %}touched_{{ column }}{{ ', ' if not loop.last }}{% endfor -%}
        )))
        from ({{ touched_series }}
        ) as touched_series
    )
{%- endmacro %}

{% macro default__airflow_audit_in_series(series, touched_series) -%}
    exists (
        select 1
        from ({{ touched_series }}
        ) as touched_series
        where
            {%- for column in series %}
            {{ 'and ' if not loop.first }}touched_series.touched_{{ column }} = {{ column }}
            {%- endfor %}
    )
{%- endmacro %}


{#- A report's filter in a partial build: the rows whose `columns` are those of a row of `touched_sql`
    (a query of those columns: the touched days of rpt_dag_daily_health, the touched hours of
    rpt_pool_hourly_usage), by airflow_audit_in_series; `1 = 1` in any other build. The bare columns
    are the filtered row's. Each report had its own correlated EXISTS before; at 10M task instances,
    one thread, one build each, after 1% changed across the history, the pool report took 29.9 s this
    way against 36.8 s, the daily report 4.0 s against 4.5 s (1.4 s against 2.0 s after 1% arrived as
    new runs). -#}
{% macro airflow_audit_in_touched_keys(partitions, touched_sql, columns) -%}
    {%- if not airflow_audit_partial_partitions(partitions) -%}
        {{- return('1 = 1') -}}
    {%- endif -%}
    {%- set touched -%}
            select
                {%- for column in columns %} touched.{{ column }} as touched_{{ column }}{{ ',' if not loop.last }}
                {%- endfor %}
            from ({{ touched_sql }}) as touched
    {%- endset -%}
    {{- return(airflow_audit_in_series(columns, touched)) -}}
{%- endmacro %}


{#- A duration anomaly mart's rows to read (its body's `scoped`): in a partial build, the rows of `marked`
    around each row to compute, from where its history can begin to the row itself, and nothing else. Its
    history begins no earlier than that of any row the mart holds before it (the windows slide forward),
    nor than that row itself where it has none. The spans of a series are merged where they overlap, so a
    row is read once. The rows read are numbered together: every span holds the whole history of its
    row, so the last history_runs successes before a row are the same among the rows read as in the
    series, and a series with fewer has no success before its first span. At 10M task instances with 1%
    changed across the history, 2.4M rows read instead of every row of 8.4M from each series' first
    change on: 2.2 s to number them instead of 15 s. Every row otherwise. -#}
{% macro airflow_audit_history_scope(marked, anomalies, partial) -%}
    {%- set series = anomalies.series -%}
    {%- set keys = series | join(', ') -%}
    {%- set in_order -%}
        partition by {{ keys }} order by scope_from, scope_to
    {%- endset -%}
    {%- if not partial %}
    select * from {{ marked }}
    {%- else %}
    {%- set spans %}
            select {{ keys }}, min(scope_from) as scope_from, max(scope_to) as scope_to
            from (
                select
                    *,
                    sum(case when scope_from <= earlier_scope_to then 0 else 1 end) over (
                        {{ in_order }} rows between unbounded preceding and current row
                    ) as span_number
                from (
                    select
                        *,
                        max(scope_to) over ({{ in_order }} rows between unbounded preceding and 1 preceding)
                            as earlier_scope_to
                    from (
                        select
                            {{ keys }},
                            scope_to,
                            -- no row held before it: every row before it is to compute, read from the first
                            coalesce(scope_from, min(scope_to) over (partition by {{ keys }})) as scope_from
                        from (
                            {%- set missing %}
                                {{ airflow_audit_missing_starts(anomalies) }}
                            {%- endset %}
                            {{ airflow_audit_held_history_starts(missing, series) }}
                        ) as row_spans
                    ) as bounded_spans
                ) as ordered_spans
            ) as numbered_spans
            group by {{ keys }}, span_number
    {%- endset %}
    {{ airflow_audit_rows_in_spans(marked, series, spans) }}
    {%- endif %}
{%- endmacro %}


{#- For each row of `missing` (series columns, started_at: rows a duration anomaly mart lacks), where the
    history of the row the mart holds just before it in its series begins (that row's start, without
    history), as scope_from, null where the mart holds none before it; scope_to, the row's start. Windows
    slide forward, so that is the latest history start of every row the mart holds before it. On DuckDB
    an ASOF join finds that one row: a range join with every row held before (and a maximum) took 11 s
    of a 17.5 s body at 10M task instances after 1% changed across the history (157M pairs). It joins by
    a 64-bit hash of the series: by the series' names, its sort took 2.9 s instead of 0.5 s. A row found
    of another series with the same hash gives the whole history instead. Of rows held at the same
    start, any one may be found: its history begins no later, so the scope holds it. The join sorts
    both sides whole, so it reads the held rows of the series with a missing row only: at 10M task
    instances after an hour of new runs (234 attempts to compute), 0.9 s instead of 1.9 s for the
    body. Of those, only the rows from the latest one held before the series' first missing row on,
    found by a grouped pass: after 1% arrived as new runs at 10M (every task touched, 163k attempts to
    compute), the ASOF join sorted 7.4M held rows (2.9 to 5.5 s); bounded, the whole body took 6.6 s
    instead of 11.5 s (alone, warm). The join carries each held row's row id, not its series' names,
    which are read afterwards for the rows found alone: after 1% changed across the history at 10M
    task instances (87,546 attempts to compute, 7.7M held rows sorted), the body took 7.8 to 8.5 s
    instead of 9.7 to 11.5 s (three builds each, alone). Under AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT, the
    range join. -#}
{% macro airflow_audit_held_history_starts(missing, series) -%}
    {{- return(adapter.dispatch('airflow_audit_held_history_starts', 'airflow_audit')(missing, series)) -}}
{%- endmacro %}

{% macro duckdb__airflow_audit_held_history_starts(missing, series) -%}
    {#- under a memory limit, the range join: with the ASOF join this mart ran out of 384MB at 10M task
        instances after 1% changed (make bench at 99a4a04), where the range join passed (the benches before) -#}
    {%- if airflow_audit_duckdb_memory_limit() -%}
        {{- return(default__airflow_audit_held_history_starts(missing, series)) -}}
    {%- endif %}
    with missing as materialized (
        select *, {{ airflow_audit_series_hash(series) }} as series_hash from ({{ missing }}) as rows_missing
    ),

    found as materialized (
        select
            {%- for column in series %}
            missing.{{ column }},
            {%- endfor %}
            missing.started_at as scope_to,
            kept.kept_locator,
            coalesce(kept.history_started_at, kept.started_at) as kept_history_start
        from missing
        asof left join (
            select
                {{ airflow_audit_series_hash(series, 'held') }} as series_hash,
                held.rowid as kept_locator,
                held.started_at,
                held.history_started_at
            from {{ this }} as held
            -- per series (hash), the latest start held before its first missing row: the row found for any
            -- of its missing rows starts no earlier; none held before it, every row of the series
            left join (
                select held_before.series_hash, max(held_before.started_at) as kept_from
                from (
                    select {{ airflow_audit_series_hash(series) }} as series_hash, started_at from {{ this }}
                ) as held_before
                inner join (
                    select series_hash, min(started_at) as first_missing_at from missing group by series_hash
                ) as first_missing
                    on
                        held_before.series_hash = first_missing.series_hash
                        and held_before.started_at < first_missing.first_missing_at
                group by held_before.series_hash
            ) as bounds
                on {{ airflow_audit_series_hash(series, 'held') }} = bounds.series_hash
            where
                {{ airflow_audit_series_hash(series, 'held') }} in (select series_hash from missing)
                and (bounds.kept_from is null or held.started_at >= bounds.kept_from)
        ) as kept
            on missing.series_hash = kept.series_hash and missing.started_at > kept.started_at
    )

    select
        {%- for column in series %}
        found.{{ column }},
        {%- endfor %}
        found.scope_to,
        case
            when found.kept_locator is null then null
            when
                {%- for column in series %}
                kept_series.{{ column }} = found.{{ column }}{{ ' and' if not loop.last }}
                {%- endfor %}
                then found.kept_history_start
            -- a row of another series whose hash is the same: read the whole history
            else cast('-infinity' as {{ dbt.type_timestamp() }})
        end as scope_from
    from found
    -- the series of each row found, read by its row id (DuckDB reads those rows alone)
    left join (
        select rowid as kept_locator, {{ series | join(', ') }}
        from {{ this }}
        where rowid in (select unnest(list(kept_locator)) from found)
    ) as kept_series
        on found.kept_locator = kept_series.kept_locator
{%- endmacro %}

{#- The 64-bit hash by which the ASOF join above matches a series (DuckDB's hash of its columns). For
    tests only, AIRFLOW_AUDIT_TEST_SERIES_HASH_BUCKETS folds it into that many values (unset or 0: not
    folded), so that series collide as two of 2^64 hardly ever would, and the branch for a row found of
    another series runs (tests/end_to_end/test_incremental_marts.py holds that build to a full one). -#}
{% macro airflow_audit_series_hash(series, alias=none) -%}
    {%- set buckets = env_var('AIRFLOW_AUDIT_TEST_SERIES_HASH_BUCKETS', '') | trim -%}
    {%- set prefix = alias ~ '.' if alias else '' -%}
    hash({{ prefix }}{{ series | join(', ' ~ prefix) }}){{ ' % ' ~ (buckets | int) if buckets and buckets | int > 0 }}
{%- endmacro %}

{% macro default__airflow_audit_held_history_starts(missing, series) -%}
    select
        {%- for column in series %}
        missing.{{ column }},
        {%- endfor %}
        missing.started_at as scope_to,
        max(coalesce(kept.history_started_at, kept.started_at)) as scope_from
    from ({{ missing }}) as missing
    left join {{ this }} as kept
        on
            {%- for column in series %}
            missing.{{ column }} = kept.{{ column }}
            and
            {%- endfor %} kept.started_at < missing.started_at
    group by
        {%- for column in series %}
        missing.{{ column }},
        {%- endfor %}
        missing.started_at
{%- endmacro %}


{#- The rows of `marked` within one of `spans` (series columns, scope_from, scope_to; disjoint within a
    series). On DuckDB each series' spans are joined as a list, by equality: as a range join, DuckDB built
    its hash table on the rows (it cannot tell how many a filtered CTE holds) and took 12 s at 10M task
    instances instead of 1 s. -#}
{% macro airflow_audit_rows_in_spans(marked, series, spans) -%}
    {{- return(adapter.dispatch('airflow_audit_rows_in_spans', 'airflow_audit')(marked, series, spans)) -}}
{%- endmacro %}

{% macro duckdb__airflow_audit_rows_in_spans(marked, series, spans) -%}
    select {{ marked }}.*
    from {{ marked }}
    inner join (
        select {{ series | join(', ') }}, list({'scope_from': scope_from, 'scope_to': scope_to}) as series_spans
        from ({{ spans }}) as spans
        group by {{ series | join(', ') }}
    ) as spans
        on
            {%- for column in series %}
            {{ marked }}.{{ column }} = spans.{{ column }}{{ ' and' if not loop.last }}
            {%- endfor %}
    where len(list_filter(
        spans.series_spans, lambda span: {{ marked }}.started_at between span.scope_from and span.scope_to
    )) > 0
{%- endmacro %}

{% macro default__airflow_audit_rows_in_spans(marked, series, spans) -%}
    select {{ marked }}.*
    from {{ marked }}
    inner join ({{ spans }}) as spans
        on
            {%- for column in series %}
            {{ marked }}.{{ column }} = spans.{{ column }}
            and
            {%- endfor %} {{ marked }}.started_at >= spans.scope_from
            and {{ marked }}.started_at <= spans.scope_to
{%- endmacro %}


{#- A duration anomaly mart's `next_history_end` (over rows numbered by prior_successes and
    success_index): in a partial build, where the history of the next row to compute after each row
    ends, so that a success is in a window some row to compute needs when it is within history_runs of
    that end; its own success_index otherwise (every success is needed). -#}
{% macro airflow_audit_next_history_end(series, tiebreak, partial) -%}
    {% if partial -%}
        min(case when is_missing then prior_successes end) over (
            partition by {{ series | join(', ') }} order by started_at, {{ tiebreak }}
            rows between 1 following and unbounded following
        )
    {%- else -%}
        success_index
    {%- endif %}
{%- endmacro %}


{#- dbt unit tests build a model from fixtures alone: no partitions, no refs beyond the fixtures. -#}
{% macro airflow_audit_in_unit_test() -%}
    {{- return(model is mapping and model.get('resource_type') == 'unit_test') -}}
{%- endmacro %}


{#- A staging model's relation, looked up in dbt's graph rather than through ref(): which partitions
    a run touched is bookkeeping, not data the mart transforms, and a ref() would make every mart
    depend on the staging models of all its partitions' tables (rpt_dag_daily_health reads its data
    through fct_dag_runs and fct_task_attempts only). Those staging views are built before any mart:
    each mart's own data depends on them. -#}
{% macro airflow_audit_staging(name) -%}
    {{- return(airflow_audit_relation(name)) -}}
{%- endmacro %}

{#- Any model's relation, looked up the same way: for bookkeeping read by macros (the pool hours'
    partitions), never for a model's data. -#}
{% macro airflow_audit_relation(name) -%}
    {%- set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ name) -%}
    {%- if node is none -%}
        {{- exceptions.raise_compiler_error("airflow_audit_relation: no model named " ~ name) -}}
    {%- endif -%}
    {#- schemas quoted, as the project says (dbt_project.yml `quoting`): ref() would do the same -#}
    {{- return(api.Relation.create(
        database=node.database, schema=node.schema, identifier=node.alias, quote_policy={'schema': true})) -}}
{%- endmacro %}


{#- Data tests that cost what changed. The tests of staging and marts carry the `where` placeholder
    __airflow_audit_touched__ (dbt_project.yml; a test with a filter of its own writes
    `__airflow_audit_touched__ and <its filter>`). In a build that knows what changed in the tables a
    model reads, a test reads only what this build touched:
    - a staging model: the rows loaded or marked deleted since the last build; a `unique` test, every
      row whose key one of those rows has (a new row colliding with an old one is caught);
    - an incremental mart: the partitions it replaced.
    Everywhere else (other marts, a full refresh, a plain `dbt build`, the daily build of everything,
    whose var airflow_audit_test_everything is set) a test reads the whole table. A relationship test
    so checks the touched rows against the whole parent. This is dbt's own get_where_subquery
    (dbt/include/global_project/macros/materializations/tests/where_subquery.sql), with the
    placeholder resolved first. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- set touched = none -%}
    {%- if where and '__airflow_audit_touched__' in where -%}
        {%- set touched = airflow_audit_touched_rows(relation) -%}
        {%- if where | trim == '__airflow_audit_touched__' -%}
            {%- set where = touched -%}
        {%- else -%}
            {%- set where = where | replace('__airflow_audit_touched__', '(' ~ (touched or '1 = 1') ~ ')') -%}
        {%- endif -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            select * from {{ relation }} where {{ where }}
            {{- airflow_audit_filter_first() if touched else '' }}
        {%- endset -%}
        {#- a unique test on a staging view filters on the natural key (airflow_audit_sharing_a_key) -#}
        {%- if touched and (model.get('test_metadata') or {}).get('name') == 'unique'
                and airflow_audit_staged_table(relation) is not none -%}
            {%- set filtered = airflow_audit_keys_hashed_last(relation, filtered) -%}
        {%- endif -%}
        {%- do return('(' ~ filtered ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}


{#- The filter to what this build touched in `relation`, or '' (the whole table). -#}
{% macro airflow_audit_touched_rows(relation) -%}
    {%- if var('airflow_audit_test_everything', false) or var('airflow_audit_since', none) is not mapping -%}
        {{- return('') -}}
    {%- endif -%}
    {%- set partitions_of = {
        'fct_task_instances': airflow_audit_task_instance_partitions,
        'fct_task_attempts': airflow_audit_task_instance_partitions,
        'fct_task_failures': airflow_audit_task_instance_partitions,
        'fct_task_attempt_duration_anomalies': airflow_audit_task_instance_partitions,
        'fct_dag_runs': airflow_audit_dag_run_partitions,
        'fct_dag_run_duration_anomalies': airflow_audit_dag_run_partitions,
        'fct_audit_events': airflow_audit_log_partitions,
        'rpt_dag_daily_health': airflow_audit_dag_day_partitions,
        'rpt_task_reliability': airflow_audit_dag_partitions,
        'rpt_dag_durations': airflow_audit_dag_partitions,
        'rpt_failure_streaks': airflow_audit_dag_partitions,
        'fct_dag_run_lateness': airflow_audit_dag_run_work_partitions,
        'rpt_dag_daily_lateness': airflow_audit_dag_due_day_partitions,
        'rpt_pool_hourly_usage': airflow_audit_pool_hour_partitions,
    } -%}
    {%- set partitions = partitions_of.get(relation.identifier | lower) -%}
    {%- if partitions is not none -%}
        {%- set partitions = partitions() -%}
        {%- if not airflow_audit_knows_changes(partitions.tables) or not partitions.get('known', true) -%}
            {{- return('') -}}
        {%- endif -%}
        {#- the rows this run wrote (airflow_audit_built_at), when it built the mart; a run that tests a mart it
            did not build reads it whole -#}
        {%- if airflow_audit_built_by_this_run(relation) is none -%}
            {{- return('') -}}
        {%- endif -%}
        {{- return('airflow_audit_built_at = ' ~ airflow_audit_built_at()) -}}
    {%- endif -%}
    {%- set table = airflow_audit_staged_table(relation) -%}
    {%- if table is none or not airflow_audit_knows_changes([table]) -%}
        {{- return('') -}}
    {%- endif -%}
    {%- set test = model.get('test_metadata') or {} -%}
    {%- set column = (test.get('kwargs') or {}).get('column_name') -%}
    {%- if test.get('name') == 'unique' and column -%}
        {{- return(adapter.dispatch('airflow_audit_sharing_a_key', 'airflow_audit')(
            relation, column, (model.config.get('meta') or {}).get('airflow_audit_natural_key'),
            airflow_audit_changed(table))) -}}
    {%- endif -%}
    {{- return(airflow_audit_changed(table)) -}}
{%- endmacro %}


{#- A unique test's scope on a staging view: the rows whose key one of the rows matching `changed` has.
    A staging view hashes its key for every row it returns, so a filter on the key hashes the whole
    table; where the test names the columns the key is hashed from (config meta
    airflow_audit_natural_key), DuckDB filters on those instead (the unique test on task_instance_key
    after an hour of new runs at 1M task instances: 0.39 s, 0.03 s so), and hashes the keys of the rows
    it keeps only (get_where_subquery, airflow_audit_keys_hashed_last: after 1% changed at 1M, 1.04 s
    before, 0.24 s). A key hashed from other columns that collides with a touched row's is then left to
    the build that tests everything. -#}
{% macro duckdb__airflow_audit_sharing_a_key(relation, column, natural_key, changed) -%}
    {%- if natural_key -%}
        {%- set columns = natural_key | join(', ') -%}
        {{- return('(' ~ columns ~ ') in (select ' ~ columns ~ ' from ' ~ relation ~ ' where ' ~ changed ~ ')') -}}
    {%- endif -%}
    {{- return(default__airflow_audit_sharing_a_key(relation, column, natural_key, changed)) -}}
{%- endmacro %}

{% macro default__airflow_audit_sharing_a_key(relation, column, natural_key, changed) -%}
    {{- return(column ~ ' in (select ' ~ column ~ ' from ' ~ relation ~ ' where ' ~ changed ~ ')') -}}
{%- endmacro %}


{#- The raw table a staging model reads, by its relation; none for any other relation. -#}
{% macro airflow_audit_staged_table(relation) -%}
    {%- set node = airflow_audit_staging_node(relation) -%}
    {%- for parent in (node.depends_on.nodes if node else []) if parent.startswith('source.') -%}
        {{- return(graph.sources[parent].name) -}}
    {%- endfor -%}
    {{- return(none) -}}
{%- endmacro %}

{#- The staging model of a relation (dbt's graph node); none for any other relation. -#}
{% macro airflow_audit_staging_node(relation) -%}
    {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.fqn[1:2] == ['staging']
            and (node.alias | lower) == (relation.identifier | lower) -%}
        {{- return(node) -}}
    {%- endfor -%}
    {{- return(none) -}}
{%- endmacro %}


{#- No warehouse to ask whether a mart exists: a dbt unit test, or an offline compile
    (`--vars '{airflow_audit_offline_compile: true}'`, docs/warehouses.md), which compiles the full
    build's SQL. -#}
{% macro airflow_audit_without_warehouse() -%}
    {{- return(airflow_audit_in_unit_test() or var('airflow_audit_offline_compile', false)) -}}
{%- endmacro %}
