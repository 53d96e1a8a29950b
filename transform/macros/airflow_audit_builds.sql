{#- What `dbt-<warehouse>:build-changed` (transform/build_changed.py) reads and writes to skip a
    build when nothing it reads changed since the last successful one. -#}

{#- One row per raw table the sources name (row count, when a row's content last changed, when a
    row was last marked deleted), and the latest recorded build. A change in any of them, including
    rows deleted outright (mirror mode), changes the rows. -#}
{% macro airflow_audit_build_state() %}
    {%- set parts = [] -%}
    {%- for node in graph.sources.values() if node.source_name == 'airflow' -%}
        {%- set relation = adapter.get_relation(node.database, node.schema, node.identifier) -%}
        {%- if relation is not none -%}
            {%- do parts.append(
                "select '" ~ node.identifier ~ "' as relation_name, count(*) as row_count, "
                ~ "cast(max(_sdc_batched_at) as " ~ dbt.type_string() ~ ") as last_changed, "
                ~ "cast(max(_sdc_deleted_at) as " ~ dbt.type_string() ~ ") as last_deleted from "
                ~ relation
            ) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set builds = airflow_audit_builds_relation() -%}
    {%- if adapter.get_relation(builds.database, builds.schema, builds.identifier) is not none -%}
        {%- do parts.append(
            "select '__built__' as relation_name, null as row_count, change_marker as last_changed, "
            ~ "project_hash || '|' || cast(built_at as " ~ dbt.type_string() ~ ") as last_deleted from "
            ~ builds
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

{#- `dbt run-operation airflow_audit_record_build --args '{marker: ..., project_hash: ...}'`: run by
    build_changed.py after a build that passed, with the figures it started from. -#}
{% macro airflow_audit_record_build(marker, project_hash) %}
    {%- set builds = airflow_audit_builds_relation() -%}
    {%- do run_query(
        'create table if not exists ' ~ builds ~ ' (change_marker ' ~ dbt.type_string()
        ~ ', project_hash ' ~ dbt.type_string() ~ ', built_at ' ~ dbt.type_timestamp() ~ ')'
    ) -%}
    {%- do run_query(
        'insert into ' ~ builds ~ " values ('" ~ marker ~ "', '" ~ project_hash ~ "', "
        ~ dbt.current_timestamp() ~ ')'
    ) -%}
{% endmacro %}
