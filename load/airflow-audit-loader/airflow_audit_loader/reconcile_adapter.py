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
from typing import Any

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
)
EXTRACTION_COLUMN = "extraction"


def extract_rows(
    names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[tuple[str, int, str | None]]:
    """`select *` of the extracts table -> (table, snapshot_xmin, extraction) by table name.

    `extraction` is None for rows an earlier extractor wrote (the column is newer)."""
    index = {str(n).lower(): i for i, n in enumerate(names)}
    read = index.get(EXTRACTION_COLUMN)
    out = [
        (
            str(row[index["table_name"]]),
            int(row[index["snapshot_xmin"]]),
            None if read is None else row[read],
        )
        for row in rows
    ]
    return sorted(out)


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

    def extracts(self) -> list[tuple[str, int, str | None]]:
        """(table, snapshot_xmin, extraction) of every table the tap read, by table name."""
        raise NotImplementedError

    def bucket_counts(self, table: str, keys: Sequence[KeyColumn]) -> dict[str, int]:
        """bucket -> live rows (_sdc_deleted_at is null)."""
        raise NotImplementedError

    def keys_in(self, table: str, keys: Sequence[KeyColumn], buckets: list[str]) -> list[tuple]:
        """The live rows' keys in these buckets, one tuple per row (duplicates included)."""
        raise NotImplementedError

    def live_rows(self, table: str) -> int:
        raise NotImplementedError

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

    def extracts(self) -> list[tuple[str, int, str | None]]:
        return extract_rows(*self._run_named(f"select * from {self.table(self.extracts_table)}"))

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
        self._run(
            f"alter table {self.table(SYNC_AUDIT)} add column if not exists "
            f"{self.column(EXTRACTION_COLUMN)} {self.text_type}"
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
        outcome {short}, extraction {text})"""


__all__ = [
    "BUCKET_CHARS",
    "EXTRACTION_COLUMN",
    "SEPARATOR",
    "SYNC_AUDIT",
    "SYNC_AUDIT_COLUMNS",
    "UTC_SESSION",
    "KeyColumn",
    "KeyTextWarehouse",
    "Warehouse",
    "extract_rows",
    "joined_key_text",
    "key_value_text",
    "normalise",
    "sync_audit_table",
    "utc_source_bucket",
]
