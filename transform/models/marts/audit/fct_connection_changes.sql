{#- One row per change to an Airflow connection seen between two syncs: created, changed (which fields),
    deleted; never a secret's value, only that its fingerprint (or presence) changed. changed_at is the
    build after the sync that saw it (the resolution: a change and its reversal between two syncs is
    invisible). changed_by: the owner of the latest log event about connections naming this conn_id
    since the previous version (the CLI, web UI and API log one; null when none did). -#}

{%- set fields = {
    'conn_type': ['conn_type'], 'host': ['host'], 'schema': ['schema_name'], 'login': ['login'],
    'port': ['port'], 'description': ['description'], 'password': ['password_fingerprint', 'has_password'],
    'extra': ['extra_fingerprint', 'has_extra'], 'encryption': ['is_encrypted', 'is_extra_encrypted'],
} -%}

with

versions as (

    {{ airflow_audit_snapshot_versions(ref('snap_connections'), 'conn_id', fields.values() | sum(start=[])) }}

),

changes as (

    select
        *,
        {{ airflow_audit_change_type() }} as change_type

    from versions

),

actors as (

    {{ airflow_audit_change_actors('changes', ['%connection%'], 'conn_id') }}

),

final as (

    select
        changes.dbt_scd_id as connection_change_key,
        changes.conn_id,
        changes.connection_id,
        changes.change_type,
        {{ airflow_audit_changed_fields(fields) }} as changed_fields,
        changes.dbt_valid_from as changed_at,
        changes.previous_valid_from as previous_version_at,
        changes.conn_type,
        changes.host,
        changes.previous_host,
        changes.port,
        changes.login,
        changes.has_password,
        changes.has_extra,
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
