{#-
    Hash key from a list of column expressions: each part cast to text, '~' written '~~' and '-' written
    '~-' in it, NULL as '~n', the parts joined by '-', then dbt.hash. The escaping makes the key one-to-one:
    dbt_utils.generate_surrogate_key joins the raw texts, so the DAG 'etl-daily' with the task 'load' and
    the DAG 'etl' with the task 'daily-load' got the same key (Airflow allows '-' in both ids). A key whose
    parts hold no '-', '~' or NULL (ids, names with '_') is the same as dbt_utils' key.
    Only dbt's cross-database macros are used (dbt.hash, dbt.concat, dbt.replace, dbt.type_string).
-#}
{% macro airflow_audit_surrogate_key(field_list) -%}
    {%- set fields = [] -%}
    {%- for field in field_list -%}
        {%- set text = "cast(" ~ field ~ " as " ~ dbt.type_string() ~ ")" -%}
        {%- do fields.append(
            "coalesce(" ~ dbt.replace(dbt.replace(text, "'~'", "'~~'"), "'-'", "'~-'") ~ ", '~n')"
        ) -%}
        {%- if not loop.last -%}
            {%- do fields.append("'-'") -%}
        {%- endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(fields)) }}
{%- endmacro %}

