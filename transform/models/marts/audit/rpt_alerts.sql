{#- One row per thing someone should look at (int_alerts_raised says which and why): the ongoing ones
    (stuck work, a scheduler without heartbeat) and the others raised within var
    airflow_audit_alert_lookback_hours before the latest sync, with when the pipeline first saw it.
    is_new marks the alerts first seen by the build after the latest sync, the ones to send (the
    generated DAGs' optional notifier task sends those). Read it by severity: critical (a privilege
    granted, a scheduler down, a long failure streak), warning, info. -#}

{%- set lookback_hours = var('airflow_audit_alert_lookback_hours') | int %}

with

alerts as (

    select * from {{ ref('int_alerts_raised') }}

),

first_seen as (

    select
        alert_key,
        min(dbt_valid_from) as first_seen_at

    from {{ ref('snap_alerts') }}
    group by alert_key

),

latest_sync as (

    select synced_at from {{ ref('int_latest_sync') }}

),

final as (

    select
        alerts.alert_key,
        alerts.alert_kind,
        alerts.severity,
        case alerts.severity when 'critical' then 1 when 'warning' then 2 else 3 end as severity_rank,
        alerts.raised_at,
        alerts.is_ongoing,
        alerts.dag_id,
        alerts.subject,
        alerts.message,
        first_seen.first_seen_at,
        coalesce(first_seen.first_seen_at > latest_sync.synced_at, true) as is_new

    from alerts
    left join first_seen on alerts.alert_key = first_seen.alert_key
    cross join latest_sync
    where
        alerts.is_ongoing
        or alerts.raised_at > {{ dbt.dateadd('hour', -lookback_hours, 'latest_sync.synced_at') }}

)

select * from final
