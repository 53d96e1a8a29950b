{#- One row per change to an Airflow variable seen between two syncs: created, changed (value, description,
    encryption), deleted; never the value, only that its fingerprint changed. changed_at is the build
    after the sync that saw it (a change and its reversal between two syncs is invisible). changed_by:
    the owner of the latest log event about variables naming this key since the previous version. -#}

{%- set fields = {
    'value': ['value_fingerprint'], 'description': ['description'], 'encryption': ['is_encrypted'],
} -%}

with

versions as (

    {{ airflow_audit_snapshot_versions(
        ref('snap_variables'), 'variable_key', fields.values() | sum(start=[])
    ) }}

),

changes as (

    select
        *,
        {{ airflow_audit_change_type() }} as change_type

    from versions

),

actors as (

    {{ airflow_audit_change_actors('changes', ['%variable%'], 'variable_key') }}

),

final as (

    select
        changes.dbt_scd_id as variable_change_key,
        changes.variable_key,
        changes.variable_id,
        changes.change_type,
        {{ airflow_audit_changed_fields(fields) }} as changed_fields,
        changes.dbt_valid_from as changed_at,
        changes.previous_valid_from as previous_version_at,
        changes.is_encrypted,
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
