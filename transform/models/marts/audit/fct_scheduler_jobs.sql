{#- One row per Airflow job (`job`): schedulers, triggerers, DAG processors, and on Airflow 2 the
    LocalTaskJob of each task try and CLI backfill jobs, with their host, state and heartbeat.

    Heartbeat lateness is measured at extraction time (extracted_at: when the extractor read the row): a
    running job whose latest heartbeat is older than var('airflow_audit_heartbeat_grace_s') seconds
    (default 30, Airflow's own scheduler_health_check_threshold) is late, i.e. probably dead without having
    said so. -#}

with

jobs as (

    select * from {{ ref('stg_airflow__jobs') }}

),

measured as (

    select
        *,
        case
            when state = 'running' and latest_heartbeat_at is not null
                then {{ dbt.datediff('latest_heartbeat_at', 'extracted_at', 'millisecond') }} / 1000.0
        end as heartbeat_age_s,
        case
            when ended_at >= started_at
                then {{ dbt.datediff('started_at', 'ended_at', 'millisecond') }} / 1000.0
        end as duration_s

    from jobs

),

final as (

    select
        job_id,
        job_type,
        state,
        hostname,
        executor_class,
        dag_id,
        started_at,
        ended_at,
        latest_heartbeat_at,
        cast(duration_s as {{ airflow_audit_type('seconds') }}) as duration_s,
        cast(heartbeat_age_s as {{ airflow_audit_type('seconds') }}) as heartbeat_age_s,
        coalesce(heartbeat_age_s > {{ var('airflow_audit_heartbeat_grace_s', 30) }}, false)
            as is_heartbeat_late,
        extracted_at,
        is_deleted_at_source,
        deleted_at_source_at

    from measured

)

select * from final
