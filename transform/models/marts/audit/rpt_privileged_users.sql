{#- One row per (user, privilege) for every user who holds a privileged permission through any of their
    roles: who can administer users, edit connections or variables, or trigger, edit, delete or clear any
    DAG. The rule (which FAB action on which resource makes which privilege) is dim_role_permissions'.
    A privilege that only rows deleted at the source grant (a revoked role, a deleted user) is kept and
    flagged by is_deleted_at_source: it is what the user could do before. -#}

with

user_role_grants as (

    select * from {{ ref('fct_user_role_grants') }}

),

role_permissions as (

    select * from {{ ref('dim_role_permissions') }}

),

grant_paths as (

    select
        user_role_grants.user_id,
        user_role_grants.username,
        user_role_grants.is_user_active,
        role_permissions.privilege,
        role_permissions.role_name,
        (user_role_grants.is_deleted_at_source or role_permissions.is_deleted_at_source) as is_path_deleted

    from user_role_grants
    inner join role_permissions
        on user_role_grants.role_id = role_permissions.role_id
    where role_permissions.is_privileged

),

-- one row per (user, privilege, role): a role grants a privilege through several permissions
roles_per_privilege as (

    select
        user_id,
        privilege,
        role_name,
        max(username) as username,
        -- boolean aggregates, portably
        max(case when is_user_active then 1 else 0 end) = 1 as is_user_active,
        max(case when is_path_deleted then 0 else 1 end) = 1 as is_current

    from grant_paths
    group by user_id, privilege, role_name

),

aggregated as (

    select
        user_id,
        privilege,
        max(username) as username,
        max(case when is_user_active then 1 else 0 end) = 1 as is_user_active,
        {{ dbt.listagg("case when is_current then role_name end", "', '", 'order by role_name') }}
            as granted_by_roles,
        sum(case when is_current then 1 else 0 end) as current_grant_count

    from roles_per_privilege
    group by user_id, privilege

),

final as (

    select
        {{ airflow_audit_surrogate_key(['user_id', 'privilege']) }} as user_privilege_key,
        user_id,
        username,
        privilege,
        is_user_active,
        granted_by_roles,
        current_grant_count as granting_role_count,
        current_grant_count = 0 as is_deleted_at_source

    from aggregated

)

select * from final
