{#-
    The duration anomaly marts' history (fct_dag_run_duration_anomalies, fct_task_attempt_duration_anomalies):
    for every row of a series (a DAG's runs, a task's attempts), the median and the median absolute
    deviation (MAD) of the durations of the last window_rows successful rows started before it.

    airflow_audit_duration_history(numbered, series, tiebreak, window_rows, partial) emits the CTEs
    that end in one named `history`: every column of `numbered` (a CTE numbered by prior_successes and
    success_index, with is_success, is_missing, started_at and duration_s) and history_count,
    history_median_s, history_mad_s and history_started_at (the first member's start).

    DuckDB: one framed window over the rows themselves, its aggregates taking the successes alone: the
    frame of a row with p prior successes is the rows with p - window_rows to p - 1 prior successes,
    whose successes are exactly its last window_rows (a success with q prior successes is the
    (q + 1)-th). Its windowed median and MAD are incremental over the frame, on doubles (quantiles of
    DECIMAL values are several times slower), returned as numeric. On 10M task instances (9M
    attempts) under a 384MB memory limit: 28 s against 55 s for windows over the successes joined back
    to the rows, 705 MB against 848 MB; without a limit 2.3 GB against 7.4 GB.

    A partial build on DuckDB computes only the rows to compute (is_missing): each one's window is gathered
    by its members' indexes and aggregated (median, MAD), so the work grows with those rows, not with the
    rows read around them (at 10M task instances with 1% of them changed across the history, the framed
    window over the rows read cost more than a full build).

    The other warehouses have no framed median: the windows of the successes some row needs
    (next_history_end) are gathered by equality on (partition, index - k) for the offsets
    k < window_rows (airflow_audit_trailing_median_mad), so the work grows with members x
    window_rows, never with the square of a partition; the median, then the MAD around it; and joined
    back to the rows.
-#}
{% macro airflow_audit_duration_history(numbered, series, tiebreak, window_rows, partial) -%}
    {%- if window_rows is not number or window_rows < 1 -%}
        {{- exceptions.raise_compiler_error(
            "airflow_audit_duration_history: window_rows must be 1 or more, got " ~ window_rows ~ ".") -}}
    {%- endif -%}
    {{- return(adapter.dispatch('airflow_audit_duration_history', 'airflow_audit')(
        numbered, series, tiebreak, window_rows, partial)) -}}
{%- endmacro %}


{% macro duckdb__airflow_audit_duration_history(numbered, series, tiebreak, window_rows, partial) -%}
{%- if partial %}
-- a partial build: the windows of the rows to compute only, each gathered by its members' indexes (the
-- successes numbered prior_successes - k, k < window_rows), so the work grows with those rows, not with
-- the series read around them
history_windows as (

    select
        {%- for column in series %}
        anchors.{{ column }},
        {%- endfor %}
        anchors.prior_successes,
        count(*) as history_count,
        cast(quantile_cont(cast(members.duration_s as double), 0.5) as {{ airflow_audit_type('seconds') }}) as history_median_s,
        cast(mad(cast(members.duration_s as double)) as {{ airflow_audit_type('seconds') }}) as history_mad_s,
        min(members.started_at) as history_started_at

    from (
        -- each window's members by index, computed before the join so that it joins on them
        select rows_to_compute.*, rows_to_compute.prior_successes - offsets.offset_number as member_index
        from (
            select distinct {{ series | join(', ') }}, prior_successes
            from {{ numbered }}
            where is_missing
        ) as rows_to_compute
        cross join range({{ window_rows }}) as offsets (offset_number)
    ) as anchors
    inner join {{ numbered }} as members
        on
            {%- for column in series %}
            members.{{ column }} = anchors.{{ column }} and
            {%- endfor %}
            members.success_index = anchors.member_index
    where members.is_success = 1
    group by
        {%- for column in series %}
        anchors.{{ column }},
        {%- endfor %}
        anchors.prior_successes

),

history as (

    select
        {{ numbered }}.*,
        coalesce(history_windows.history_count, 0) as history_count,
        history_windows.history_median_s,
        history_windows.history_mad_s,
        history_windows.history_started_at

    from {{ numbered }}
    left join history_windows
        on
            {%- for column in series %}
            {{ numbered }}.{{ column }} = history_windows.{{ column }} and
            {%- endfor %}
            {{ numbered }}.prior_successes = history_windows.prior_successes
    where {{ numbered }}.is_missing

),
{%- else %}
history as (

    select
        *,
        count(case when is_success = 1 then 1 end) over history_window as history_count,
        cast(
            quantile_cont(case when is_success = 1 then cast(duration_s as double) end, 0.5) over history_window
            as {{ airflow_audit_type('seconds') }}
        ) as history_median_s,
        cast(
            mad(case when is_success = 1 then cast(duration_s as double) end) over history_window
            as {{ airflow_audit_type('seconds') }}
        ) as history_mad_s,
        min(case when is_success = 1 then started_at end) over history_window as history_started_at

    from {{ numbered }}
    window history_window as (
        partition by {{ series | join(', ') }}
        order by prior_successes
        range between {{ window_rows }} preceding and 1 preceding
    )

),
{%- endif %}
{%- endmacro %}


{% macro default__airflow_audit_duration_history(numbered, series, tiebreak, window_rows, partial) -%}
-- where the history of the next row to compute after each one ends: a success is in a window that row
-- needs when it is within window_rows of that end (in a full build, every success is)
history_ends as (

    select
        *,
        {{ airflow_audit_next_history_end(series, tiebreak, partial) }} as next_history_end

    from {{ numbered }}

),

successes as (

    select
        {%- for column in series %}
        {{ column }},
        {%- endfor %}
        success_index,
        started_at,
        duration_s

    from history_ends
    where is_success = 1 and next_history_end < success_index + {{ window_rows }}

),

-- each needed success's trailing window of its series' last window_rows successes (itself included): a
-- row's history is the window of its prior_successes-th
trailing_windows as (

    {{ airflow_audit_trailing_median_mad(
        'successes', series, 'success_index', 'duration_s', window_rows, gapped=partial
    ) }}

),

history as (

    select
        {{ numbered }}.*,
        coalesce(trailing_windows.window_count, 0) as history_count,
        trailing_windows.window_median as history_median_s,
        trailing_windows.window_mad as history_mad_s,
        -- the window's first member: the history_count-th success before the row
        first_members.started_at as history_started_at

    from {{ numbered }}
    left join trailing_windows
        on
            {%- for column in series %}
            {{ numbered }}.{{ column }} = trailing_windows.{{ column }} and
            {%- endfor %}
            {{ numbered }}.prior_successes = trailing_windows.success_index
    left join successes as first_members
        on
            {%- for column in series %}
            trailing_windows.{{ column }} = first_members.{{ column }} and
            {%- endfor %}
            trailing_windows.success_index - trailing_windows.window_count + 1 = first_members.success_index

),
{%- endmacro %}


{#- Median and MAD of every trailing window of a numbered series, on the warehouses without a framed
    median (default__airflow_audit_duration_history). `series` names a CTE with one row per member (a
    successful run or attempt): the `partition_by` columns, `index_column` (1, 2, ... within a
    partition, in time order) and `value_column`. The result has one row per member: the partition
    columns, `index_column`, and over the window of the last `window_rows` members up to and including
    it: `window_count` (at most window_rows), `window_median` and `window_mad` (the median of the
    absolute deviations from that median). `gapped`: the series holds only some members (an
    incremental build computes the windows it needs); a window is the members with an index within
    window_rows of the current one, whole wherever every member of that span is in the series. -#}
{% macro airflow_audit_trailing_median_mad(
    series, partition_by, index_column, value_column, window_rows, gapped=false
) -%}
    {#- the members of each window: (partition, index) -> the values at index - k, k < window_rows (by
        index, so a gapped series needs nothing else); the offsets numbered from the series itself, so
        none is longer than the series -#}
    {%- set members -%}
        select
            {%- for column in partition_by %}
            anchors.{{ column }},
            {%- endfor %}
            anchors.{{ index_column }},
            members.{{ value_column }} as member_value
        from {{ series }} as anchors
        cross join (
            select offset_number
            from (
                select row_number() over (order by {{ index_column }}) - 1 as offset_number
                from {{ series }}
            ) as numbers
            where offset_number < {{ window_rows }}
        ) as offsets
        inner join {{ series }} as members
            on
            {%- for column in partition_by %}
                members.{{ column }} = anchors.{{ column }} and
            {%- endfor %}
                members.{{ index_column }} = anchors.{{ index_column }} - offsets.offset_number
    {%- endset -%}
    {%- set keys -%}
        {%- for column in partition_by %}{{ column }}, {% endfor %}{{ index_column }}
    {%- endset -%}
    select
        {%- for column in partition_by %}
        medians.{{ column }},
        {%- endfor %}
        medians.{{ index_column }},
        max(medians.window_count) as window_count,
        max(medians.window_median) as window_median,
        {{ airflow_audit_percentile('abs(members.member_value - medians.window_median)', 0.5) }} as window_mad

    from (
        select
            {{ keys }},
            count(*) as window_count,
            {{ airflow_audit_percentile('member_value', 0.5) }} as window_median
        from ({{ members }}) as members
        group by {{ keys }}
    ) as medians
    inner join ({{ members }}) as members
        on
        {%- for column in partition_by %}
            members.{{ column }} = medians.{{ column }} and
        {%- endfor %}
            members.{{ index_column }} = medians.{{ index_column }}
    group by
        {%- for column in partition_by %}
        medians.{{ column }},
        {%- endfor %}
        medians.{{ index_column }}
{%- endmacro %}


{#- The duration anomaly marts' verdict on a row with `deviation_s` (its duration minus its history's
    median), `history_mad_s` and the history's size in `count_column`: modified_z_score (0.6745 x
    deviation / MAD, Iglewicz and Hoaglin; null with MAD 0), is_anomaly (at least var
    airflow_audit_anomaly_min_history_runs in the history, further from the median than var
    airflow_audit_anomaly_floor_s seconds and, with a MAD above 0, than var airflow_audit_anomaly_threshold
    modified z-scores) and direction (slower / faster; null without enough history). One rule for both
    marts. -#}
{% macro airflow_audit_anomaly_verdict(count_column) -%}
    {%- set min_history = var('airflow_audit_anomaly_min_history_runs') | int -%}
    {%- set threshold = var('airflow_audit_anomaly_threshold') | float -%}
    {%- set floor_s = var('airflow_audit_anomaly_floor_s') | float -%}
    case
        when history_mad_s > 0 then 0.6745 * deviation_s / history_mad_s
    end as modified_z_score,
    {{ count_column }} >= {{ min_history }}
    and abs(deviation_s) > {{ floor_s }}
    and (history_mad_s = 0 or 0.6745 * abs(deviation_s) / history_mad_s > {{ threshold }})
        as is_anomaly,
    case
        when {{ count_column }} < {{ min_history }} then null
        when deviation_s > 0 then 'slower'
        else 'faster'
    end as direction
{%- endmacro %}
