{#-
    Continuous percentile of an expression, as an aggregate (usable with GROUP BY next to count/sum).
    Nulls are ignored everywhere. p is a fraction in [0, 1].

    DuckDB:            quantile_cont(cast(x as double), p): on a decimal(18,6) (the `seconds` type,
                       airflow_audit_type) DuckDB interpolates in 64-bit integers and truncates the last
                       digit (1231.984499 for 1231.9845, a p95 rounded to 1231.984 instead of 1231.985)
    Snowflake/Redshift/PostgreSQL (default): percentile_cont(p) within group (order by x)
    BigQuery:          percentile_cont exists only as a window function there, so the aggregate is
                       approx_quantiles(x, 100)[safe_offset(round(p * 100))]: p to the nearest 1%,
                       approximate on very large groups. safe_offset gives null for an all-null group.
-#}
{% macro airflow_audit_percentile(expression, p) -%}
    {%- if p is not number or p < 0 or p > 1 -%}
        {{- exceptions.raise_compiler_error(
            "airflow_audit_percentile: p must be a number between 0 and 1, got " ~ p ~ "; pass e.g. 0.95.") -}}
    {%- endif -%}
    {{- return(adapter.dispatch('airflow_audit_percentile', 'airflow_audit')(expression, p)) -}}
{%- endmacro %}


{% macro default__airflow_audit_percentile(expression, p) -%}
    percentile_cont({{ p }}) within group (order by {{ expression }})
{%- endmacro %}


{% macro duckdb__airflow_audit_percentile(expression, p) -%}
    quantile_cont(cast({{ expression }} as double), {{ p }})
{%- endmacro %}


{% macro bigquery__airflow_audit_percentile(expression, p) -%}
    approx_quantiles({{ expression }}, 100)[safe_offset({{ (p * 100) | round | int }})]
{%- endmacro %}
