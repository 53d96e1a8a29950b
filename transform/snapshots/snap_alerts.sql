{#- When each alert was first seen: one row per alert key, from the build after the sync that raised it
    (rpt_alerts.first_seen_at, and is_new for the alerts the latest sync raised). An alert that goes
    away and comes back keeps its first time. -#}
{% snapshot snap_alerts %}

{{
    config(
        unique_key='alert_key',
        strategy='check',
        check_cols=['alert_kind'],
        hard_deletes='ignore',
    )
}}

select
    alert_key,
    alert_kind

from {{ ref('int_alerts_raised') }}

{% endsnapshot %}
