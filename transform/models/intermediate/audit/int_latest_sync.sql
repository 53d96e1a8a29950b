{#- One row: when the latest sync read the Airflow database (the latest extraction the tap recorded in
    `_airflow_audit_extracts`, beside the raw tables). What "now" is for the signals measured at a sync
    (rpt_stuck_work): the moment the data describes, not the moment dbt runs. A view, so it is as
    current as the latest sync even when that sync changed no row (a stalled Airflow changes none).
    The pipeline's bookkeeping table, not an Airflow table: read by name, not as a source. -#}

{{ config(materialized='view') }}

{%- set extracts = api.Relation.create(
    database=target.database, schema=airflow_audit_raw_schema(), identifier='_airflow_audit_extracts') -%}

select max(extracted_at) as synced_at
from {{ extracts }}
