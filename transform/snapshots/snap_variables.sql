{#- Airflow's variables as each build after a sync saw them, without their values: the fingerprint tells
    that a value was saved anew, never what it is (fct_variable_changes). -#}
{% snapshot snap_variables %}

{{
    config(
        unique_key='variable_key',
        strategy='check',
        check_cols=['description', 'is_encrypted', 'value_fingerprint'],
        hard_deletes='new_record',
    )
}}

select
    variable_key,
    variable_id,
    description,
    is_encrypted,
    value_fingerprint

from {{ ref('stg_airflow__variables') }}
where not is_deleted_at_source

{% endsnapshot %}
