{#- One row per DAG file import error Airflow recorded. Airflow deletes the row once the file imports
    again: in archive mode the row stays, flagged by is_deleted_at_source, and is_resolved says so. -#}

with

import_errors as (

    select * from {{ ref('stg_airflow__import_errors') }}

),

final as (

    select
        import_error_id,
        file_path,
        bundle_name,
        recorded_at,
        stacktrace,
        is_deleted_at_source as is_resolved,
        is_deleted_at_source,
        deleted_at_source_at

    from import_errors

)

select * from final
