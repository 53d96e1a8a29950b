{#- One row per (user, role) grant of the Flask-AppBuilder auth manager: who holds which role. Grants
    deleted at the source (archive mode) are kept and flagged, so a revoked role stays visible. -#}

with

user_roles as (

    select * from {{ ref('int_user_roles_joined') }}

),

users as (

    select * from {{ ref('stg_airflow__users') }}

),

joined as (

    select
        user_roles.user_role_id,
        user_roles.user_role_key,
        user_roles.user_id,
        users.username,
        users.is_active as is_user_active,
        user_roles.role_id,
        user_roles.role_name,
        (user_roles.is_deleted_at_source or coalesce(users.is_deleted_at_source, false))
            as is_deleted_at_source,
        coalesce(user_roles.deleted_at_source_at, users.deleted_at_source_at) as deleted_at_source_at

    from user_roles
    left join users
        on user_roles.user_id = users.user_id

),

final as (

    select
        user_role_id,
        user_role_key,
        user_id,
        username,
        is_user_active,
        role_id,
        role_name,
        is_deleted_at_source,
        deleted_at_source_at

    from joined

)

select * from final
