{#-
    Name of the schema the loader writes the raw Airflow tables to (the raw data contract): the
    profile's schema (BigQuery: its dataset). Each warehouse's profile (profiles/<warehouse>/profiles.yml)
    computes it by the loader's rule (core/airflow_audit_core/naming.py: AIRFLOW_AUDIT_DESTINATION_SCHEMA
    when non-blank, else `airflow-<slug>`; `_` for `-` on BigQuery and Snowflake, upper case on
    Snowflake), since a profile cannot call a macro; tests/load/test_warehouse_config.py keeps every
    profile equal to naming.py, and the sources (models/staging/airflow/_airflow__sources.yml) read the
    same `target.schema`, so the rule is written once per warehouse and nowhere else in dbt.
-#}
{% macro airflow_audit_raw_schema() -%}
    {{- return(target.schema) -}}
{%- endmacro %}
