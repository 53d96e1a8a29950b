{#-
    Adapter-dispatched variants for Snowflake, Redshift and BigQuery (docs/warehouses.md). The shared
    macros and models stay warehouse-neutral; what each warehouse's loader writes, and how its session
    treats zoned timestamps, is handled here.
-#}


{#- ---- airflow_audit_utc_timestamp (macros/airflow_audit_utc_timestamp.sql) --------------------------------

    Snowflake: target-airflow-audit-snowflake writes TIMESTAMP_TZ (load/snowflake.meltano.yml). Casting TIMESTAMP_TZ or
    TIMESTAMP_LTZ to TIMESTAMP_NTZ keeps the wall-clock time of the value's own offset (TZ) or of the
    session's TIMEZONE (LTZ, default America/Los_Angeles), so convert to UTC first. -#}
{% macro snowflake__airflow_audit_utc_timestamp(expression, data_type) -%}
    {%- set type_name = data_type | lower -%}
    {%- if 'timestamp_tz' in type_name or 'timestamp_ltz' in type_name -%}
        cast(convert_timezone('UTC', {{ expression }}) as {{ dbt.type_timestamp() }})
    {%- else -%}
        cast({{ expression }} as {{ dbt.type_timestamp() }})
    {%- endif -%}
{%- endmacro %}


{#- Redshift: the project's target-airflow-audit-redshift writes TIMESTAMPTZ, whose cast to TIMESTAMP follows the
    session's TimeZone; `at time zone 'UTC'` does not. The same SQL is PostgreSQL's, which the
    redshift adapter falls back to and the tests run it on. -#}
{% macro redshift__airflow_audit_utc_timestamp(expression, data_type) -%}
    {{ postgres__airflow_audit_utc_timestamp(expression, data_type) }}
{%- endmacro %}


{% macro postgres__airflow_audit_utc_timestamp(expression, data_type) -%}
    {%- set type_name = data_type | lower -%}
    {%- if type_name == 'timestamptz' or 'with time zone' in type_name -%}
        cast(({{ expression }} at time zone 'UTC') as {{ dbt.type_timestamp() }})
    {%- else -%}
        cast({{ expression }} as {{ dbt.type_timestamp() }})
    {%- endif -%}
{%- endmacro %}


{#- BigQuery: TIMESTAMP is an instant, always UTC, and is dbt.type_timestamp() there, so the default plain
    cast is right; no variant. -#}


{#- ---- schema names ------------------------------------------------------------------------------------

    Snowflake: the raw schema is upper case (AIRFLOW_LOCAL, see profiles/snowflake/profiles.yml), and the
    project quotes schema names, so dbt's default `<target schema>_staging` would create the mixed-case
    "AIRFLOW_LOCAL_staging", which only quoted SQL can reach. Upper-case the suffix. -#}
{% macro snowflake__generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ target.schema }}_{{ custom_schema_name | trim | upper }}
    {%- endif -%}
{%- endmacro %}


{#- ---- airflow_audit_loaded_column ----------------------------------------------------------------------

    A raw column as the project's loader writes it on this warehouse, for a house kind (string, bigint,
    boolean, numeric, timestamp): its stored name and type. Used where the warehouse cannot be asked:
    compiling the project without a connection (var airflow_audit_offline_compile, docs/warehouses.md),
    so that the SQL compiled is the SQL that runs against loaded tables. -#}
{% macro airflow_audit_loaded_column(column_name, kind) -%}
    {{- return(adapter.dispatch('airflow_audit_loaded_column', 'airflow_audit')(column_name, kind)) -}}
{%- endmacro %}


{% macro default__airflow_audit_loaded_column(column_name, kind) -%}
    {%- set types = {'string': 'VARCHAR', 'bigint': 'BIGINT', 'boolean': 'BOOLEAN', 'numeric': 'DOUBLE',
                     'timestamp': 'TIMESTAMP WITH TIME ZONE'} -%}
    {{- return(api.Column.create(column_name, types[kind])) -}}
{%- endmacro %}


{#- target-airflow-audit-snowflake stores unquoted, so upper-case, names. -#}
{% macro snowflake__airflow_audit_loaded_column(column_name, kind) -%}
    {%- set types = {'string': 'VARCHAR', 'bigint': 'NUMBER', 'boolean': 'BOOLEAN', 'numeric': 'FLOAT',
                     'timestamp': 'TIMESTAMP_TZ'} -%}
    {{- return(api.Column.create(column_name | upper, types[kind])) -}}
{%- endmacro %}


{% macro redshift__airflow_audit_loaded_column(column_name, kind) -%}
    {%- set types = {'string': 'character varying', 'bigint': 'bigint', 'boolean': 'boolean',
                     'numeric': 'double precision', 'timestamp': 'timestamp with time zone'} -%}
    {{- return(api.Column.create(column_name, types[kind])) -}}
{%- endmacro %}


{% macro bigquery__airflow_audit_loaded_column(column_name, kind) -%}
    {%- set types = {'string': 'STRING', 'bigint': 'INT64', 'boolean': 'BOOL', 'numeric': 'FLOAT64',
                     'timestamp': 'TIMESTAMP'} -%}
    {{- return(api.Column.create(column_name, types[kind])) -}}
{%- endmacro %}


{#- ---- airflow_audit_distinct_set_operator --------------------------------------------------------------

    A set operator that drops duplicate rows (`union`, `except`, `intersect`). Bare, it means DISTINCT on
    DuckDB, Snowflake, Redshift and PostgreSQL, which do not all accept the DISTINCT keyword; BigQuery
    refuses it bare and takes `union distinct`. -#}
{% macro airflow_audit_distinct_set_operator(operator) -%}
    {%- if operator not in ('union', 'except', 'intersect') -%}
        {{- exceptions.raise_compiler_error(
            "airflow_audit_distinct_set_operator takes union, except or intersect, not " ~ operator ~ ".") -}}
    {%- endif -%}
    {{- return(adapter.dispatch('airflow_audit_distinct_set_operator', 'airflow_audit')(operator)) -}}
{%- endmacro %}


{% macro default__airflow_audit_distinct_set_operator(operator) -%}
    {{- return(operator) -}}
{%- endmacro %}


{% macro bigquery__airflow_audit_distinct_set_operator(operator) -%}
    {{- return(operator ~ ' distinct') -}}
{%- endmacro %}
