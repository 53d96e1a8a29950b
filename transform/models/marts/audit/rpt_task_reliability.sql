{#- One row per task of a DAG: its attempts, how many failed, were retries or ended the task instance
    failed, when it last failed, and how long its successful attempts take (p50, p95, and the p50 of
    last var airflow_audit_trend_window_days days of its own history against the same number of days
    before, as in rpt_dag_durations). -#}

{%- set window_days = var('airflow_audit_trend_window_days') | int %}

{%- set partitions = airflow_audit_partitioned('airflow_audit_dag_partitions') -%}
{#- Under a DuckDB memory limit the tasks are figured in buckets, one after the other, each by its own CTEs
    (each read once, so DuckDB does not hold one in memory for the others): exact percentiles hold every
    value of a task outside the limit (airflow_audit_percentile_buckets). One bucket otherwise. -#}
{%- set buckets = airflow_audit_percentile_buckets(ref('fct_task_attempts')) -%}
{%- set limited = airflow_audit_duckdb_memory_limit() -%}
-- sqlfluff:indentation:template_blocks_indent:False
with
{% for bucket in range(buckets) -%}
{%- set b = '' if buckets == 1 else '_' ~ bucket %}
{%- set in_scope = airflow_audit_in_partitions(partitions)
    ~ airflow_audit_and_in_bucket(['dag_id', 'task_id'], bucket, buckets) %}

attempts{{ b }} as (

    select
        dag_id,
        task_id,
        attempt_number,
        is_failed,
        is_last_attempt,
        state,
        started_at,
        ended_at,
        duration_s

    from {{ ref('fct_task_attempts') }}
    where {{ in_scope }}

),

-- each task's latest success beside its attempts: read from the table again and joined, without a memory
-- limit (at 10M task instances, one thread, 3.5 s and 0.52 GB of RSS, against 5.7 s and 1.48 GB by a window
-- over the attempts); under one, by that window (the build after 1% changed at 10M peaked at 1.29 and 1.34 GB
-- so, at 1.54 to 1.66 GB joined). Joined to their own CTE, DuckDB held it whole, every bucket's until the end
{%- if not limited %}
latest_success{{ b }} as (

    select
        dag_id,
        task_id,
        max(started_at) as latest_success_at

    from {{ ref('fct_task_attempts') }}
    where state = 'success' and {{ in_scope }}
    group by dag_id, task_id

),
{%- endif %}

with_latest{{ b }} as (

    {%- if limited %}

    select
        *,
        max(case when state = 'success' then started_at end) over (
            partition by dag_id, task_id
        ) as latest_success_at

    from attempts{{ b }}
    {%- else %}

    select
        task_attempts.*,
        latest.latest_success_at

    from attempts{{ b }} as task_attempts
    left join latest_success{{ b }} as latest
        on task_attempts.dag_id = latest.dag_id and task_attempts.task_id = latest.task_id
    {%- endif %}

),

windowed{{ b }} as (

    select
        *,
        state = 'success'
        and started_at > {{ dbt.dateadd('day', -window_days, 'latest_success_at') }}
            as is_recent_success,
        state = 'success'
        and started_at <= {{ dbt.dateadd('day', -window_days, 'latest_success_at') }}
        and started_at > {{ dbt.dateadd('day', -2 * window_days, 'latest_success_at') }}
            as is_previous_success

    from with_latest{{ b }}

),

figures{{ b }} as (

    select
        dag_id,
        task_id,
        count(*) as attempt_count,
        sum(case when is_failed then 1 else 0 end) as failed_attempt_count,
        sum(case when attempt_number > 1 then 1 else 0 end) as retry_attempt_count,
        sum(case when is_failed and is_last_attempt then 1 else 0 end) as final_failure_count,
        max(case when is_failed then coalesce(ended_at, started_at) end) as latest_failure_at,
        {{ airflow_audit_percentile("case when state = 'success' then duration_s end", 0.5) }}
            as p50_duration_s,
        {{ airflow_audit_percentile("case when state = 'success' then duration_s end", 0.95) }}
            as p95_duration_s,
        {{ airflow_audit_percentile('case when is_recent_success then duration_s end', 0.5) }}
            as recent_p50_duration_s,
        {{ airflow_audit_percentile('case when is_previous_success then duration_s end', 0.5) }}
            as previous_p50_duration_s

    from windowed{{ b }}
    group by dag_id, task_id

){{ ',' if buckets > 1 }}
{%- endfor %}
{%- if buckets > 1 %}

figures as (
    {%- for bucket in range(buckets) %}

    select * from figures_{{ bucket }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

)
{%- endif %}

select
    {{ airflow_audit_surrogate_key(['dag_id', 'task_id']) }} as dag_task_key,
    dag_id,
    task_id,
    attempt_count,
    failed_attempt_count,
    retry_attempt_count,
    final_failure_count,
    latest_failure_at,
    round(cast(p50_duration_s as {{ airflow_audit_type('seconds') }}), 3) as p50_duration_s,
    round(cast(p95_duration_s as {{ airflow_audit_type('seconds') }}), 3) as p95_duration_s,
    round(cast(recent_p50_duration_s as {{ airflow_audit_type('seconds') }}), 3) as recent_p50_duration_s,
    round(cast(previous_p50_duration_s as {{ airflow_audit_type('seconds') }}), 3) as previous_p50_duration_s,
    case
        when previous_p50_duration_s > 0
            then round(
                    cast(recent_p50_duration_s / previous_p50_duration_s - 1 as {{ dbt.type_numeric() }}), 4
                )
    end as duration_growth,
    {{ airflow_audit_built_at() }} as airflow_audit_built_at

from figures
