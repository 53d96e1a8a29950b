{#- variable: Airflow's variables, without their values: val never leaves the Airflow database; the tap sends,
    under AIRFLOW_AUDIT_FINGERPRINT_KEY, an HMAC fingerprint of it (null without a key). description
    arrives masked where it holds credentials. team_name arrives in 3.x. -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'variable')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'id', 'bigint') }} as variable_id,
        {{ airflow_audit_column(raw, 'key', 'string') }} as variable_key,
        {{ airflow_audit_column(raw, 'description', 'string') }} as description,
        {{ airflow_audit_column(raw, 'is_encrypted', 'boolean') }} as is_encrypted,
        {{ airflow_audit_column(raw, 'team_name', 'string') }} as team_name,
        {{ airflow_audit_column(raw, 'val_fingerprint', 'string') }} as value_fingerprint,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        variable_id,
        variable_key,
        description,
        is_encrypted,
        team_name,
        value_fingerprint,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
