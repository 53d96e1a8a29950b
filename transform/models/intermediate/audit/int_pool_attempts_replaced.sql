{#- Bookkeeping for rpt_pool_hourly_usage, not data to query: task attempts as the report last counted
    them, where they may count otherwise now (airflow_audit_pool_hours.sql):
    - the attempts fct_task_attempts replaced (deleted to insert them again) since the report was last
      built, as they were then. An hour an attempt left must be recounted, and the attempt is no longer
      anywhere else (Airflow before 2.10 keeps no earlier try). fct_task_attempts' pre-hook adds them
      (airflow_audit_keep_replaced_attempts), each attempt once;
    - the attempts still holding slots when the report was built, with held_until, the instant they
      were counted to. The report's post-hooks empty the table, then add these
      (airflow_audit_keep_unended_attempts).

    A row without a task_instance_key says "what was replaced is not known": this table was created (a
    first build, a full refresh, or it had been dropped) or fct_task_attempts was rebuilt in full, so
    the next build of rpt_pool_hourly_usage is a full one. Created with that row, added to by nothing
    else. -#}

{{ config(materialized='incremental', on_schema_change='fail') }}

select
    cast(null as {{ dbt.type_string() }}) as task_instance_key,
    cast(null as {{ dbt.type_string() }}) as task_attempt_key,
    cast(null as {{ dbt.type_boolean() }}) as is_deleted_at_source,
    cast(null as {{ dbt.type_string() }}) as pool,
    cast(null as {{ dbt.type_bigint() }}) as pool_slots,
    cast(null as {{ dbt.type_string() }}) as state,
    cast(null as {{ dbt.type_timestamp() }}) as queued_at,
    cast(null as {{ dbt.type_timestamp() }}) as started_at,
    cast(null as {{ dbt.type_timestamp() }}) as ended_at,
    cast(null as {{ dbt.type_timestamp() }}) as held_until

from (select 1 as one) as created
where {{ airflow_audit_on_creation() }}
