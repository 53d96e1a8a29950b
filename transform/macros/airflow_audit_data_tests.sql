{#-
    dbt's generic data tests, where the project's warehouses need them written otherwise. dbt dispatches
    its own tests (namespace `dbt`) to the root project first, so a `<adapter>__test_<name>` here replaces
    dbt's for that warehouse only.
-#}


{#- `unique` on DuckDB, in two passes: the values whose 64-bit hash occurs twice, then, among those, the
    values that occur twice. dbt's one pass groups every value itself; for the keys the project hashes
    (32 characters each) DuckDB's hash table then holds every key string, which at 10M task instances
    did not fit a 384MB memory limit on 2 threads (AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT, README "How fast")
    and took 1.1 GB unlimited. Grouping the hashes takes half that in the same time; the second pass
    reads the rows again but groups only the few whose hash collides. It returns what dbt's returns: each
    duplicated value with its count. -#}
{% macro duckdb__test_unique(model, column_name) -%}
with colliding_hashes as (

    select hash({{ column_name }}) as value_hash
    from {{ model }}
    where {{ column_name }} is not null
    group by 1
    having count(*) > 1

)

select
    {{ column_name }} as unique_field,
    count(*) as n_records

from {{ model }}
where {{ column_name }} is not null
    and hash({{ column_name }}) in (select value_hash from colliding_hashes)
group by {{ column_name }}
having count(*) > 1
{%- endmacro %}


{#- `not_null_columns`: the columns of a model that are never null, as one test on the model. dbt runs
    each test as a node of its own, and its cost per node, not the query, is what an hourly build's
    tests cost: at 1M task instances an hourly build ran 82 `not_null` tests, a quarter of its nodes'
    time. One scan counts each column's nulls; it returns a row per column holding any (its name and
    how many), so a failure names the columns. -#}
{% test not_null_columns(model, column_names) -%}
with counted as (

    select
    {%- for column in column_names %}
        sum(case when {{ column }} is null then 1 else 0 end)
            as nulls_{{ loop.index }}{{ ',' if not loop.last }}
    {%- endfor %}
    from {{ model }}

)

{% for column in column_names -%}
select '{{ column }}' as column_name, nulls_{{ loop.index }} as null_rows
from counted
where nulls_{{ loop.index }} > 0
{% if not loop.last %}union all
{% endif -%}
{%- endfor %}
{%- endtest %}
