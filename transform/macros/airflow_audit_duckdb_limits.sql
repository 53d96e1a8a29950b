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


{#- Under AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT, the statements around a whole build (not a partial one) of a
    model whose windows hold about its whole input: `set debug_force_external = true` before (on) and
    `= false` after (not on); pre- and post-hook of fct_task_attempts. DuckDB 1.4.5 keeps such a window in
    memory when the input seems to fit, and then cannot: at 10M task instances (8.8M attempts) the first
    build of fct_task_attempts ran out of 3GB in every try ("failed to pin block"), where it passed at
    384MB, 1GB and 6GB, which spill from the start or fit; computed out of core from the start it passed
    at 3GB in 122.7 s (6GB in memory: 83.4 s). A debug setting of DuckDB's: the pinned DuckDB has it, and
    a model that fails leaves it set for the rest of its dbt run, which then spills more but builds the
    same rows. Nothing without a limit, on the other warehouses or in a unit test. -#}
{% macro airflow_audit_out_of_core(partitions_macro, on) -%}
    {%- if execute and airflow_audit_duckdb_memory_limit() and not airflow_audit_in_unit_test() -%}
        {%- if not on -%}
            set debug_force_external = false
        {%- elif not airflow_audit_partial_partitions(context[partitions_macro]()) -%}
            set debug_force_external = true
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


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
