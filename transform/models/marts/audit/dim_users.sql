{#- One row per Flask-AppBuilder user (the FAB auth manager: built in on Airflow 2, a provider on Airflow
    3; without it this model is empty). No secrets: the password is never loaded, has_password says whether
    one is set.

    Dormancy is measured at extraction time (extracted_at: when the extractor read the user row), so the
    figures describe the Airflow database as loaded, not the moment the marts were built: an active account
    is dormant when its last login (or, never having logged in, its creation) is more than
    var('airflow_audit_dormant_after_days') days (default 90) before that. -#}

with

users as (

    select * from {{ ref('stg_airflow__users') }}

),

user_roles as (

    select * from {{ ref('int_user_roles_joined') }}

),

roles_by_user as (

    select
        user_id,
        {{ dbt.listagg('role_name', "', '", 'order by role_name') }} as role_names,
        count(*) as role_count

    from user_roles
    where not is_deleted_at_source
    group by user_id

),

measured as (

    select
        users.*,
        roles_by_user.role_names,
        coalesce(roles_by_user.role_count, 0) as role_count,
        users.last_login_at is null as has_never_logged_in,
        case
            when users.last_login_at is not null
                then {{ dbt.datediff('users.last_login_at', 'users.extracted_at', 'day') }}
        end as days_since_last_login,
        {{ dbt.datediff('coalesce(users.last_login_at, users.created_at)', 'users.extracted_at', 'day') }}
            as days_since_last_activity

    from users
    left join roles_by_user
        on users.user_id = roles_by_user.user_id

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
        role_names,
        role_count,
        created_at,
        changed_at,
        created_by_user_id,
        changed_by_user_id,
        last_login_at,
        login_count,
        failed_login_count,
        has_never_logged_in,
        days_since_last_login,
        coalesce(
            is_active
            and days_since_last_activity > {{ var('airflow_audit_dormant_after_days', 90) }},
            false
        ) as is_dormant,
        extracted_at,
        is_deleted_at_source,
        deleted_at_source_at

    from measured

)

select * from final
