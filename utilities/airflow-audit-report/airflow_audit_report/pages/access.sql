-- Access: who holds which privilege, accounts, logins and role grants.
-- name: privileged
select username, privilege, is_user_active, granted_by_roles, is_deleted_at_source
from {{ ref('rpt_privileged_users') }}
order by username, privilege

-- name: users
select
    username, is_active, role_names, last_login_at, login_count, failed_login_count,
    has_never_logged_in, days_since_last_login, is_dormant, is_deleted_at_source
from {{ ref('dim_users') }}
order by username

-- name: grants
select username, role_name, is_user_active, is_deleted_at_source
from {{ ref('fct_user_role_grants') }}
order by username, role_name
