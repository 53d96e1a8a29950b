{#-
    A raw timestamp column as the warehouse's timestamp-without-time-zone type (dbt.type_timestamp()),
    holding UTC. data_type is the raw column's type as the warehouse reports it.

    Airflow stores `timestamp with time zone` (UTC); some loaders keep the zone, some drop it and write the
    UTC wall-clock time. Where a plain cast of a zoned value depends on the session time zone, the adapter
    needs its own variant: DuckDB's cast uses the session's TimeZone (the machine's local zone by default),
    so it converts explicitly. Snowflake (TIMESTAMP_LTZ) and Redshift (TIMESTAMPTZ) will need the same when
    their profiles are added.
-#}
{% macro airflow_audit_utc_timestamp(expression, data_type) -%}
    {{- return(adapter.dispatch('airflow_audit_utc_timestamp', 'airflow_audit')(expression, data_type)) -}}
{%- endmacro %}


{% macro default__airflow_audit_utc_timestamp(expression, data_type) -%}
    cast({{ expression }} as {{ dbt.type_timestamp() }})
{%- endmacro %}


{% macro duckdb__airflow_audit_utc_timestamp(expression, data_type) -%}
    {%- set type_name = data_type | lower -%}
    {%- if type_name == 'timestamptz' or 'with time zone' in type_name -%}
        timezone('UTC', {{ expression }})
    {%- else -%}
        cast({{ expression }} as {{ dbt.type_timestamp() }})
    {%- endif -%}
{%- endmacro %}
