{#- One row per access change seen between two syncs, the history Flask-AppBuilder does not keep and
    Airflow's log does not record (apache/airflow#48916): a user granted or revoked a role
    (grant_kind user_role), a role granted or revoked a permission (role_permission). changed_at is the
    build after the sync that saw it (a grant and its revocation between two syncs is invisible).
    changed_by: where the log has it (the CLI's `users add-role`/`remove-role`, `roles add-perms` ...
    log the command line), the owner of the latest such event naming the user or role. -#}

with

versions as (

    {{ airflow_audit_snapshot_versions(
        ref('snap_access_grants'), 'grant_key', ['subject_name', 'object_name']
    ) }}

),

changes as (

    select
        *,
        {{ airflow_audit_change_type('granted', 'revoked') }} as change_type

    from versions

),

actors as (

    {{ airflow_audit_change_actors('changes', ['%user%', '%role%', '%perm%'], 'subject_name') }}

),

final as (

    select
        changes.dbt_scd_id as access_change_key,
        changes.grant_key,
        changes.grant_kind,
        -- a rename of the user, role, permission or resource is a change too
        case when changes.change_type = 'changed' then 'renamed' else changes.change_type end as change_type,
        changes.subject_id,
        changes.subject_name,
        changes.object_id,
        changes.object_name,
        changes.privilege,
        changes.privilege is not null as is_privileged,
        changes.grant_kind = 'user_role' and changes.object_name = 'Admin' as is_admin_role,
        changes.dbt_valid_from as changed_at,
        changes.previous_valid_from as previous_version_at,
        actors.owner as changed_by,
        actors.event as changed_by_event

    from changes
    left join actors
        on
            changes.dbt_scd_id = actors.dbt_scd_id
            and actors.recency = 1
    where changes.change_type is not null

)

select * from final
