{#- Bookkeeping for rpt_dag_daily_health, not data to query: the days (of a DAG) the report counted rows
    on that fct_dag_runs and fct_task_attempts have replaced (deleted to insert them again) since the
    report was last built. A run or an attempt can leave a day (a cleared run counts on the day it is
    queued again, then starts), and that day must be recounted. The two marts' pre-hooks add them
    (airflow_audit_keep_replaced_dag_days); the report's post-hook empties the table.

    A row without a dag_id says "what was replaced is not known": this table was created (a first
    build, a full refresh, or it had been dropped) or one of the two marts was rebuilt in full, so the
    next build of rpt_dag_daily_health is a full one. This model creates the table with that row and adds
    nothing to it after. -#}

{{ config(materialized='incremental', on_schema_change='fail') }}

select
    cast(null as {{ dbt.type_string() }}) as dag_id,
    cast(null as date) as run_date

from (select 1 as one) as created
where {{ airflow_audit_on_creation() }}
