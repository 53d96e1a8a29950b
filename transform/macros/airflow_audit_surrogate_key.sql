{#-
    Hash key from a list of column expressions, identical to dbt_utils.generate_surrogate_key (same null
    placeholder, same '-' separator), so the keys do not change if the project later adopts dbt_utils.
    Only dbt's cross-database macros are used (dbt.hash, dbt.concat, dbt.type_string).
-#}
{% macro airflow_audit_surrogate_key(field_list) -%}
    {%- set fields = [] -%}
    {%- for field in field_list -%}
        {%- do fields.append(
            "coalesce(cast(" ~ field ~ " as " ~ dbt.type_string() ~ "), '_dbt_utils_surrogate_key_null_')"
        ) -%}
        {%- if not loop.last -%}
            {%- do fields.append("'-'") -%}
        {%- endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(fields)) }}
{%- endmacro %}
