{#- Stand-ins for the project's macros (macros/*.sql), for sqlfluff's jinja templater: the real ones
    introspect the warehouse, which a linter cannot. Same names and arguments, plain SQL out. -#}

{% macro airflow_audit_inspect_source(source_relation) -%}
{{ source_relation }}
{%- endmacro %}

{% macro airflow_audit_column(raw, column_name, kind) -%}
cast({{ column_name }} as {{ kind }})
{%- endmacro %}

{% macro airflow_audit_from(raw) -%}
from {{ raw }}
{%- endmacro %}

{% macro airflow_audit_loader_columns(raw) -%}
_sdc_extracted_at as extracted_at,
        _sdc_batched_at as loaded_at,
        _sdc_deleted_at as deleted_at_source_at,
        _sdc_deleted_at is not null as is_deleted_at_source
{%- endmacro %}

{% macro airflow_audit_surrogate_key(field_list) -%}
md5(concat({{ field_list | join(", ") }}))
{%- endmacro %}

{% macro airflow_audit_percentile(expression, p) -%}
percentile_cont({{ expression }}, {{ p }})
{%- endmacro %}

{% macro airflow_audit_utc_timestamp(expression, data_type) -%}
cast({{ expression }} as timestamp)
{%- endmacro %}
