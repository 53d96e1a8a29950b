"""target-airflow-audit-duckdb: a lossless Singer target for DuckDB.

Why not the PyPI `target-duckdb` 0.8.0: it COPYs CSV batches without `HEADER false`, so DuckDB
sometimes takes a batch's first row for a header and drops it, and it widens integers to
HUGEINT and drops time zones.  This target instead appends each stream's RECORD lines, as
they came, to a newline-delimited JSON file and lets DuckDB's JSON reader load a whole batch
with explicit column types; no per-row Python work beyond finding the stream name.

Semantics (the contract the dbt project builds on, see transform/README.md):

* one table per stream, named after the source table (`public-dag_run` -> `dag_run`), with the
  source's column names, plus `_sdc_extracted_at`, `_sdc_batched_at`, `_sdc_deleted_at` and
  `_sdc_table_version`;
* every batch is an upsert on the stream's key properties, in one transaction: a row is never
  duplicated, whatever is sent twice;
* a full-table stream is opened by ACTIVATE_VERSION(v) and closed by a second
  ACTIVATE_VERSION(v) once the tap has read the whole table; only then do rows that the source
  no longer has disappear (`mirror`) or get `_sdc_deleted_at` set (`archive`).  An interrupted
  run therefore never removes anything;
* STATE is passed on only once every record before it is committed.

The Singer side of this (spooling, STATE, ACTIVATE_VERSION) is singer_loader.SingerLoader,
shared with the Redshift loader; what is DuckDB's is below.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path
from typing import IO, Any

import duckdb

from airflow_audit_core.errors import UserError
from airflow_audit_core.naming import destination_schema
from airflow_audit_core.quoting import quote, sql_string
from airflow_audit_loader.batch_files import HandedOver
from airflow_audit_loader.duckdb.settings import DEFAULT_BATCH_SIZE_ROWS, limits, resolve_path
from airflow_audit_loader.full_read import full_read_sql
from airflow_audit_loader.own_target import (
    METADATA_COLUMNS,
    SingerLoader,
    StreamTable,
    command_line,
    property_kind,
    stamp_after,
)

PROG = "target-airflow-audit-duckdb"
# Type changes that keep every value (any type also widens to VARCHAR).
WIDENINGS = {("BIGINT", "DOUBLE"), ("DATE", "TIMESTAMPTZ")}
# DuckDB's default largest JSON object (16 MiB): the least the record reader allows.
JSON_OBJECT_SIZE = 16 * 1024 * 1024
DUCKDB_TYPES = {
    "integer": "BIGINT",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMPTZ",
    "date": "DATE",
    "time": "TIME",
    "string": "VARCHAR",
    "json": "JSON",
}
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def duckdb_type(schema: dict[str, Any]) -> str:
    """Map a JSON schema property to a DuckDB column type."""
    return DUCKDB_TYPES[property_kind(schema)]


class DuckDBTarget(SingerLoader):
    """Reads Singer messages and keeps the DuckDB tables equal to what the tap read."""

    prog = PROG
    default_batch_size_rows = DEFAULT_BATCH_SIZE_ROWS

    def __init__(self, config: dict[str, Any], state_out: IO[bytes]) -> None:
        schema = destination_schema(
            slug=config.get("env_slug"),
            override=config.get("destination_schema"),
            warehouse="duckdb",
        )
        super().__init__(config, state_out, schema=schema)
        self.path = resolve_path(config.get("path"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = open_duckdb(self.path, int(config.get("lock_timeout_seconds") or 600))
        self.con.execute("SET TimeZone = 'UTC'")
        # Rows have no order worth keeping; without it DuckDB streams large loads in less memory.
        self.con.execute("SET preserve_insertion_order = false")
        for statement in limits(config):
            self.con.execute(statement)
        self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.schema)}")

    def column_type(self, schema: dict[str, Any]) -> str:
        return duckdb_type(schema)

    def apply_full_read(self, table: StreamTable, version: int) -> None:
        target = f"{quote(self.schema)}.{quote(table.table)}"
        sql = full_read_sql(target, self.mode, version="?", deleted_at="?")
        params: list[Any] = [version]
        if self.mode == "archive":
            params.insert(0, dt.datetime.now(dt.timezone.utc))
        self.con.execute("BEGIN TRANSACTION")
        self.con.execute(sql, params)
        self.con.execute("COMMIT")

    # -- loading ----------------------------------------------------------------------

    def ensure_table(self, table: StreamTable) -> None:
        target = f"{quote(self.schema)}.{quote(table.table)}"
        existing = dict(
            self.con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [self.schema, table.table],
            ).fetchall()
        )
        metadata = {c: DUCKDB_TYPES[k] for c, k in METADATA_COLUMNS.items()}
        wanted = {**table.columns, **metadata}
        if not existing:
            columns_sql = ", ".join(f"{quote(c)} {t}" for c, t in wanted.items())
            self.con.execute(f"CREATE TABLE {target} ({columns_sql})")
            return
        for column, column_type in wanted.items():
            have = existing.get(column)
            if have is None:
                self.con.execute(f"ALTER TABLE {target} ADD COLUMN {quote(column)} {column_type}")
            elif normalise_type(have) != normalise_type(column_type):
                self.change_type(table, column, normalise_type(have), column_type)
        if table.natural_key:
            # Rows stored before Airflow 3 re-keyed the table lack the new key: replaced by natural
            # key as the re-keyed rows arrive (load_batch), not kept beside them.
            (legacy,) = self.con.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {target} WHERE _sdc_deleted_at IS NULL AND ("
                + " OR ".join(f"{quote(k)} IS NULL" for k in table.key_properties)
                + ") LIMIT 1)"
            ).fetchone()
            table.legacy_rows = bool(legacy)
            if table.legacy_rows:
                print(
                    f"{PROG}: {table.table}: rows stored under the key of an earlier Airflow "
                    f"are replaced by {', '.join(table.natural_key)} as the re-keyed rows arrive.",
                    file=sys.stderr,
                    flush=True,
                )

    def change_type(self, table: StreamTable, column: str, have: str, wanted: str) -> None:
        """A column an Airflow upgrade retyped (3.0: dag_run_note.user_id integer -> varchar):
        widened in place, every value kept, archived rows included; a narrowing is refused."""
        target = f"{quote(self.schema)}.{quote(table.table)}"
        if (have, wanted) not in WIDENINGS and wanted != "VARCHAR":
            raise UserError(
                f"Column {table.table}.{column} changed type in the source ({have} in the "
                f"warehouse, {wanted} now), and not to a type that holds every old value: rename "
                f"the warehouse table {self.schema}.{table.table} (its history stays there) and "
                "run again to reload it."
            )
        self.con.execute(
            f"ALTER TABLE {target} ALTER COLUMN {quote(column)} SET DATA TYPE {wanted} "
            f"USING CAST({quote(column)} AS {wanted})"
        )
        print(
            f"{PROG}: {table.table}.{column}: {have} in the warehouse, {wanted} at the source "
            "now (an Airflow upgrade?): widened in place, every row kept.",
            file=sys.stderr,
            flush=True,
        )

    def load_batch(self, table: StreamTable) -> None:
        """Spooled RECORD messages, read by DuckDB's JSON reader with the columns' types."""
        record_type = (
            "STRUCT(" + ", ".join(f"{quote(c)} {t}" for c, t in table.columns.items()) + ")"
        )
        # DuckDB's JSON reader holds buffers of twice the largest object it allows: sized to the
        # batch's longest line (DuckDB's default of 16 MiB at least), not to the largest value a
        # column could hold, so a batch of small rows fits a small AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT.
        largest = max(table.longest_line + 1024, JSON_OBJECT_SIZE)
        reader = (
            f"read_json({sql_string(str(table.spool))}, format='newline_delimited', "
            f"columns={{'record': {sql_string(record_type)}, 'version': 'BIGINT', "
            f"'time_extracted': 'TIMESTAMPTZ'}}, maximum_object_size={largest})"
        )
        keys = [quote(k) for k in table.key_properties]
        columns = [quote(c) for c in table.columns]
        # Message-level fields get names no Airflow column has (Airflow 3's dag_bundle has a
        # `version` column of its own); the last message of a key wins.
        batch = (
            "SELECT * FROM ("
            "SELECT row_number() OVER () AS __airflow_audit_seq, "
            + ", ".join(f"record.{c} AS {c}" for c in columns)
            + ", time_extracted AS __airflow_audit_extracted_at, "
            "version AS __airflow_audit_version FROM " + reader + ") "
            f"QUALIFY row_number() OVER (PARTITION BY {', '.join(keys)} "
            "ORDER BY __airflow_audit_seq DESC) = 1"
        )
        try:
            self.upsert(table, batch, [])
        except duckdb.Error as exc:
            raise UserError(
                f"Loading a batch of {table.table} into {self.schema}.{table.table} failed and "
                f"nothing of it was written ({str(exc).splitlines()[0]}): " + rerun_advice(exc)
            ) from None

    def load_file(
        self, table: StreamTable, path: Path, batch: HandedOver, version: int | None
    ) -> int:
        """A file of the extractor's, read by DuckDB's CSV reader with the columns' types, in
        one transaction; no row passes through Python.  A snapshot holds each key once."""
        missing = [c for c in batch.columns if c not in table.columns]
        if missing:
            raise UserError(
                f"The file for {table.table} has columns its SCHEMA message did not announce "
                f"({', '.join(missing)}): the extractor and loader disagree; rerun the sync."
            )
        file_types = {c: file_type(table.columns[c]) for c in batch.columns}
        reader = (
            f"read_csv({sql_string(str(path))}, header=false, auto_detect=false, "
            "delim=',', quote='\"', escape='\"', allow_quoted_nulls=false, "
            f"columns={{{', '.join(f'{sql_string(c)}: {sql_string(t)}' for c, t in file_types.items())}}})"
        )
        selected = ", ".join(
            f"json({quote(c)}) AS {quote(c)}" if table.columns[c] == "JSON" else quote(c)
            for c in batch.columns
        )
        source = (
            f"SELECT {selected}, CAST(? AS TIMESTAMPTZ) AS __airflow_audit_extracted_at, "
            f"CAST(? AS BIGINT) AS __airflow_audit_version FROM {reader}"
        )
        try:
            return self.upsert(
                table, source, [batch.extracted_at, version], columns=list(batch.columns)
            )
        except duckdb.Error as exc:
            raise UserError(
                f"Loading the extractor's file {path} into {self.schema}.{table.table} failed "
                f"and nothing of it was loaded ({str(exc).splitlines()[0]}): " + rerun_advice(exc)
            ) from None

    def upsert(
        self,
        table: StreamTable,
        source: str,
        params: list[Any],
        *,
        columns: list[str] | None = None,
    ) -> int:
        """The rows of `source` (the columns, __airflow_audit_extracted_at and
        __airflow_audit_version) replace the rows with their keys, in one transaction.

        A row equal to the live row stored under its key is not rewritten: only its version and
        extraction time move, so `_sdc_batched_at` is when a row's content last changed (what
        the incremental marts and the job's "nothing changed" check read), not when it was last
        read in full.  A changed row is deleted and inserted again, at the end of the table, not
        updated where it is stored: what changed since a build then lies in the table's last
        row groups, and elsewhere every row keeps the `_sdc_batched_at` of its row group, which
        DuckDB stores as one constant.  An update in place scattered changed rows over the whole
        table and every later build's filter on the change time read every row: after 1% of 1M
        task instances changed across the history, each hourly dbt step of `make bench` took
        13.6 to 13.8 s instead of 8.9 s (README "How fast").  The price: a deleted row leaves a
        marker DuckDB loads outside its memory limit when it reads that part of the table.
        Returns the rows written or confirmed."""
        keys = [quote(k) for k in table.key_properties]
        target = f"{quote(self.schema)}.{quote(table.table)}"
        columns = [quote(c) for c in (columns if columns is not None else table.columns)]
        on_key = " AND ".join(f"t.{k} = b.{k}" for k in keys)
        same = " AND ".join(f"t.{c} IS NOT DISTINCT FROM b.{c}" for c in columns)
        self.con.execute("BEGIN TRANSACTION")
        try:
            batched_at = self.stamp(target)
            if self.is_empty(target):
                # A first sync: nothing to compare or replace, straight in.
                (inserted,) = self.con.execute(
                    f"INSERT INTO {target} ({', '.join(columns)}, _sdc_extracted_at, "
                    "_sdc_batched_at, _sdc_deleted_at, _sdc_table_version) "
                    f"SELECT {', '.join(columns)}, __airflow_audit_extracted_at, ?, NULL, "
                    f"__airflow_audit_version FROM ({source})",
                    [batched_at, *params],
                ).fetchone()
                self.con.execute("COMMIT")
                return int(inserted)
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE __batch AS {source}", params)
            # The stored rows under the batch's keys, found in the upsert's one pass over the
            # table's key columns; every later statement reads the table by these row ids, handed
            # over as one list (transform/macros' airflow_audit_rowids_where says why), and so
            # reads only their row groups.  Four joins on the keys (stored twice, equal, confirmed,
            # replaced) each read every key: on make bench's 10M task instances, at a 384MB limit,
            # the statements took 1.3 s for an hour of new runs (409 task instances), 2.2 s for
            # 100k changed, 20.0 s for 1M; 0.2 s, 1.5 s and 6.7 s this way.
            self.con.execute(
                "CREATE OR REPLACE TEMP TABLE __stored AS SELECT t.rowid AS table_row, "
                f"b.rowid AS batch_row FROM {target} AS t JOIN __batch AS b ON {on_key}"
            )
            stored = "(SELECT unnest(list(table_row)) FROM __stored{})"
            # A key the table holds more than once (a hand edit, a bug) is not confirmed: its rows
            # go, and the batch's row for it is inserted below, so a full read repairs the table
            # (the fix reconciliation's failure advises).
            self.con.execute(
                f"DELETE FROM {target} WHERE rowid IN "
                + stored.format(
                    " WHERE batch_row IN "
                    "(SELECT batch_row FROM __stored GROUP BY batch_row HAVING count(*) > 1)"
                )
            )
            # The batch's rows equal to the live row under their key (the comparison of every
            # column, the upsert's costliest join) are confirmed, not rewritten.  The rows deleted
            # above are read no more.
            (equal,) = self.con.execute(
                "CREATE OR REPLACE TEMP TABLE __equal AS SELECT s.table_row, s.batch_row "
                "FROM __stored AS s JOIN __batch AS b ON b.rowid = s.batch_row "
                f"JOIN (SELECT rowid AS table_row, * FROM {target} WHERE rowid IN "
                f"{stored.format('')}) AS t ON t.table_row = s.table_row "
                f"AND t._sdc_deleted_at IS NULL AND {same}"
            ).fetchone()
            confirmed = 0
            if equal:
                (confirmed,) = self.con.execute(
                    f"UPDATE {target} AS t SET _sdc_table_version = b.__airflow_audit_version, "
                    "_sdc_extracted_at = b.__airflow_audit_extracted_at "
                    "FROM __equal AS e JOIN __batch AS b ON b.rowid = e.batch_row "
                    "WHERE t.rowid = e.table_row AND t.rowid IN "
                    "(SELECT unnest(list(table_row)) FROM __equal)"
                ).fetchone()
                self.con.execute(
                    "DELETE FROM __batch WHERE rowid IN (SELECT batch_row FROM __equal)"
                )
            self.con.execute("DROP TABLE __equal")
            self.con.execute(
                f"DELETE FROM {target} WHERE rowid IN "
                + stored.format(" WHERE batch_row IN (SELECT rowid FROM __batch)")
            )
            if table.legacy_rows:
                self.con.execute(
                    f"DELETE FROM {target} AS t USING __batch AS b WHERE "
                    "t._sdc_deleted_at IS NULL AND "
                    + " AND ".join(f"t.{quote(k)} = b.{quote(k)}" for k in table.natural_key)
                )
            (inserted,) = self.con.execute(
                f"INSERT INTO {target} ({', '.join(columns)}, _sdc_extracted_at, "
                "_sdc_batched_at, _sdc_deleted_at, _sdc_table_version) "
                f"SELECT {', '.join(columns)}, __airflow_audit_extracted_at, ?, NULL, "
                "__airflow_audit_version FROM __batch",
                [batched_at],
            ).fetchone()
            self.con.execute("DROP TABLE __batch")
            self.con.execute("DROP TABLE __stored")
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        return int(inserted) + int(confirmed)

    def stamp(self, target: str) -> dt.datetime:
        """The `_sdc_batched_at` of the rows this write stores (own_target.stamp_after)."""
        # as microseconds since the epoch: a TIMESTAMPTZ reaches Python only through pytz
        (latest,) = self.con.execute(
            f"SELECT epoch_us(max(_sdc_batched_at)) FROM {target}"
        ).fetchone()
        return stamp_after(None if latest is None else EPOCH + dt.timedelta(microseconds=latest))

    def is_empty(self, target: str) -> bool:
        return self.con.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {target})").fetchone()[0]

    def close_connection(self) -> None:
        self.con.close()


def rerun_advice(exc: duckdb.Error) -> str:
    """What to do after a batch DuckDB refused (nothing of it written)."""
    if isinstance(exc, duckdb.OutOfMemoryException):
        return (
            "raise AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT or lower AIRFLOW_AUDIT_DUCKDB_THREADS, then "
            "rerun the sync."
        )
    return "rerun the sync."


def open_duckdb(path: Path, wait_seconds: int) -> duckdb.DuckDBPyConnection:
    """Open the file for writing; DuckDB allows one writing process, so wait for it."""
    deadline = time.monotonic() + wait_seconds
    waited = False
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise UserError(f"Cannot open the DuckDB file {path}: {exc}") from exc
            if time.monotonic() > deadline:
                raise UserError(
                    f"The DuckDB file {path} stayed in use by another process (another sync, or "
                    f"a dbt or client session) for {wait_seconds} s: let it finish, then run again."
                ) from exc
            if not waited:
                print(
                    f"{PROG}: {path} is in use by another process; waiting for it.",
                    file=sys.stderr,
                    flush=True,
                )
                waited = True
            time.sleep(1)


def file_type(column_type: str) -> str:
    """The type the CSV reader gives a column: JSON arrives as text and is parsed (json())."""
    return "VARCHAR" if column_type == "JSON" else column_type


def normalise_type(name: str) -> str:
    name = name.upper()
    return {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ"}.get(name, name)


def main(argv: list[str] | None = None) -> None:
    command_line(DuckDBTarget, PROG, (__doc__ or "").splitlines()[0], argv)


if __name__ == "__main__":
    main()
