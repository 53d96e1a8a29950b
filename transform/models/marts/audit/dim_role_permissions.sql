{#- One row per (role, permission, resource) of the Flask-AppBuilder auth manager: what each role may do.
    FAB calls a permission an action (can_read, can_edit, can_create, can_delete, menu_access) and a
    resource a view menu (`DAG Runs`, `Connections`, `DAG:<dag_id>` ...).

    privilege flags the grants that make a user powerful (rpt_privileged_users):
    administer_users   can_create / can_edit / can_delete on Users, Roles, Permissions, Permission Views,
                       View Menus, or can_edit on Passwords (reset anyone's password)
    edit_connections   can_create / can_edit / can_delete on Connections
    edit_variables     can_create / can_edit / can_delete on Variables
    trigger_any_dag    can_create on DAG Runs (a new run of any DAG the role may edit)
    edit_any_dag       can_edit on DAGs: pause, clear and mark state on every DAG
    delete_any_dag     can_delete on DAGs
    edit_any_task      can_edit / can_delete on Task Instances: clear and mark any task instance
    Per-DAG grants (`DAG:<dag_id>`), read access and menu_access (which only shows a menu entry) are not
    privileges here. -#}

with

permission_view_roles as (

    select * from {{ ref('stg_airflow__permission_view_roles') }}

),

permission_views as (

    select * from {{ ref('stg_airflow__permission_views') }}

),

permissions as (

    select * from {{ ref('stg_airflow__permissions') }}

),

view_menus as (

    select * from {{ ref('stg_airflow__view_menus') }}

),

roles as (

    select * from {{ ref('stg_airflow__roles') }}

),

joined as (

    select
        permission_view_roles.permission_view_role_id,
        permission_view_roles.role_id,
        roles.role_name,
        permission_view_roles.permission_view_id,
        permission_views.permission_id,
        permissions.permission_name as action_name,
        permission_views.view_menu_id as resource_id,
        view_menus.view_menu_name as resource_name,
        (
            permission_view_roles.is_deleted_at_source
            or coalesce(roles.is_deleted_at_source, false)
            or coalesce(permission_views.is_deleted_at_source, false)
            or coalesce(permissions.is_deleted_at_source, false)
            or coalesce(view_menus.is_deleted_at_source, false)
        ) as is_deleted_at_source,
        coalesce(
            permission_view_roles.deleted_at_source_at,
            roles.deleted_at_source_at,
            permission_views.deleted_at_source_at,
            permissions.deleted_at_source_at,
            view_menus.deleted_at_source_at
        ) as deleted_at_source_at

    from permission_view_roles
    left join roles
        on permission_view_roles.role_id = roles.role_id
    left join permission_views
        on permission_view_roles.permission_view_id = permission_views.permission_view_id
    left join permissions
        on permission_views.permission_id = permissions.permission_id
    left join view_menus
        on permission_views.view_menu_id = view_menus.view_menu_id

),

classified as (

    select
        *,
        case
            when resource_name like 'DAG Run:%' then substr(resource_name, 9)
            when resource_name like 'DAG:%' then substr(resource_name, 5)
        end as dag_id,
        case
            when
                action_name in ('can_create', 'can_edit', 'can_delete')
                and resource_name in ('Users', 'Roles', 'Permissions', 'Permission Views', 'View Menus')
                then 'administer_users'
            when action_name = 'can_edit' and resource_name = 'Passwords' then 'administer_users'
            when action_name in ('can_create', 'can_edit', 'can_delete') and resource_name = 'Connections'
                then 'edit_connections'
            when action_name in ('can_create', 'can_edit', 'can_delete') and resource_name = 'Variables'
                then 'edit_variables'
            when action_name = 'can_create' and resource_name = 'DAG Runs' then 'trigger_any_dag'
            when action_name = 'can_edit' and resource_name = 'DAGs' then 'edit_any_dag'
            when action_name = 'can_delete' and resource_name = 'DAGs' then 'delete_any_dag'
            when action_name in ('can_edit', 'can_delete') and resource_name = 'Task Instances'
                then 'edit_any_task'
        end as privilege

    from joined

),

final as (

    select
        permission_view_role_id as role_permission_id,
        role_id,
        role_name,
        permission_view_id,
        permission_id,
        action_name,
        resource_id,
        resource_name,
        dag_id,
        dag_id is not null as is_dag_specific,
        privilege,
        privilege is not null as is_privileged,
        is_deleted_at_source,
        deleted_at_source_at

    from classified

)

select * from final
