{#- What `dbt-<warehouse>:build-changed` (transform/build_changed.py) reads and writes to build only
    what changed since the last passing build. -#}

{#- One row per raw table of the `airflow` source: its source name, row count, when a row's content last
    changed (loaded_at), when a row was last marked deleted (deleted_at_source_at, both UTC as the staging
    models have them), how many rows mirror mode deleted outright (_sync_audit), and a hash of its column
    names and types; a table not in the warehouse has a row of nulls. Then the latest recorded build (its
    figures per table, project hash and time). Any change to a table, rows deleted outright included,
    changes its row. -#}
{% macro airflow_audit_build_state() %}
    {%- set text = dbt.type_string() -%}
    {%- set parts = [] -%}
    {%- set nodes = graph.sources.values() | selectattr('source_name', 'equalto', 'airflow') | list -%}
    {#- reconciliation's record of each sync, beside the raw tables -#}
    {%- set audit = adapter.get_relation(nodes[0].database, nodes[0].schema, '_sync_audit') if nodes else none -%}
    {%- for node in nodes -%}
        {%- set relation = adapter.get_relation(node.database, node.schema, node.identifier) -%}
        {%- if relation is none -%}
            {%- do parts.append(
                "select '" ~ node.name ~ "' as relation_name, cast(null as " ~ text ~ ") as row_count, "
                ~ "cast(null as " ~ text ~ ") as last_changed, cast(null as " ~ text ~ ") as last_deleted, "
                ~ "cast(null as " ~ text ~ ") as mirror_deleted, cast(null as " ~ text ~ ") as column_set"
            ) -%}
        {%- else -%}
            {%- set columns = {} -%}
            {%- set described = [] -%}
            {%- for column in adapter.get_columns_in_relation(relation) -%}
                {%- do columns.update({column.name | lower: column}) -%}
                {%- do described.append((column.name | lower) ~ ' ' ~ (column.data_type | lower)) -%}
            {%- endfor -%}
            {%- set loaded = columns.get('_sdc_batched_at') -%}
            {%- set deleted = columns.get('_sdc_deleted_at') -%}
            {%- do parts.append(
                "select '" ~ node.name ~ "' as relation_name, "
                ~ "cast(count(*) as " ~ text ~ ") as row_count, "
                ~ "cast(max(" ~ (airflow_audit_utc_timestamp(adapter.quote(loaded.name), loaded.data_type)
                    if loaded else 'null') ~ ") as " ~ text ~ ") as last_changed, "
                ~ "cast(max(" ~ (airflow_audit_utc_timestamp(adapter.quote(deleted.name), deleted.data_type)
                    if deleted else 'null') ~ ") as " ~ text ~ ") as last_deleted, "
                ~ "cast(" ~ (
                    "(select coalesce(sum(deleted_at_source), 0) from " ~ audit
                    ~ " where table_name = '" ~ node.identifier ~ "' and mode = 'mirror')"
                    if audit is not none else "0") ~ " as " ~ text ~ ") as mirror_deleted, "
                ~ "'" ~ local_md5(described | sort | join(',')) ~ "' as column_set from " ~ relation
            ) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set builds = airflow_audit_builds_relation() -%}
    {%- if adapter.get_relation(builds.database, builds.schema, builds.identifier) is not none -%}
        {%- do parts.append(
            "select '__built__' as relation_name, table_figures as row_count, project_hash as last_changed, "
            ~ "cast(built_at as " ~ text ~ ") as last_deleted, cast(null as " ~ text ~ ") as mirror_deleted, "
            ~ "cast(null as " ~ text ~ ") as column_set from " ~ builds
            ~ " where built_at = (select max(built_at) from " ~ builds ~ ")"
        ) -%}
    {%- endif -%}
    {{ parts | join('\nunion all\n') if parts else "select 'none' as relation_name" }}
{% endmacro %}

{% macro airflow_audit_builds_relation() %}
    {{ return(api.Relation.create(
        database=target.database,
        schema=generate_schema_name('marts', none) | trim,
        identifier='_airflow_audit_builds',
        quote_policy={'schema': true}
    )) }}
{% endmacro %}

{#- `dbt run-operation airflow_audit_record_build --args '{figures: ..., project_hash: ...}'`: run by
    build_changed.py after a build that passed, with the figures it started from. -#}
{% macro airflow_audit_record_build(figures, project_hash) %}
    {%- set builds = airflow_audit_builds_relation() -%}
    {%- do adapter.create_schema(builds) -%}
    {%- do run_query(
        'create table if not exists ' ~ builds ~ ' (table_figures ' ~ dbt.type_string()
        ~ ', project_hash ' ~ dbt.type_string() ~ ', built_at ' ~ dbt.type_timestamp() ~ ')'
    ) -%}
    {%- do run_query(
        'insert into ' ~ builds ~ " values ('" ~ figures | replace("'", "''") ~ "', '"
        ~ project_hash ~ "', " ~ dbt.current_timestamp() ~ ')'
    ) -%}
{% endmacro %}
