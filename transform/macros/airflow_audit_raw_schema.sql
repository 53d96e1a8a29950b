{#-
    Name of the schema the loader writes the raw Airflow tables to (the raw data contract):
    AIRFLOW_AUDIT_DESTINATION_SCHEMA when non-blank, else `airflow-` ~ AIRFLOW_AUDIT_ENV_SLUG, the slug
    defaulting to `local` when unset or blank. BigQuery dataset names cannot hold `-`, so there every `-`
    becomes `_`; on Snowflake `-` becomes `_` and the name is upper-cased, as target-airflow-audit-snowflake writes it. The loader applies the same rule (load/airflow-audit-loader/airflow_audit_loader/naming.py,
    which also refuses unusable slugs before anything is loaded). Profiles and source YAML cannot call
    project macros, so profiles/*/profiles.yml and models/staging/airflow/_airflow__sources.yml repeat the
    rule; the staging models check at run time that the sources' schema equals this macro's.
-#}
{% macro airflow_audit_raw_schema() -%}
    {%- set destination_schema = env_var('AIRFLOW_AUDIT_DESTINATION_SCHEMA', '') | trim -%}
    {%- set env_slug = env_var('AIRFLOW_AUDIT_ENV_SLUG', '') | trim -%}
    {%- if destination_schema -%}
        {%- set schema_name = destination_schema -%}
    {%- else -%}
        {%- set schema_name = 'airflow-' ~ (env_slug or 'local') -%}
    {%- endif -%}
    {%- if target.type == 'bigquery' -%}
        {%- set schema_name = schema_name | replace('-', '_') -%}
    {%- elif target.type == 'snowflake' -%}
        {%- set schema_name = schema_name | replace('-', '_') | upper -%}
    {%- endif -%}
    {{- return(schema_name) -}}
{%- endmacro %}
