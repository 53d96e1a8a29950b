{#- Each DAG's attributes as each build after a sync saw them: owners, tags, schedule, paused and active
    state, file, bundle, on 3.x the DAG version its next run will use, and, when `serialized_dag` is
    synced, Airflow's hash of the DAG as last serialized (its code; dim_dags_history). -#}
{% snapshot snap_dags %}

{{
    config(
        unique_key='dag_id',
        strategy='check',
        check_cols=[
            'owners', 'tags', 'schedule', 'is_paused', 'is_active', 'file_path', 'bundle_name',
            'dag_version_number', 'code_hash',
        ],
        hard_deletes='new_record',
    )
}}

with

dags as (

    select * from {{ ref('dim_dags') }}
    where not is_deleted_at_source

),

versions as (

    select
        dag_id,
        max(version_number) as dag_version_number

    from {{ ref('stg_airflow__dag_versions') }}
    where not is_deleted_at_source
    group by dag_id

),

-- The latest serialization of each DAG (2.x: its only row; 3.x: its latest version's).
serialized as (

    select
        dag_id,
        dag_hash as code_hash,
        row_number() over (
            partition by dag_id order by last_updated_at desc, dag_hash desc
        ) as recency

    from {{ ref('stg_airflow__serialized_dags') }}
    where not is_deleted_at_source

),

final as (

    select
        dags.dag_id,
        dags.owners,
        dags.tags,
        dags.schedule,
        dags.is_paused,
        dags.is_active,
        dags.file_path,
        dags.bundle_name,
        versions.dag_version_number,
        serialized.code_hash

    from dags
    left join versions
        on dags.dag_id = versions.dag_id
    left join serialized
        on
            dags.dag_id = serialized.dag_id
            and serialized.recency = 1

)

select * from final

{% endsnapshot %}
