{#- AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT as given (`384MB`), trimmed, on DuckDB; empty without one or on the
    other warehouses. What a model or macro does differently under a limit asks here. -#}
{% macro airflow_audit_duckdb_memory_limit() -%}
    {{- return(env_var('AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT', '') | trim if target.type == 'duckdb' else '') -}}
{%- endmacro %}


{#- DuckDB's memory limit and threads for dbt, from the variables the loader reads too
    (AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT, AIRFLOW_AUDIT_DUCKDB_THREADS; empty: DuckDB's defaults).
    Run by on-run-start (dbt_project.yml); nothing on the other warehouses. -#}
{% macro airflow_audit_duckdb_limits() %}
    {%- set memory = airflow_audit_duckdb_memory_limit() -%}
    {%- set threads = env_var('AIRFLOW_AUDIT_DUCKDB_THREADS', '') | trim -%}
    {%- if memory -%}
        {%- do run_query("set memory_limit = '" ~ memory ~ "'") -%}
    {%- endif -%}
    {%- if target.type == 'duckdb' and threads -%}
        {%- do run_query("set threads = " ~ (threads | int)) -%}
    {%- endif -%}
{% endmacro %}


{#- How many buckets of groups an aggregate with exact percentiles over `relation` is computed in, one
    after the other (airflow_audit_and_in_bucket): DuckDB keeps every value of a group for quantile_cont
    outside its memory limit, so under AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT the groups are split into
    buckets of about var airflow_audit_percentile_bucket_rows rows (1,000,000) and the memory held at
    once stays the same at any size. One bucket without a limit, on the other warehouses, or where the
    relation does not exist yet, and in a unit test (its inputs are fixtures, not relations). -#}
{% macro airflow_audit_percentile_buckets(relation) -%}
    {%- if not execute or not airflow_audit_duckdb_memory_limit() or airflow_audit_without_warehouse() -%}
        {{- return(1) -}}
    {%- endif -%}
    {%- if adapter.get_relation(relation.database, relation.schema, relation.identifier) is none -%}
        {{- return(1) -}}
    {%- endif -%}
    {%- set per_bucket = var('airflow_audit_percentile_bucket_rows') | int -%}
    {%- if per_bucket < 1 -%}
        {{- exceptions.raise_compiler_error(
            "var airflow_audit_percentile_bucket_rows is '" ~ var('airflow_audit_percentile_bucket_rows')
            ~ "': give a whole number of rows of 1 or more.") -}}
    {%- endif -%}
    {%- set rows = run_query('select count(*) from ' ~ relation).columns[0].values()[0] | int -%}
    {{- return([1, (rows + per_bucket - 1) // per_bucket] | max) -}}
{%- endmacro %}


{#- ` and <the groups of bucket `bucket` of `buckets`>` (by DuckDB's hash of the grouping columns), to
    end a where clause with; nothing with one bucket (buckets are only made on DuckDB). -#}
{% macro airflow_audit_and_in_bucket(columns, bucket, buckets) -%}
    {%- if buckets > 1 -%}
        {{ ' and hash(' ~ columns | join(', ') ~ ') % ' ~ buckets ~ ' = ' ~ bucket }}
    {%- endif -%}
{%- endmacro %}
