{#- One row per (Flask-AppBuilder user, role) grant, with the role's name: the join both the user dimension
    (role list) and the grants fact need. Grants whose role row is missing keep a null role_name. -#}

with

user_roles as (

    select * from {{ ref('stg_airflow__user_roles') }}

),

roles as (

    select * from {{ ref('stg_airflow__roles') }}

),

joined as (

    select
        user_roles.user_role_id,
        user_roles.user_id,
        user_roles.role_id,
        roles.role_name,
        -- The grant is gone when its own row or its role's row was deleted at the source.
        (
            user_roles.is_deleted_at_source
            or coalesce(roles.is_deleted_at_source, false)
        ) as is_deleted_at_source,
        coalesce(user_roles.deleted_at_source_at, roles.deleted_at_source_at) as deleted_at_source_at

    from user_roles
    left join roles
        on user_roles.role_id = roles.role_id

),

final as (

    select
        user_role_id,
        {{ airflow_audit_surrogate_key(['user_id', 'role_id']) }} as user_role_key,
        user_id,
        role_id,
        role_name,
        is_deleted_at_source,
        deleted_at_source_at

    from joined

)

select * from final
