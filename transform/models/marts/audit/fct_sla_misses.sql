{#- One row per missed SLA (Airflow 2 only: SLAs were removed in Airflow 3.0, where this model is empty and
    DAG-run deadlines take their place). -#}

with

sla_misses as (

    select * from {{ ref('stg_airflow__sla_misses') }}

),

final as (

    select
        sla_miss_key,
        dag_id,
        task_id,
        logical_at,
        recorded_at,
        is_email_sent,
        is_notification_sent,
        description,
        is_deleted_at_source,
        deleted_at_source_at

    from sla_misses

)

select * from final
