{#- One row per version of a DAG's attributes, as the builds after each sync saw them (type 2): owners,
    tags, schedule, paused and active state, file, bundle, on 3.x the latest DAG version number, and the
    code hash (Airflow's dag_hash of the latest serialization, when serialized_dag is synced).
    valid_from / valid_to are the builds that saw the version and its successor (valid_to null: current);
    a version with is_deleted_at_source says the DAG row was gone. change_type: null for the state when
    history began (is_baseline), else created / changed (changed_fields) / deleted. A change and its
    reversal between two syncs is invisible. -#}

{%- set fields = {
    'owners': ['owners'], 'tags': ['tags'], 'schedule': ['schedule'], 'paused': ['is_paused'],
    'active': ['is_active'], 'file': ['file_path'], 'bundle': ['bundle_name'],
    'version': ['dag_version_number'], 'code': ['code_hash'],
} -%}

with

versions as (

    {{ airflow_audit_snapshot_versions(ref('snap_dags'), 'dag_id', fields.values() | sum(start=[])) }}

),

changes as (

    select
        *,
        {{ airflow_audit_change_type() }} as change_type

    from versions

),

final as (

    select
        dbt_scd_id as dag_version_key,
        dag_id,
        dbt_valid_from as valid_from,
        dbt_valid_to as valid_to,
        dbt_valid_to is null as is_current,
        dbt_is_deleted = 'True' as is_deleted_at_source,
        change_type is null as is_baseline,
        change_type,
        {{ airflow_audit_changed_fields(fields, alias=none) }} as changed_fields,
        owners,
        tags,
        schedule,
        is_paused,
        is_active,
        file_path,
        bundle_name,
        dag_version_number,
        code_hash

    from changes

)

select * from final
