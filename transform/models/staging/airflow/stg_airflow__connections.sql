{#- connection: Airflow's connections, without their secrets: password and extra never leave the Airflow
    database; the tap sends has_password / has_extra and, under AIRFLOW_AUDIT_FINGERPRINT_KEY, an HMAC
    fingerprint of each (null without a key). host, schema and description arrive masked where they
    hold credentials. team_name arrives in 3.x. -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'connection')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'id', 'bigint') }} as connection_id,
        {{ airflow_audit_column(raw, 'conn_id', 'string') }} as conn_id,
        {{ airflow_audit_column(raw, 'conn_type', 'string') }} as conn_type,
        {{ airflow_audit_column(raw, 'description', 'string') }} as description,
        {{ airflow_audit_column(raw, 'host', 'string') }} as host,
        {{ airflow_audit_column(raw, 'schema', 'string') }} as schema_name,
        {{ airflow_audit_column(raw, 'login', 'string') }} as login,
        {{ airflow_audit_column(raw, 'port', 'bigint') }} as port,
        {{ airflow_audit_column(raw, 'is_encrypted', 'boolean') }} as is_encrypted,
        {{ airflow_audit_column(raw, 'is_extra_encrypted', 'boolean') }} as is_extra_encrypted,
        {{ airflow_audit_column(raw, 'team_name', 'string') }} as team_name,
        {{ airflow_audit_column(raw, 'has_password', 'boolean') }} as has_password,
        {{ airflow_audit_column(raw, 'has_extra', 'boolean') }} as has_extra,
        {{ airflow_audit_column(raw, 'password_fingerprint', 'string') }} as password_fingerprint,
        {{ airflow_audit_column(raw, 'extra_fingerprint', 'string') }} as extra_fingerprint,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        connection_id,
        conn_id,
        conn_type,
        description,
        host,
        schema_name,
        login,
        port,
        is_encrypted,
        is_extra_encrypted,
        team_name,
        has_password,
        has_extra,
        password_fingerprint,
        extra_fingerprint,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
