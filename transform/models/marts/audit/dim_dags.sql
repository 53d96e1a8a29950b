{#- One row per DAG known to Airflow: who owns it, how it is tagged and scheduled, whether it is paused,
    active and importable, and the state of its latest run. DAGs deleted at the source are kept (archive
    mode), flagged by is_deleted_at_source. -#}

with

dags as (

    select * from {{ ref('stg_airflow__dags') }}

),

dag_tags as (

    select * from {{ ref('stg_airflow__dag_tags') }}

),

dag_owner_attributes as (

    select * from {{ ref('stg_airflow__dag_owner_attributes') }}

),

import_errors as (

    select * from {{ ref('stg_airflow__import_errors') }}

),

tags_by_dag as (

    select
        dag_id,
        {{ dbt.listagg('tag_name', "', '", 'order by tag_name') }} as tags,
        count(*) as tag_count

    from dag_tags
    where not is_deleted_at_source
    group by dag_id

),

owner_links_by_dag as (

    select
        dag_id,
        {{ dbt.listagg(dbt.concat(['owner', "': '", 'owner_link']), "', '", 'order by owner') }}
            as owner_links

    from dag_owner_attributes
    where not is_deleted_at_source
    group by dag_id

),

-- Files that currently fail to import. Airflow 2 records the absolute path (the DAG's fileloc), Airflow
-- 3 the path within the bundle (the DAG's relative_fileloc) and the bundle.
failing_files as (

    select
        file_path,
        bundle_name,
        count(*) as import_error_count

    from import_errors
    where not is_deleted_at_source
    group by file_path, bundle_name

),

-- The latest run of each DAG: the latest activity (queued, started, due, logical date; a run with none
-- comes after those with one), then the highest id among the runs at it. Two aggregates and a join
-- rather than a window: it sorted every run of every DAG on each build, at 10M task instances 0.8 to
-- 0.95 s of dim_dags' 1.2 s (1.27M runs), these 0.2 s. The runs are read by each CTE that needs them,
-- not through one CTE read twice: DuckDB holds a CTE read twice whole in memory, outside its memory
-- limit (transform/README.md, "How fast").
latest_activity as (

    select
        dag_id,
        max(coalesce(queued_at, started_at, run_after_at, logical_at)) as run_activity_at

    from {{ ref('stg_airflow__dag_runs') }}
    where not is_deleted_at_source
    group by dag_id

),

latest_run_ids as (

    select
        runs.dag_id,
        max(runs.dag_run_id) as dag_run_id

    from {{ ref('stg_airflow__dag_runs') }} as runs
    inner join latest_activity
        on
            runs.dag_id = latest_activity.dag_id
            and (
                coalesce(runs.queued_at, runs.started_at, runs.run_after_at, runs.logical_at)
                = latest_activity.run_activity_at
                -- no run of the DAG has an activity: all of them are at it
                or latest_activity.run_activity_at is null
            )
    where not runs.is_deleted_at_source
    group by runs.dag_id

),

latest_runs as (

    select
        runs.dag_id,
        runs.run_id,
        runs.state,
        coalesce(runs.queued_at, runs.started_at, runs.run_after_at, runs.logical_at) as run_activity_at

    from {{ ref('stg_airflow__dag_runs') }} as runs
    inner join latest_run_ids
        on
            runs.dag_id = latest_run_ids.dag_id
            and runs.dag_run_id = latest_run_ids.dag_run_id
    where not runs.is_deleted_at_source

),

run_counts as (

    select
        dag_id,
        count(*) as run_count

    from {{ ref('stg_airflow__dag_runs') }}
    group by dag_id

),

joined as (

    select
        dags.*,
        tags_by_dag.tags,
        coalesce(tags_by_dag.tag_count, 0) as tag_count,
        owner_links_by_dag.owner_links,
        (
            coalesce(dags.has_import_errors, false)
            or absolute_file.import_error_count is not null
            or bundle_file.import_error_count is not null
        ) as has_import_error,
        latest_runs.run_id as latest_run_id,
        latest_runs.state as latest_run_state,
        latest_runs.run_activity_at as latest_run_activity_at,
        coalesce(run_counts.run_count, 0) as run_count

    from dags
    left join tags_by_dag
        on dags.dag_id = tags_by_dag.dag_id
    left join owner_links_by_dag
        on dags.dag_id = owner_links_by_dag.dag_id
    left join failing_files as absolute_file
        on
            dags.file_path = absolute_file.file_path
            and absolute_file.bundle_name is null
    left join failing_files as bundle_file
        on
            dags.relative_file_path = bundle_file.file_path
            and dags.bundle_name = bundle_file.bundle_name
    left join latest_runs
        on dags.dag_id = latest_runs.dag_id
    left join run_counts
        on dags.dag_id = run_counts.dag_id

),

final as (

    select
        dag_id,
        dag_display_name,
        description,
        owners,
        owner_links,
        tags,
        tag_count,
        schedule,
        timetable_description,
        is_paused,
        is_active,
        file_path,
        relative_file_path,
        bundle_name,
        last_parsed_at,
        has_import_error,
        max_active_runs,
        max_active_tasks,
        next_run_logical_at,
        run_count,
        latest_run_id,
        latest_run_state,
        latest_run_activity_at,
        is_deleted_at_source,
        deleted_at_source_at

    from joined

)

select * from final
