{#- What `dbt-<warehouse>:build-changed` (transform/build_changed.py) reads and writes to build only
    what changed since the last passing build. -#}

{#- One row per raw table of the `airflow` source (its source name, row count, when a row's content
    last changed, when a row was last marked deleted), and the latest recorded build (its figures per
    table, project hash and time). Any change to a table, rows deleted outright included, changes its
    row. -#}
{% macro airflow_audit_build_state() %}
    {%- set text = dbt.type_string() -%}
    {%- set parts = [] -%}
    {%- for node in graph.sources.values() if node.source_name == 'airflow' -%}
        {%- set relation = adapter.get_relation(node.database, node.schema, node.identifier) -%}
        {%- if relation is not none -%}
            {%- do parts.append(
                "select '" ~ node.name ~ "' as relation_name, "
                ~ "cast(count(*) as " ~ text ~ ") as row_count, "
                ~ "cast(max(_sdc_batched_at) as " ~ text ~ ") as last_changed, "
                ~ "cast(max(_sdc_deleted_at) as " ~ text ~ ") as last_deleted from " ~ relation
            ) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set builds = airflow_audit_builds_relation() -%}
    {%- if adapter.get_relation(builds.database, builds.schema, builds.identifier) is not none -%}
        {%- do parts.append(
            "select '__built__' as relation_name, table_figures as row_count, project_hash as last_changed, "
            ~ "cast(built_at as " ~ text ~ ") as last_deleted from " ~ builds
            ~ " where built_at = (select max(built_at) from " ~ builds ~ ")"
        ) -%}
    {%- endif -%}
    {{ parts | join('\nunion all\n') if parts else "select 'none' as relation_name" }}
{% endmacro %}

{% macro airflow_audit_builds_relation() %}
    {{ return(api.Relation.create(
        database=target.database,
        schema=target.schema ~ '_marts',
        identifier='_airflow_audit_builds'
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
