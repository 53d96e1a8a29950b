{#-
    Version-tolerant reading of a raw Airflow table.

    The loader writes whatever the Airflow version has (2.x and 3.x differ column for column) and may not
    write a table at all (not selected; task_fail on 3.x; ab_* without the FAB provider). A staging model
    therefore never selects `*` or names a raw column directly; it does:

        {%- set raw = airflow_audit_inspect_source(source('airflow', 'dag_run')) -%}
        select
            {{ airflow_audit_column(raw, 'id', 'bigint') }} as dag_run_id,
            ...
            {{ airflow_audit_loader_columns(raw) }}
        {{ airflow_audit_from(raw) }}

    which compiles to casts of the columns that exist, typed nulls for those that do not, and, when the
    table itself is missing, an empty relation with the same typed columns (`select ... where 1 = 0`).
-#}


{#- Lists the raw schema into dbt's relation cache, once, before its threads build models (on-run-start).
    dbt lists the schemas it builds into when it starts, not the raw one: the first model that looked a raw
    table up (airflow_audit_inspect_source) listed it and added its tables to the cache one at a time
    (dbt-core 1.11, BaseAdapter.list_relations), and from the first one on, a model on another thread read
    the schema as listed and a table not added yet as missing. Its staging model was built empty, without
    a word beyond the note of a table not loaded, and a partial build deleted the attempts that table
    held from fct_task_attempts (tests/transform/test_dbt_threads.py). Listed here, every model reads the
    whole list (and airflow_audit_inspect_source asks the warehouse before it takes a table for missing,
    for the commands that run no on-run-start hook). -#}
{% macro airflow_audit_list_raw_schema() -%}
    {%- if execute -%}
        {%- set raw = graph.sources.values() | selectattr('source_name', 'equalto', 'airflow') | first -%}
        {%- if raw is defined and raw -%}
            {%- do adapter.get_relation(raw.database, raw.schema, raw.identifier) -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{#- Looks the source table up in the warehouse. Returns {'relation': <relation or none>, 'columns': {lowercased
    name: Column}}. relation is none when the table does not exist; that is logged, and is an error when the
    whole raw schema is missing (wrong database, env slug or destination schema), unless the var
    airflow_audit_allow_missing_raw_schema is true. -#}
{% macro airflow_audit_inspect_source(source_relation) -%}
    {%- if not execute -%}
        {#- Parsing: no warehouse access; the SQL rendered now is never run. -#}
        {{- return({'relation': none, 'columns': {}}) -}}
    {%- endif -%}

    {%- if model.resource_type == 'unit_test' -%}
        {#- A dbt unit test: source_relation is the test's fixture (a CTE), which cannot be introspected.
            The test lists the raw columns its fixture holds in the var airflow_audit_unit_test_columns
            (`overrides: vars:`); the others are absent, as in a warehouse loaded from an Airflow version
            that lacks them. Fixtures use `format: sql`, so no raw table is needed either. -#}
        {%- set columns = {} -%}
        {%- for name in var('airflow_audit_unit_test_columns', []) -%}
            {%- do columns.update({name | lower: api.Column.create(name, 'unknown')}) -%}
        {%- endfor -%}
        {{- return({'relation': source_relation, 'columns': columns}) -}}
    {%- endif -%}

    {#- `--vars '{airflow_audit_offline_compile: true}'`: compile without a warehouse (docs/warehouses.md). -#}
    {%- if var('airflow_audit_offline_compile', false) -%}
        {{- return({'relation': source_relation, 'columns': {}, 'offline': true}) -}}
    {%- endif -%}

    {%- set found = adapter.get_relation(
            database=source_relation.database,
            schema=source_relation.schema,
            identifier=source_relation.identifier) -%}
    {%- set schema_exists = found is not none
            or adapter.check_schema_exists(source_relation.database, source_relation.schema) -%}
    {%- if found is none and schema_exists -%}
        {#- dbt's cache does not hold the table, which is no proof it is missing: a model's thread can read
            the raw schema's listing while another thread is still filling it (dbt-core 1.11; `dbt compile` and
            `dbt docs generate` run no on-run-start hook, airflow_audit_list_raw_schema). The warehouse is
            asked, as dbt fills its cache: the schema's relations listed without the cache. -#}
        {%- set schema_relation = api.Relation.create(
                database=source_relation.database, schema=source_relation.schema) -%}
        {%- set listing = namespace(found=none) -%}
        {%- for listed in list_relations_without_caching(schema_relation) -%}
            {#- relations on BigQuery; rows with a name elsewhere -#}
            {%- set name = listed.identifier if listed.identifier is defined else listed['name'] -%}
            {%- if (name | lower) == (source_relation.identifier | lower) -%}
                {%- set listing.found = source_relation -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set found = listing.found -%}
    {%- endif -%}

    {%- if found is none -%}
        {#- `dbt docs generate` documents whatever is there: a warehouse not loaded yet is no error. -#}
        {%- if not schema_exists
                and not var('airflow_audit_allow_missing_raw_schema', false)
                and flags.WHICH not in ('generate', 'serve') -%}
            {{- exceptions.raise_compiler_error(
                "The raw schema " ~ source_relation.schema ~ " does not exist in database "
                ~ source_relation.database ~ " (target " ~ target.name ~ "): run the extract/load first, or "
                ~ "check AIRFLOW_AUDIT_ENV_SLUG / AIRFLOW_AUDIT_DESTINATION_SCHEMA and the database the profile "
                ~ "points at (AIRFLOW_AUDIT_DUCKDB_PATH for DuckDB); set the var "
                ~ "airflow_audit_allow_missing_raw_schema=true to build empty models anyway.") -}}
        {%- endif -%}
        {#- The state build-changed read before this build (the var airflow_audit_since) saw the table
            with rows: dbt not finding it now is no reason to build it empty, and a partial build on an
            empty staging model would delete from the marts what the table holds. Fail closed. -#}
        {%- set since = var('airflow_audit_since', none) -%}
        {%- set seen = since.get(source_relation.identifier | lower) if since is mapping else none -%}
        {%- if seen is not none and seen != 'absent' -%}
            {{- exceptions.raise_compiler_error(
                "The raw table " ~ source_relation ~ " held rows when this build started, but dbt does not "
                ~ "find it now: " ~ model.name ~ " was not built, and nothing that reads it; rerun the job.") -}}
        {%- endif -%}
        {%- do log("airflow_audit: " ~ source_relation ~ " does not exist; "
                   ~ model.name ~ " will be built empty.", info=true) -%}
        {{- return({'relation': none, 'columns': {}}) -}}
    {%- endif -%}

    {%- set columns = {} -%}
    {%- for column in adapter.get_columns_in_relation(found) -%}
        {%- do columns.update({column.name | lower: column}) -%}
    {%- endfor -%}
    {{- return({'relation': source_relation, 'columns': columns}) -}}
{%- endmacro %}


{#- One raw column, cast to a house type: the column if the loaded table has it, else a typed null.
    kind: string | bigint | boolean | numeric | seconds | timestamp. Timestamps come out as the warehouse's
    timestamp-without-time-zone type, in UTC (see airflow_audit_utc_timestamp). -#}
{% macro airflow_audit_column(raw, column_name, kind) -%}
    {%- set column = raw.columns.get(column_name | lower) -%}
    {%- if column is none and raw.get('offline') -%}
        {%- set column = airflow_audit_loaded_column(column_name, 'numeric' if kind == 'seconds' else kind) -%}
    {%- endif -%}
    {%- if column is none -%}
        cast(null as {{ airflow_audit_type(kind) }})
    {%- elif kind == 'timestamp' -%}
        {{ airflow_audit_utc_timestamp(adapter.quote(column.name), column.data_type) }}
    {%- elif kind == 'seconds' -%}
        {#- Airflow's durations are floats, which hold what no span between two timestamps can be (NaN,
            infinity, 1e13): such a value is null here, not a cast error that stops every mart. NaN
            compares greater than any number on every warehouse, so the upper bound excludes it. -#}
        case
            when {{ adapter.quote(column.name) }} > -1e12 and {{ adapter.quote(column.name) }} < 1e12
                then cast({{ adapter.quote(column.name) }} as {{ airflow_audit_type(kind) }})
        end
    {%- else -%}
        cast({{ adapter.quote(column.name) }} as {{ airflow_audit_type(kind) }})
    {%- endif -%}
{%- endmacro %}


{#- The FROM clause: the source table, or (table missing) a filter that makes the select an empty relation. -#}
{% macro airflow_audit_from(raw) -%}
    {%- if raw.relation is none -%}
    where 1 = 0
    {%- else -%}
    from {{ raw.relation }}
    {%- endif -%}
{%- endmacro %}


{#- The loader's Singer metadata columns, renamed. Rows deleted at the source are kept (archive mode sets
    _sdc_deleted_at); the marts decide what to do with them. No trailing comma. -#}
{% macro airflow_audit_loader_columns(raw) -%}
        {{ airflow_audit_column(raw, '_sdc_extracted_at', 'timestamp') }} as extracted_at,
        {{ airflow_audit_column(raw, '_sdc_batched_at', 'timestamp') }} as loaded_at,
        {{ airflow_audit_column(raw, '_sdc_deleted_at', 'timestamp') }} as deleted_at_source_at,
        case
            when {{ airflow_audit_column(raw, '_sdc_deleted_at', 'timestamp') }} is not null then true
            else false
        end as is_deleted_at_source
{%- endmacro %}


{#- House type names -> the adapter's type, through dbt's cross-database type macros. -#}
{% macro airflow_audit_type(kind) -%}
    {%- if kind == 'string' -%}
        {{- return(dbt.type_string()) -}}
    {%- elif kind == 'bigint' -%}
        {{- return(dbt.type_bigint()) -}}
    {%- elif kind == 'boolean' -%}
        {{- return(dbt.type_boolean()) -}}
    {%- elif kind == 'numeric' -%}
        {{- return(dbt.type_numeric()) -}}
    {%- elif kind == 'seconds' -%}
        {#- DuckDB stores numeric(28,6) as 128-bit integers, which it scans 70 times slower than 64-bit ones:
            counting the queue times of 8.4M task instances took 0.62 s, against 0.009 s as decimal(18,6),
            which holds any span between two timestamps (under 3.2e11 s) to the microsecond. -#}
        {{- return('decimal(18,6)' if target.type == 'duckdb' else dbt.type_numeric()) -}}
    {%- elif kind == 'timestamp' -%}
        {{- return(dbt.type_timestamp()) -}}
    {%- else -%}
        {{- exceptions.raise_compiler_error(
            "airflow_audit_type: unknown kind '" ~ kind ~ "'; use string, bigint, boolean, numeric, seconds or timestamp.") -}}
    {%- endif -%}
{%- endmacro %}


{#- True for a task instance row (of stg_airflow__task_instances, read unqualified) that is a task
    instance, false for one Airflow 3 re-keyed. Airflow 3 gives a task instance a new `id` each time it is
    retried or cleared (prepare_db_for_next_try), writing the try that ended to task_instance_history
    under the old one: in archive mode the row under the old id stays, marked deleted at the source, while
    its try is in the history and the task instance lives on under its new id. Counted, it would be a
    second task instance with the same key and a second attempt of the same try. Airflow 2's task
    instances have no `id`: true for every row. -#}
{% macro airflow_audit_not_rekeyed() -%}
    (
        not is_deleted_at_source
        or task_instance_id is null
        or task_instance_id not in (
            select histories.task_instance_id
            from {{ ref('stg_airflow__task_instance_histories') }} as histories
            where histories.task_instance_id is not null
        )
    )
{%- endmacro %}
