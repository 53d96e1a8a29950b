"""Snowflake tables an Airflow upgrade re-keyed or retyped, followed in place (the DuckDB and
Redshift loaders' rules).

Airflow 3 gave `task_instance` a uuid `id` key (its 2.x key, DAG, task, run and map index, stays
unique) and `task_instance_history` a `task_instance_id` key (its 2.x integer `id` is gone).  The
extractor names, in each such stream's SCHEMA, the natural key both releases keep unique
(NATURAL_KEY_KEYWORD).  When the warehouse table holds live rows stored under the old key (a new key
column null), the first load after the upgrade:

* releases what would refuse the re-keyed rows: a NOT NULL column the source no longer sends (the
  old `id`) becomes nullable, after the primary key it belongs to is undeclared (Snowflake enforces
  NOT NULL, never a primary key);
* replaces, in each batch's transaction, the live rows stored under the old key by the rows of the
  batch with the same natural key, so no row is held twice and none is counted deleted at the
  source in archive mode (the full read's end marks only what the source really lost).

A column retyped to text (3.0: `dag_run_note.user_id`), which Snowflake cannot change in place,
moves to a new column of the new type, every value kept, the old column kept beside it
(move_to_text).
"""

from __future__ import annotations

import sys
from typing import Any

from airflow_audit_core.contract import NATURAL_KEY_KEYWORD

PROG = "target-airflow-audit-snowflake"


def natural_key(schema: dict) -> list[str]:
    return list(schema.get(NATURAL_KEY_KEYWORD) or [])


def prepare(sink: Any) -> list[str]:
    """Before a re-keyed stream's first batch: the columns in the way released; the natural key
    when live rows are stored under the old key (each batch then replaces them), else []."""
    import sqlalchemy as sa

    natural = natural_key(sink.schema)
    keys = list(sink.key_properties or [])
    if not natural or not keys or natural == keys:
        return []
    connector, table = sink.connector, sink.full_table_name
    quote = connector.quote
    sent = {name.upper() for name in sink.schema.get("properties") or {}}
    with connector._connect() as conn:
        in_the_way = [
            name
            for (name,) in conn.execute(
                sa.text(
                    "select column_name from information_schema.columns where table_schema = "
                    ":schema and table_name = :table and is_nullable = 'NO'"
                ),
                {"schema": sink.schema_name, "table": sink.table_name},
            )
            if name.upper() not in sent and not name.upper().startswith("_SDC_")
        ]
    if in_the_way:
        with connector._connect() as conn:
            declared = [
                row._mapping["column_name"]
                for row in conn.execute(sa.text(f"show primary keys in table {table}"))
            ]
            if any(name in declared for name in in_the_way):
                conn.execute(sa.text(f"alter table {table} drop primary key"))
            for name in in_the_way:
                conn.execute(
                    sa.text(f"alter table {table} alter column {quote(name)} drop not null")
                )
        say(
            f"{sink.table_name.lower()}: the source's primary key is {', '.join(keys)} now (an "
            f"Airflow upgrade?): {', '.join(n.lower() for n in in_the_way)}, gone at the source, "
            "may be null from now on"
            + (" and the old primary key is no longer declared" if declared else "")
            + "; every row kept."
        )
    new_key_missing = " or ".join(f"{quote(connector.format_identifier(k))} is null" for k in keys)
    with connector._connect() as conn:
        legacy = conn.execute(
            sa.text(
                f"select 1 from {table} where _sdc_deleted_at is null and ({new_key_missing}) "
                "limit 1"
            )
        ).first()
    if legacy is None:
        return []
    say(
        f"{sink.table_name.lower()}: rows stored under the key of an earlier Airflow are replaced "
        f"by {', '.join(natural)} as the re-keyed rows arrive."
    )
    return natural


def replace_legacy_rows_sql(
    connector: Any, table: Any, schema: dict, keys: list[str], natural: list[str], stage: str
) -> str:
    """Delete the live rows stored under the old key whose natural key is in the staged batch."""
    selections = {
        column["clean_alias"]: column for column in connector._get_column_selections(schema)
    }
    staged = [selections[connector.format_identifier(k, safe=True)] for k in natural]
    select = ", ".join(
        f"$1:{c['clean_property_name']}::{c['sql_type']} as {c['clean_alias']}" for c in staged
    )
    match = " and ".join(f"d.{c['clean_alias']} = s.{c['clean_alias']}" for c in staged)
    new_key_missing = " or ".join(
        f"d.{connector.format_identifier(k, safe=True)} is null" for k in keys
    )
    return (
        f"delete from {table} d using (select distinct {select} from {stage}) s "
        f"where d._sdc_deleted_at is null and ({new_key_missing}) and {match}"
    )


def move_to_text(connector: Any, table: Any, column: str, current: Any, text_type: Any) -> None:
    """A column the source retyped to text (3.0: `dag_run_note.user_id` integer to varchar), which
    Snowflake cannot change in place: every value, archived rows included, is copied to a new text
    column, the old column is renamed `<column>__before_upgrade` (kept, nothing dropped) and the
    new one takes its name.  Snowflake commits each DDL statement on its own: a run cut off between
    the two renames leaves the copied values in `<column>__airflow_audit_text`."""
    import sqlalchemy as sa

    name = connector.format_identifier(column, safe=True)
    moved = connector.format_identifier(f"{column}__airflow_audit_text", safe=True)
    kept = connector.format_identifier(f"{column}__before_upgrade", safe=True)
    with connector._connect() as conn:
        conn.execute(sa.text(f"alter table {table} add column if not exists {moved} {text_type}"))
        conn.execute(sa.text(f"update {table} set {moved} = cast({name} as {text_type})"))
        conn.execute(sa.text(f"alter table {table} rename column {name} to {kept}"))
        conn.execute(sa.text(f"alter table {table} rename column {moved} to {name}"))
    say(
        f"{str(table).rsplit('.', 1)[-1].strip(chr(34)).lower()}.{column}: the source's type is "
        f"{text_type} now, not {current} (an Airflow upgrade?): every value moved to a column of "
        f"the new type; the old column is kept as {column}__before_upgrade."
    )


def say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)
