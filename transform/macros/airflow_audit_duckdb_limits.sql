{#- DuckDB's memory limit and threads for dbt, from the variables the loader reads too
    (AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT, AIRFLOW_AUDIT_DUCKDB_THREADS; empty: DuckDB's defaults).
    Run by on-run-start (dbt_project.yml); nothing on the other warehouses. -#}
{% macro airflow_audit_duckdb_limits() %}
    {%- set memory = env_var('AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT', '') | trim -%}
    {%- set threads = env_var('AIRFLOW_AUDIT_DUCKDB_THREADS', '') | trim -%}
    {%- if target.type == 'duckdb' and memory -%}
        {%- do run_query("set memory_limit = '" ~ memory ~ "'") -%}
    {%- endif -%}
    {%- if target.type == 'duckdb' and threads -%}
        {%- do run_query("set threads = " ~ (threads | int)) -%}
    {%- endif -%}
{% endmacro %}
