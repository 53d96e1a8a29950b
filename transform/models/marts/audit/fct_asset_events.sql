{#- One row per asset event (Airflow 3's asset_event, Airflow 2's dataset_event): the asset, the task run
    that produced it, the DAG runs it queued, and the producer-to-consumer latency, from the event to the
    first consuming run's queueing (the scheduler's reaction) and start. After an in-place 2.x to 3.x
    upgrade the warehouse holds both tables (Airflow's migration renamed them, keeping the ids): an event
    is taken from asset_event where it is there, from dataset_event otherwise. -#}

with

asset_events as (

    select * from {{ ref('stg_airflow__asset_events') }}

),

events as (

    select
        asset_event_id,
        asset_id,
        source_dag_id,
        source_task_id,
        source_run_id,
        source_map_index,
        produced_at,
        is_deleted_at_source

    from asset_events

    union all

    select
        dataset_events.dataset_event_id as asset_event_id,
        dataset_events.dataset_id as asset_id,
        dataset_events.source_dag_id,
        dataset_events.source_task_id,
        dataset_events.source_run_id,
        dataset_events.source_map_index,
        dataset_events.produced_at,
        dataset_events.is_deleted_at_source

    from {{ ref('stg_airflow__dataset_events') }} as dataset_events
    left join asset_events on dataset_events.dataset_event_id = asset_events.asset_event_id
    where asset_events.asset_event_id is null

),

assets_3 as (

    select * from {{ ref('stg_airflow__assets') }}

),

assets as (

    select
        asset_id,
        asset_name,
        uri

    from assets_3

    union all

    select
        datasets.dataset_id as asset_id,
        cast(null as {{ dbt.type_string() }}) as asset_name,
        datasets.uri

    from {{ ref('stg_airflow__datasets') }} as datasets
    left join assets_3 on datasets.dataset_id = assets_3.asset_id
    where assets_3.asset_id is null

),

consumers_3 as (

    select * from {{ ref('stg_airflow__dagrun_asset_events') }}

),

consumers as (

    select
        dag_run_id,
        asset_event_id

    from consumers_3

    union all

    select
        dataset_consumers.dag_run_id,
        dataset_consumers.dataset_event_id as asset_event_id

    from {{ ref('stg_airflow__dagrun_dataset_events') }} as dataset_consumers
    left join consumers_3
        on
            dataset_consumers.dag_run_id = consumers_3.dag_run_id
            and dataset_consumers.dataset_event_id = consumers_3.asset_event_id
    where consumers_3.asset_event_id is null

),

runs as (

    select * from {{ ref('fct_dag_runs') }}

),

consumed as (

    select
        consumers.asset_event_id,
        count(*) as triggered_run_count,
        count(distinct runs.dag_id) as triggered_dag_count,
        min(runs.queued_at) as first_consumer_queued_at,
        min(runs.started_at) as first_consumer_started_at

    from consumers
    inner join runs on consumers.dag_run_id = runs.dag_run_id
    group by consumers.asset_event_id

),

final as (

    select
        events.asset_event_id,
        events.asset_id,
        assets.asset_name,
        assets.uri as asset_uri,
        events.source_dag_id,
        events.source_task_id,
        events.source_run_id,
        events.source_map_index,
        events.produced_at,
        coalesce(consumed.triggered_run_count, 0) as triggered_run_count,
        coalesce(consumed.triggered_dag_count, 0) as triggered_dag_count,
        consumed.first_consumer_queued_at,
        consumed.first_consumer_started_at,
        {{ dbt.datediff('events.produced_at', 'consumed.first_consumer_queued_at', 'millisecond') }} / 1000.0
            as queue_latency_s,
        {{ dbt.datediff('events.produced_at', 'consumed.first_consumer_started_at', 'millisecond') }} / 1000.0
            as start_latency_s,
        events.is_deleted_at_source

    from events
    left join assets on events.asset_id = assets.asset_id
    left join consumed on events.asset_event_id = consumed.asset_event_id

)

select * from final
