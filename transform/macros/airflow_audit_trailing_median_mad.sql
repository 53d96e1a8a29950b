{#-
    Median and median absolute deviation (MAD) of every trailing window of a numbered series: the
    duration anomaly marts' history (fct_dag_run_duration_anomalies, fct_task_attempt_duration_anomalies).

    `series` names a CTE with one row per member (a successful run or attempt): the `partition_by`
    columns, `index_column` (1, 2, ... within a partition, in time order) and `value_column`. The
    result has one row per member: the partition columns, `index_column`, and over the window of the
    last `window_rows` members up to and including it: `window_count` (at most window_rows),
    `window_median` and `window_mad` (the median of the absolute deviations from that median). A run
    whose n previous members are its history joins the row with index n.

    `gapped`: the series holds only some members (an incremental build computes the windows it needs): a
    window is then the members with an index within window_rows of the current one, and it is whole
    wherever every member of that span is in the series.

    DuckDB: a framed window (its windowed median and MAD are incremental over the frame), on doubles
    (quantiles of DECIMAL values are several times slower), returned as numeric.
    The other warehouses have no framed median: each window's members are found by equality on
    (partition, index - k) for the offsets k < window_rows, so the work grows with members x
    window_rows, never with the square of a partition; the median, then the MAD around it.
-#}
{% macro airflow_audit_trailing_median_mad(
    series, partition_by, index_column, value_column, window_rows, gapped=false
) -%}
    {%- if window_rows is not number or window_rows < 1 -%}
        {{- exceptions.raise_compiler_error(
            "airflow_audit_trailing_median_mad: window_rows must be 1 or more, got " ~ window_rows ~ ".") -}}
    {%- endif -%}
    {{- return(adapter.dispatch('airflow_audit_trailing_median_mad', 'airflow_audit')(
        series, partition_by, index_column, value_column, window_rows, gapped)) -}}
{%- endmacro %}


{% macro duckdb__airflow_audit_trailing_median_mad(
    series, partition_by, index_column, value_column, window_rows, gapped
) -%}
    select
        {%- for column in partition_by %}
        {{ column }},
        {%- endfor %}
        {{ index_column }},
        count(*) over history_window as window_count,
        cast(quantile_cont(cast({{ value_column }} as double), 0.5) over history_window as {{ dbt.type_numeric() }})
            as window_median,
        cast(mad(cast({{ value_column }} as double)) over history_window as {{ dbt.type_numeric() }}) as window_mad

    from {{ series }}
    window history_window as (
        partition by {{ partition_by | join(', ') }}
        -- by position where the series is whole (faster), by index where it has gaps
        order by {{ index_column }}
        {{ 'range' if gapped else 'rows' }} between {{ window_rows - 1 }} preceding and current row
    )
{%- endmacro %}


{% macro default__airflow_audit_trailing_median_mad(
    series, partition_by, index_column, value_column, window_rows, gapped
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
