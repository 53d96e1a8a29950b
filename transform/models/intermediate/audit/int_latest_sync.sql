{#- One row: when the latest sync read the Airflow database (the latest extraction the tap recorded in
    `_airflow_audit_extracts`, beside the raw tables). What "now" is for the signals measured at a sync
    (rpt_stuck_work): the moment the data describes, not the moment dbt runs. A view, so it is as
    current as the latest sync even when that sync changed no row (a stalled Airflow changes none).
    The pipeline's bookkeeping table, not an Airflow table: read by name, not as a source. -#}

{{ config(materialized='view') }}

{%- set extracts = api.Relation.create(
    database=target.database, schema=airflow_audit_raw_schema(), identifier='_airflow_audit_extracts') -%}

{#- As UTC without a zone, like every timestamp of the staging models (the loaders keep the zone). -#}
{%- set ns = namespace(data_type='timestamp') -%}
{%- if execute and not airflow_audit_without_warehouse() -%}
    {%- for column in adapter.get_columns_in_relation(extracts) -%}
        {%- if column.name | lower == 'extracted_at' -%}{%- set ns.data_type = column.data_type -%}{%- endif -%}
    {%- endfor -%}
{%- endif %}

select {{ airflow_audit_utc_timestamp('max(extracted_at)', ns.data_type) }} as synced_at
from {{ extracts }}
