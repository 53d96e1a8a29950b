{#- ab_user: built in on Airflow 2.x; on 3.x only with the FAB auth provider. The password is never
    loaded; has_password (computed by PostgreSQL) says whether one is set. FAB writes its timestamps without a time
    zone, in the webserver's local time. -#}
{%- set raw = airflow_audit_inspect_source(source('airflow', 'ab_user')) -%}

with

source as (

    select
        {{ airflow_audit_column(raw, 'id', 'bigint') }} as user_id,
        {{ airflow_audit_column(raw, 'username', 'string') }} as username,
        {{ airflow_audit_column(raw, 'first_name', 'string') }} as first_name,
        {{ airflow_audit_column(raw, 'last_name', 'string') }} as last_name,
        {{ airflow_audit_column(raw, 'email', 'string') }} as email,
        {{ airflow_audit_column(raw, 'active', 'boolean') }} as is_active,
        {{ airflow_audit_column(raw, 'has_password', 'boolean') }} as has_password,
        {{ airflow_audit_column(raw, 'last_login', 'timestamp') }} as last_login_at,
        {{ airflow_audit_column(raw, 'login_count', 'bigint') }} as login_count,
        {{ airflow_audit_column(raw, 'fail_login_count', 'bigint') }} as failed_login_count,
        {{ airflow_audit_column(raw, 'created_on', 'timestamp') }} as created_at,
        {{ airflow_audit_column(raw, 'changed_on', 'timestamp') }} as changed_at,
        {{ airflow_audit_column(raw, 'created_by_fk', 'bigint') }} as created_by_user_id,
        {{ airflow_audit_column(raw, 'changed_by_fk', 'bigint') }} as changed_by_user_id,
        {{ airflow_audit_loader_columns(raw) }}
    {{ airflow_audit_from(raw) }}

),

final as (

    select
        user_id,
        username,
        first_name,
        last_name,
        email,
        is_active,
        has_password,
        last_login_at,
        login_count,
        failed_login_count,
        created_at,
        changed_at,
        created_by_user_id,
        changed_by_user_id,
        extracted_at,
        loaded_at,
        deleted_at_source_at,
        is_deleted_at_source

    from source

)

select * from final
