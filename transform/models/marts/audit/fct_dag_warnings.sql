{#- One row per DAG and kind of warning the DAG processor raised. Airflow deletes a warning once the DAG
    is clean: in archive mode the row stays, with is_resolved set. -#}

with

dag_warnings as (

    select * from {{ ref('stg_airflow__dag_warnings') }}

),

final as (

    select
        dag_warning_key,
        dag_id,
        warning_type,
        message,
        raised_at,
        is_deleted_at_source as is_resolved,
        is_deleted_at_source,
        deleted_at_source_at

    from dag_warnings

)

select * from final
