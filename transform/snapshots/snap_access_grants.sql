{#- Who holds which role, and which role holds which permission, as each build after a sync saw it
    (a type-2 history: fct_access_changes reads it). Flask-AppBuilder keeps no history of either and
    Airflow's log does not record these changes (apache/airflow#48916). Names are kept so that a grant
    whose user or role is deleted later still reads as who and what it was. -#}
{% snapshot snap_access_grants %}

{{
    config(
        unique_key='grant_key',
        strategy='check',
        check_cols=['subject_name', 'object_name'],
        hard_deletes='new_record',
    )
}}

with

user_roles as (

    select * from {{ ref('int_user_roles_joined') }}
    where not is_deleted_at_source

),

users as (

    select * from {{ ref('stg_airflow__users') }}

),

role_permissions as (

    select * from {{ ref('dim_role_permissions') }}
    where not is_deleted_at_source

),

final as (

    select
        {{ dbt.concat(["'user_role:'", 'user_roles.user_role_key']) }} as grant_key,
        'user_role' as grant_kind,
        user_roles.user_id as subject_id,
        coalesce(users.username, cast(user_roles.user_id as {{ dbt.type_string() }})) as subject_name,
        user_roles.role_id as object_id,
        coalesce(user_roles.role_name, cast(user_roles.role_id as {{ dbt.type_string() }})) as object_name,
        cast(null as {{ dbt.type_string() }}) as privilege

    from user_roles
    left join users
        on user_roles.user_id = users.user_id

    union all

    select
        {{ dbt.concat([
            "'role_permission:'",
            dbt.safe_cast('role_permissions.role_id', dbt.type_string()),
            "':'",
            dbt.safe_cast('role_permissions.permission_view_id', dbt.type_string()),
        ]) }} as grant_key,
        'role_permission' as grant_kind,
        role_id as subject_id,
        coalesce(role_name, cast(role_id as {{ dbt.type_string() }})) as subject_name,
        permission_view_id as object_id,
        {{ dbt.concat(["coalesce(action_name, '?')", "' on '", "coalesce(resource_name, '?')"]) }}
            as object_name,
        privilege

    from role_permissions

)

select * from final

{% endsnapshot %}
