{#- One row: when the latest sync read the Airflow database (the latest extraction the tap recorded in
    `_airflow_audit_extracts`, beside the raw tables). What "now" is for the signals measured at a sync
    (rpt_stuck_work): the moment the data describes, not the moment dbt runs. -#}

{%- set extracts = source('airflow', 'task_instance').incorporate(
    path={'identifier': '_airflow_audit_extracts'}) -%}

select max(extracted_at) as synced_at
from {{ extracts }}
