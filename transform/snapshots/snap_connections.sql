{#- Airflow's connections as each build after a sync saw them, without a secret: the fingerprints tell
    that a password or the extras were saved anew, never what they are (fct_connection_changes). -#}
{% snapshot snap_connections %}

{{
    config(
        unique_key='conn_id',
        strategy='check',
        check_cols=[
            'conn_type', 'host', 'schema_name', 'login', 'port', 'description', 'is_encrypted',
            'is_extra_encrypted', 'has_password', 'has_extra', 'password_fingerprint', 'extra_fingerprint',
        ],
        hard_deletes='new_record',
    )
}}

select
    conn_id,
    connection_id,
    conn_type,
    host,
    schema_name,
    login,
    port,
    description,
    is_encrypted,
    is_extra_encrypted,
    has_password,
    has_extra,
    password_fingerprint,
    extra_fingerprint

from {{ ref('stg_airflow__connections') }}
where not is_deleted_at_source

{% endsnapshot %}
