{#-
    Reading the history snapshots (snapshots/) as changes.

    A snapshot holds one row per version of a key: dbt_valid_from is the build after the sync that saw
    the version, dbt_valid_to the build that saw the next one, and a version with dbt_is_deleted =
    'True' says the key was gone (`hard_deletes: new_record`). A change is a version compared with the
    one before it. The versions recorded by a snapshot's first build are the baseline, the state when
    history began, not changes.
-#}


{#- True when a and b differ, a null differing from a value (portable: Redshift lacks IS DISTINCT FROM). -#}
{% macro airflow_audit_differs(a, b) -%}
    (({{ a }}) <> ({{ b }}) or (({{ a }}) is null) <> (({{ b }}) is null))
{%- endmacro %}


{#- The snapshot's versions, each with the previous version's `columns` (previous_<column>), whether the
    previous one was a deletion, when it began, and when the snapshot's first build was. -#}
{% macro airflow_audit_snapshot_versions(snapshot, key, columns) -%}
    {%- set window = 'over (partition by ' ~ key ~ ' order by dbt_valid_from)' -%}
    select
        versions.*,
        {% for column in columns -%}
        lag({{ column }}) {{ window }} as previous_{{ column }},
        {% endfor -%}
        lag(dbt_is_deleted) {{ window }} as previous_dbt_is_deleted,
        lag(dbt_valid_from) {{ window }} as previous_valid_from,
        row_number() {{ window }} as version_index,
        min(dbt_valid_from) over () as first_snapshot_at

    from {{ snapshot }} as versions
{%- endmacro %}


{#- What a version is, compared with the one before: `deleted_kind` when the key is gone, `created_kind`
    when it is new (or back after a deletion), 'changed' otherwise; null for the baseline. -#}
{% macro airflow_audit_change_type(created_kind='created', deleted_kind='deleted') -%}
    case
        when dbt_is_deleted = 'True' then '{{ deleted_kind }}'
        when version_index = 1 and dbt_valid_from = first_snapshot_at then null
        when version_index = 1 or previous_dbt_is_deleted = 'True' then '{{ created_kind }}'
        else 'changed'
    end
{%- endmacro %}


{#- Does a masked log row's extra name `key_column`'s value? The CLI logs its command line as a Python
    list ('name'), the web UI and API their fields as JSON ("name"). -#}
{% macro airflow_audit_log_names(extra, key_column) -%}
    (
        {{ extra }} like {{ dbt.concat(["'%\"'", key_column, "'\"%'"]) }}
        {#- a quote inside a string literal: doubled on most warehouses, backslashed on BigQuery -#}
        or {{ extra }} like {{ dbt.concat([
            "'" ~ dbt.escape_single_quotes("%'") ~ "'", key_column, "'" ~ dbt.escape_single_quotes("'%") ~ "'"
        ]) }}
    )
{%- endmacro %}


{#- The labels (space-separated) of `fields` ({label: [columns]}) whose columns differ from the previous
    version's, for a 'changed' version; '' otherwise. alias: the relation the columns are read from
    (none: unqualified). -#}
{% macro airflow_audit_changed_fields(fields, alias='changes') -%}
    {%- set prefix = alias ~ '.' if alias else '' -%}
    {%- set pieces = [] -%}
    {%- for label, columns in fields.items() -%}
        {%- set tests = [] -%}
        {%- for column in columns -%}
            {%- do tests.append(airflow_audit_differs(prefix ~ column, prefix ~ 'previous_' ~ column)) -%}
        {%- endfor -%}
        {%- do pieces.append(
            "case when " ~ prefix ~ "change_type = 'changed' and (" ~ tests | join(' or ')
            ~ ") then '" ~ label ~ " ' else '' end") -%}
    {%- endfor -%}
    trim({{ dbt.concat(pieces) }})
{%- endmacro %}


{#- Who made each change, where Airflow's log says so: per version (dbt_scd_id) of `changes`, the owner
    and event of the latest log row whose event matches `event_like` (lower case) and whose extra names
    the version's `key_column`, logged after the previous version (or the first build) and up to this
    one. recency = 1 is the one to take. -#}
{% macro airflow_audit_change_actors(changes, event_like, key_column) -%}
    select
        {{ changes }}.dbt_scd_id,
        logged.owner,
        logged.event,
        row_number() over (
            partition by {{ changes }}.dbt_scd_id order by logged.logged_at desc
        ) as recency

    from {{ changes }}
    inner join {{ ref('stg_airflow__logs') }} as logged
        on
            logged.logged_at <= {{ changes }}.dbt_valid_from
            and logged.logged_at
            > coalesce({{ changes }}.previous_valid_from, {{ changes }}.first_snapshot_at)
            and (
                {%- for pattern in event_like %}
                {{ 'or ' if not loop.first }}lower(logged.event) like '{{ pattern }}'
                {%- endfor %}
            )
            and {{ airflow_audit_log_names('logged.extra', changes ~ '.' ~ key_column) }}
    where {{ changes }}.change_type is not null
{%- endmacro %}


{#- dbt-duckdb dates snapshot versions in the session's local time; the project keeps every timestamp in UTC
    without a zone (the other adapters' snapshot time already is). -#}
{% macro duckdb__snapshot_get_time() -%}
    timezone('UTC', current_timestamp)
{%- endmacro %}


{#- A number of seconds as people read it in a message: `45 s`, `12 min`, `3.5 h`, `12 days`. -#}
{% macro airflow_audit_duration_text(seconds) -%}
    case
        when {{ seconds }} is null then '?'
        when {{ seconds }} < 120 then {{ dbt.concat([dbt.safe_cast('round(' ~ seconds ~ ')', dbt.type_string()), "' s'"]) }}
        when {{ seconds }} < 7200
            then {{ dbt.concat([dbt.safe_cast('round(' ~ seconds ~ ' / 60)', dbt.type_string()), "' min'"]) }}
        when {{ seconds }} < 172800
            then {{ dbt.concat([dbt.safe_cast('round(' ~ seconds ~ ' / 3600, 1)', dbt.type_string()), "' h'"]) }}
        else {{ dbt.concat([dbt.safe_cast('round(' ~ seconds ~ ' / 86400)', dbt.type_string()), "' days'"]) }}
    end
{%- endmacro %}
