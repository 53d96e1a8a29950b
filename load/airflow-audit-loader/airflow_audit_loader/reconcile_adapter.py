"""The warehouse side of reconciliation: the contract each warehouse folder's `reconcile.py` fills.

Reconciliation (utilities/airflow-audit-reconcile) compares primary keys, source against
warehouse, bucket by bucket: a bucket is the first BUCKET_CHARS hex digits of the md5 of the key
rendered as text.  A bucket is only comparable when both sides render every key byte for byte
the same, so each adapter says how a key becomes text on its warehouse and on the PostgreSQL
source (`source_bucket`, with `source_session` run first in the source's transaction).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from airflow_audit_core.contract import EXTRACTS_STREAM, SYNC_AUDIT
from airflow_audit_core.quoting import quote

BUCKET_CHARS = 3  # 16**3 = 4096 buckets
SEPARATOR = "chr(31)"
# The columns of _sync_audit, in order (each adapter types them in its SQL).
SYNC_AUDIT_COLUMNS = (
    "table_name",
    "mode",
    "source_rows",
    "warehouse_rows",
    "deleted_at_source",
    "arrived_after_extract",
    "missing_in_warehouse",
    "duplicated_in_warehouse",
    "buckets_compared",
    "started_at",
    "ended_at",
    "outcome",
    # what the extractor did: `incremental`, `full read: <why>`, or `skipped: <why>`
    "extraction",
    # the snapshot of the sync this row checked (the extracts table's snapshot_xmin)
    "snapshot_xmin",
    # how: `keys` (bucket by bucket) or `counts` (the sync read nothing; see compare.py)
    "comparison",
    # the latest `_sdc_batched_at` the table held when checked, where the loader stamps each write
    # after it (DuckDB; null elsewhere): the next check counts the keys of the rows written after it
    "written_through",
)
EXTRACTION_COLUMN = "extraction"
# Columns later releases added to _sync_audit, with their type: (name, text, bigint or timestamp).
ADDED_AUDIT_COLUMNS = (
    ("extraction", "text"),
    ("snapshot_xmin", "bigint"),
    ("comparison", "text"),
    ("written_through", "timestamp"),
)


def added_column_type(
    kind: str, text: str, bigint: str = "bigint", timestamp: str = "timestamptz"
) -> str:
    """An ADDED_AUDIT_COLUMNS kind -> the warehouse's type for it."""
    return {"text": text, "bigint": bigint, "timestamp": timestamp}[kind]


class Extract(NamedTuple):
    """One row of the extracts table: what the extractor did for a table in the last sync.
    The figures are None in rows an earlier extractor wrote (those columns are newer)."""

    table: str
    snapshot_xmin: int
    extraction: str | None = None
    records_sent: int | None = None
    source_rows: int | None = None
    previous_bookmark: int | None = None


def extract_rows(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Extract]:
    """`select *` of the extracts table -> its rows, by table name."""
    index = {str(n).lower(): i for i, n in enumerate(names)}

    def value(row: Sequence[Any], name: str) -> Any:
        return row[index[name]] if name in index else None

    def number(row: Sequence[Any], name: str) -> int | None:
        found = value(row, name)
        return None if found is None else int(found)

    out = [
        Extract(
            table=str(value(row, "table_name")),
            snapshot_xmin=int(value(row, "snapshot_xmin")),
            extraction=value(row, EXTRACTION_COLUMN),
            records_sent=number(row, "records_sent"),
            source_rows=number(row, "source_rows"),
            previous_bookmark=number(row, "previous_bookmark"),
        )
        for row in rows
    ]
    return sorted(out)


class LastCheck(NamedTuple):
    """A table's latest _sync_audit row (outcome, the snapshot it checked, when it ended, the
    latest `_sdc_batched_at` then, where recorded) and when its keys were last compared with an
    `ok` outcome (None: never)."""

    outcome: str
    snapshot_xmin: int | None
    keys_checked_at: dt.datetime | None
    checked_at: dt.datetime | None = None
    written_through: dt.datetime | None = None


def last_checks_sql(audit_table: str, column: Any = quote) -> str:
    """Per table: the latest _sync_audit rows (more than one only if they ended at the same
    instant) with outcome, snapshot_xmin and written_through, and when its keys last compared ok."""
    name, ended, how = column("table_name"), column("ended_at"), column("comparison")
    return (
        f"select a.{name}, a.{column('outcome')}, a.{column('snapshot_xmin')}, k.keys_at, "
        f"a.{ended}, a.{column('written_through')} "
        f"from {audit_table} as a inner join (select {name}, max({ended}) as last_ended "
        f"from {audit_table} group by {name}) as l on a.{name} = l.{name} "
        f"and a.{ended} = l.last_ended left join (select {name}, max({ended}) as keys_at "
        f"from {audit_table} where {column('outcome')} = 'ok' and coalesce({how}, 'keys') = "
        f"'keys' group by {name}) as k on a.{name} = k.{name}"
    )


def last_checks(rows: Sequence[Sequence[Any]]) -> dict[str, LastCheck]:
    """last_checks_sql's rows -> table: LastCheck; a table whose latest rows disagree counts
    as not ok."""
    out: dict[str, LastCheck] = {}

    def utc(value: Any) -> Any:
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value

    for table, outcome, xmin, keys_at, ended, through in rows:
        keys_at, ended, through = utc(keys_at), utc(ended), utc(through)
        check = LastCheck(
            str(outcome), None if xmin is None else int(xmin), keys_at, ended, through
        )
        if str(table) in out and out[str(table)] != check:
            check = LastCheck("conflicting", None, keys_at, ended)
        out[str(table)] = check
    return out


@dataclass(frozen=True)
class KeyColumn:
    """A primary-key column and how its values must be rendered as text: `timestamp`, `date`,
    `boolean`, or `text` (integers, strings, uuids: their plain cast)."""

    name: str
    kind: str = "text"


def normalise(values: Sequence[Any]) -> tuple:
    """One Python form per key value, whichever driver read it (uuid, naive or aware time)."""
    out = []
    for value in values:
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, dt.datetime):
            value = (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).astimezone(
                dt.timezone.utc
            )
        out.append(value)
    return tuple(out)


# How a key column becomes text on the PostgreSQL source, in a session in UTC: to_char renders
# a time the same way on PostgreSQL, Redshift and Snowflake, microseconds always six digits (a
# cast would trim trailing zeros differently, and would follow each session's DateStyle).
UTC_SESSION = ("set local timezone to 'UTC'",)
SOURCE_TEXT = {
    "timestamp": "to_char({c}, 'YYYY-MM-DD HH24:MI:SS.US')",
    "date": "to_char({c}, 'YYYY-MM-DD')",
    "boolean": "case when {c} then 'true' else 'false' end",
    "text": "cast({c} as varchar)",
}


def joined_key_text(keys: Sequence[KeyColumn], texts: dict[str, str]) -> str:
    """The key as one text: its columns' texts joined by chr(31), with `||` (Redshift has no
    concat_ws)."""
    parts = [texts[key.kind].format(c=quote(key.name)) for key in keys]
    return f" || {SEPARATOR} || ".join(parts)


def utc_source_bucket(keys: Sequence[KeyColumn]) -> str:
    """The bucket on the source, keys rendered by SOURCE_TEXT (with UTC_SESSION)."""
    return f"substring(md5({joined_key_text(keys, SOURCE_TEXT)}), 1, {BUCKET_CHARS})"


class Warehouse:
    """The warehouse side of reconciliation: its SQL, its connection, its schema, and the
    source's side of the key text (`source_session` runs first in the source's transaction)."""

    source_session: tuple[str, ...] = ()

    def __init__(self, schema: str) -> None:
        self.schema = schema

    def table(self, table: str) -> str:
        return f"{quote(self.schema)}.{quote(table)}"

    def source_bucket(self, keys: Sequence[KeyColumn]) -> str:
        raise NotImplementedError

    def location(self) -> str:
        """Where the schema is, for messages: `of <file>`, `in <database> at <host>`."""
        raise NotImplementedError

    def has_extracts(self) -> bool:
        raise NotImplementedError

    def extracts(self) -> list[Extract]:
        """What the extractor did for every table it read, by table name."""
        raise NotImplementedError

    def query(self, sql: str) -> list[tuple]:
        """Rows of one query on the warehouse."""
        raise NotImplementedError

    def last_checks(self) -> dict[str, LastCheck]:
        """What _sync_audit says of each table's latest check (after ensure_audit_table)."""
        return last_checks(self.query(last_checks_sql(self.table(SYNC_AUDIT), self.column)))

    def bucket_counts(self, table: str, keys: Sequence[KeyColumn]) -> dict[str, int]:
        """bucket -> live rows (_sdc_deleted_at is null)."""
        raise NotImplementedError

    def keys_in(self, table: str, keys: Sequence[KeyColumn], buckets: list[str]) -> list[tuple]:
        """The live rows' keys in these buckets, one tuple per row (duplicates included)."""
        raise NotImplementedError

    def live_rows(self, table: str) -> int:
        raise NotImplementedError

    def distinct_live_keys(self, table: str, keys: Sequence[KeyColumn]) -> int | None:
        """How many distinct keys the live rows hold (a key with a null part not counted), or
        None when this warehouse does not say: the keys are then compared instead.  It may count
        fewer (keys counted by a hash, two sharing one), never more: compare.py trusts it only
        when it equals the live rows."""
        return None

    def written_through(self, table: str) -> dt.datetime | None:
        """The latest `_sdc_batched_at` of the table's rows, where this warehouse's loader stamps
        each write after the latest stamp its table holds (so every row written after a check is
        stamped after what this returned then, whatever the hosts' clocks); None elsewhere."""
        return None

    def twice_written_since(
        self, table: str, keys: Sequence[KeyColumn], since: dt.datetime
    ) -> int | None:
        """Among the keys of the live rows written since `since` (`_sdc_batched_at`), how many
        the live rows hold more than once, plus the written rows with a null key part; or None
        when this warehouse does not say, or the rows written are too many to count cheaply:
        compare.py then counts every distinct key (distinct_live_keys)."""
        return None

    def apply_deletes(
        self, table: str, keys: Sequence[KeyColumn], deleted: list[tuple], mode: str
    ) -> None:
        """In one transaction: delete these keys' rows (mirror) or mark them (archive)."""
        raise NotImplementedError

    def mark_table_deleted(self, table: str) -> int:
        """Set _sdc_deleted_at on every live row (the table is gone at the source); how many."""
        raise NotImplementedError

    def ensure_audit_table(self) -> None:
        """Create _sync_audit, or add the columns a _sync_audit of an earlier release lacks."""
        raise NotImplementedError

    def record(self, row: list[Any]) -> None:
        """Append one row to _sync_audit (SYNC_AUDIT_COLUMNS, in order)."""
        raise NotImplementedError

    def audit_insert(self, placeholders: Sequence[str]) -> str:
        """`insert into _sync_audit (<columns>) values (<placeholders>)`, columns named."""
        return (
            f"insert into {self.table(SYNC_AUDIT)} "
            f"({', '.join(self.column(c) for c in SYNC_AUDIT_COLUMNS)}) "
            f"values ({', '.join(placeholders)})"
        )

    def column(self, name: str) -> str:
        return quote(name)

    def close(self) -> None:
        raise NotImplementedError


def key_value_text(value: Any) -> str:
    """A key value (as `normalise` returns it) as SOURCE_TEXT renders it on the source."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class KeyTextWarehouse(Warehouse):
    """A warehouse reached through a DB-API-like `_run`, deleting by the key's text.

    Deletes and marks match `<key text> in (<page of texts>)`, the texts rendered in Python
    exactly as `key_text` renders them in SQL, so no temporary table is needed (Snowflake,
    BigQuery).  Subclasses give the SQL dialect: `key_texts`, `literal`, `table`, `now`.
    """

    source_session = UTC_SESSION
    page_keys = 1000
    text_type = "varchar"
    bigint_type = "bigint"
    timestamp_type = "timestamptz"
    extracts_table = EXTRACTS_STREAM
    columns_upper = False

    def _run(self, sql: str) -> list[tuple]:
        raise NotImplementedError

    def _script(self, statements: list[str]) -> None:
        """Run statements in one transaction."""
        raise NotImplementedError

    def column(self, name: str) -> str:
        return quote(name.upper() if self.columns_upper else name)

    def key_texts(self) -> dict[str, str]:
        raise NotImplementedError

    def literal(self, text: str) -> str:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def now(self) -> str:
        raise NotImplementedError

    def key_literal(self, key: Sequence[Any]) -> str:
        """A key's text as a SQL expression (literals joined by chr(31), no escapes needed)."""
        return f" || {SEPARATOR} || ".join(self.literal(key_value_text(v)) for v in key)

    def key_text(self, keys: Sequence[KeyColumn]) -> str:
        texts = self.key_texts()
        parts = [texts[k.kind].format(c=self.column(k.name)) for k in keys]
        return f" || {SEPARATOR} || ".join(parts)

    def bucket(self, keys: Sequence[KeyColumn]) -> str:
        raise NotImplementedError

    def source_bucket(self, keys: Sequence[KeyColumn]) -> str:
        return utc_source_bucket(keys)

    def live(self) -> str:
        return f"{self.column('_sdc_deleted_at')} is null"

    def _run_named(self, sql: str) -> tuple[list[str], list[tuple]]:
        """Column names and rows."""
        raise NotImplementedError

    def extracts(self) -> list[Extract]:
        return extract_rows(*self._run_named(f"select * from {self.table(self.extracts_table)}"))

    def query(self, sql: str) -> list[tuple]:
        return self._run(sql)

    def bucket_counts(self, table: str, keys: Sequence[KeyColumn]) -> dict[str, int]:
        rows = self._run(
            f"select {self.bucket(keys)}, count(*) from {self.table(table)} "
            f"where {self.live()} group by 1"
        )
        return {str(b): int(n) for b, n in rows}

    def keys_in(self, table: str, keys: Sequence[KeyColumn], buckets: list[str]) -> list[tuple]:
        cols = ", ".join(self.column(k.name) for k in keys)
        listed = ", ".join(self.literal(b) for b in buckets)
        return [
            tuple(row)
            for row in self._run(
                f"select {cols} from {self.table(table)} where {self.live()} "
                f"and {self.bucket(keys)} in ({listed})"
            )
        ]

    def live_rows(self, table: str) -> int:
        return int(self._run(f"select count(*) from {self.table(table)} where {self.live()}")[0][0])

    def distinct_live_keys(self, table: str, keys: Sequence[KeyColumn]) -> int | None:
        return int(
            self._run(
                f"select count(distinct {self.key_text(keys)}) from {self.table(table)} "
                f"where {self.live()}"
            )[0][0]
        )

    def delete_statements(
        self, table: str, keys: Sequence[KeyColumn], deleted: list[tuple], mode: str
    ) -> list[str]:
        statements = []
        for start in range(0, len(deleted), self.page_keys):
            page = deleted[start : start + self.page_keys]
            listed = ", ".join(self.key_literal(k) for k in page)
            where = f"{self.key_text(keys)} in ({listed})"
            if mode == "mirror":
                statements.append(f"delete from {self.table(table)} where {where}")
            else:
                statements.append(
                    f"update {self.table(table)} set {self.column('_sdc_deleted_at')} = "
                    f"{self.now()} where {where} and {self.live()}"
                )
        return statements

    def apply_deletes(
        self, table: str, keys: Sequence[KeyColumn], deleted: list[tuple], mode: str
    ) -> None:
        self._script(self.delete_statements(table, keys, deleted, mode))

    def mark_table_deleted(self, table: str) -> int:
        live = self.live_rows(table)
        self._script(
            [
                f"update {self.table(table)} set {self.column('_sdc_deleted_at')} = {self.now()} "
                f"where {self.live()}"
            ]
        )
        return live

    def ensure_audit_table(self) -> None:
        self._run(sync_audit_table(self.table(SYNC_AUDIT), self.text_type))
        for name, kind in ADDED_AUDIT_COLUMNS:
            self._run(
                f"alter table {self.table(SYNC_AUDIT)} add column if not exists {self.column(name)} "
                f"{added_column_type(kind, self.text_type, self.bigint_type, self.timestamp_type)}"
            )

    def record(self, row: list[Any]) -> None:
        values = []
        for value in row:
            if value is None:
                values.append("null")
            elif isinstance(value, dt.datetime):
                values.append(self.timestamp_literal(value))
            elif isinstance(value, (int, float)):
                values.append(str(value))
            else:
                values.append(self.literal(str(value)))
        self._run(self.audit_insert(values))

    def timestamp_literal(self, value: dt.datetime) -> str:
        text = value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        return f"cast({self.literal(text + '+00:00')} as timestamp_tz)"


def sync_audit_table(schema_table: str, text: str, bounded_text: str = "") -> str:
    """`create table if not exists` for _sync_audit, with the warehouse's text type."""
    short = bounded_text or text
    return f"""create table if not exists {schema_table} (
        table_name {text}, mode {short}, source_rows bigint, warehouse_rows bigint,
        deleted_at_source bigint, arrived_after_extract bigint,
        missing_in_warehouse bigint, duplicated_in_warehouse bigint,
        buckets_compared bigint, started_at timestamptz, ended_at timestamptz,
        outcome {short}, extraction {text}, snapshot_xmin bigint, comparison {short},
        written_through timestamptz)"""


__all__ = [
    "ADDED_AUDIT_COLUMNS",
    "BUCKET_CHARS",
    "EXTRACTION_COLUMN",
    "SEPARATOR",
    "SYNC_AUDIT",
    "SYNC_AUDIT_COLUMNS",
    "UTC_SESSION",
    "Extract",
    "KeyColumn",
    "KeyTextWarehouse",
    "LastCheck",
    "Warehouse",
    "added_column_type",
    "extract_rows",
    "joined_key_text",
    "key_value_text",
    "last_checks",
    "last_checks_sql",
    "normalise",
    "sync_audit_table",
    "utc_source_bucket",
]
