"""target-airflow-duckdb: a lossless Singer target for DuckDB.

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
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import duckdb
import orjson

from airflow_audit_loader.errors import UserError
from airflow_audit_loader.naming import destination_schema

PROG = "target-airflow-duckdb"
DEFAULT_PATH = "output/airflow_audit.duckdb"
DEFAULT_BATCH_SIZE_ROWS = 200_000
MODES = ("mirror", "archive")
METADATA_COLUMNS = {
    "_sdc_extracted_at": "TIMESTAMPTZ",
    "_sdc_batched_at": "TIMESTAMPTZ",
    "_sdc_deleted_at": "TIMESTAMPTZ",
    "_sdc_table_version": "BIGINT",
}
_RECORD_PREFIX = b'{"type":"RECORD","stream":"'


def quote(identifier: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + identifier.replace('"', '""') + '"'


def table_name_for(stream: str) -> str:
    """`public-dag_run` -> `dag_run` (Airflow table names never hold a `-`)."""
    return stream.rsplit("-", 1)[-1]


def duckdb_type(schema: dict[str, Any]) -> str:
    """Map a JSON schema property to a DuckDB column type."""
    types = schema.get("type", [])
    if isinstance(types, str):
        types = [types]
    types = [t for t in types if t != "null"]
    if "anyOf" in schema or len(types) != 1:
        return "JSON"
    kind = types[0]
    if kind == "integer":
        return "BIGINT"
    if kind == "number":
        return "DOUBLE"
    if kind == "boolean":
        return "BOOLEAN"
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return "TIMESTAMPTZ"
        if fmt == "date":
            return "DATE"
        if fmt == "time":
            return "TIME"
        return "VARCHAR"
    return "JSON"


@dataclass
class StreamTable:
    """One stream: its target table, its buffered batch and its full-table version."""

    stream: str
    table: str
    columns: dict[str, str]
    key_properties: list[str]
    spool: Path
    rows: int = 0
    handle: IO[bytes] | None = None
    opened_versions: set[int] = field(default_factory=set)

    def append(self, line: bytes) -> None:
        if self.handle is None:
            self.handle = self.spool.open("wb")
        self.handle.write(line)
        if not line.endswith(b"\n"):
            self.handle.write(b"\n")
        self.rows += 1


class DuckDBTarget:
    """Reads Singer messages and keeps the DuckDB tables equal to what the tap read."""

    def __init__(self, config: dict[str, Any], state_out: IO[bytes]) -> None:
        self.schema = destination_schema(
            slug=config.get("env_slug"),
            override=config.get("destination_schema"),
            warehouse="duckdb",
        )
        self.mode = (config.get("mode") or "mirror").strip().lower()
        if self.mode not in MODES:
            raise UserError(
                f"AIRFLOW_AUDIT_MODE is {self.mode!r}: use 'mirror' (the warehouse equals the "
                "source) or 'archive' (rows deleted at the source are kept and marked)."
            )
        self.batch_size_rows = int(config.get("batch_size_rows") or DEFAULT_BATCH_SIZE_ROWS)
        self.path = resolve_path(config.get("path"))
        self.state_out = state_out
        self.streams: dict[str, StreamTable] = {}
        self.pending_state: bytes | None = None
        self.spool_dir = Path(tempfile.mkdtemp(prefix="airflow-audit-duckdb-"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = open_duckdb(self.path, int(config.get("lock_timeout_seconds") or 600))
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.schema)}")

    # -- message handling -------------------------------------------------------------

    def run(self, lines: IO[bytes]) -> None:
        for line in lines:
            if line.startswith(_RECORD_PREFIX):
                end = line.index(b'"', len(_RECORD_PREFIX))
                stream = line[len(_RECORD_PREFIX) : end].decode()
                self._record(stream, line)
                continue
            if not line.strip():
                continue
            message = orjson.loads(line)
            kind = message.get("type")
            if kind == "RECORD":
                self._record(message["stream"], orjson.dumps(message))
            elif kind == "SCHEMA":
                self._schema(message)
            elif kind == "STATE":
                self.pending_state = orjson.dumps(message["value"])
                if not any(s.rows for s in self.streams.values()):
                    self._emit_state()
            elif kind == "ACTIVATE_VERSION":
                self._activate_version(message["stream"], int(message["version"]))
        self.flush_all()
        for stream in self.streams.values():
            if stream.opened_versions:
                print(
                    f"{PROG}: the full read of '{stream.table}' did not finish; its rows were "
                    "upserted but rows deleted at the source are kept until a complete run.",
                    file=sys.stderr,
                )

    def _record(self, stream: str, line: bytes) -> None:
        table = self.streams.get(stream)
        if table is None:
            raise UserError(f"The tap sent a record for stream {stream!r} before its schema.")
        table.append(line)
        if table.rows >= self.batch_size_rows:
            self.flush_all()

    def _schema(self, message: dict[str, Any]) -> None:
        stream = message["stream"]
        properties = message["schema"].get("properties", {})
        columns = {name: duckdb_type(prop) for name, prop in properties.items()}
        key_properties = list(message.get("key_properties") or [])
        if not key_properties:
            raise UserError(
                f"Stream {stream!r} has no primary key: the loader needs one to upsert without "
                "duplicates (Airflow's own tables all have one; leave this table out)."
            )
        previous = self.streams.get(stream)
        if previous is not None:
            if previous.columns == columns and previous.key_properties == key_properties:
                return
            self._flush(previous)
        table = StreamTable(
            stream=stream,
            table=table_name_for(stream),
            columns=columns,
            key_properties=key_properties,
            spool=self.spool_dir / f"{len(self.streams)}.jsonl",
            opened_versions=previous.opened_versions if previous else set(),
        )
        self._ensure_table(table)
        self.streams[stream] = table

    def _activate_version(self, stream: str, version: int) -> None:
        table = self.streams.get(stream)
        if table is None:
            raise UserError(f"The tap activated a version of {stream!r} before its schema.")
        if version not in table.opened_versions:
            table.opened_versions.add(version)
            return
        # Second ACTIVATE_VERSION for the same version: the full read is complete.
        self.flush_all()
        table.opened_versions.discard(version)
        target = f"{quote(self.schema)}.{quote(table.table)}"
        self.con.execute("BEGIN TRANSACTION")
        if self.mode == "mirror":
            self.con.execute(
                f"DELETE FROM {target} WHERE _sdc_table_version IS DISTINCT FROM ?", [version]
            )
        else:
            self.con.execute(
                f"UPDATE {target} SET _sdc_deleted_at = ? "
                "WHERE _sdc_table_version IS DISTINCT FROM ? AND _sdc_deleted_at IS NULL",
                [dt.datetime.now(dt.timezone.utc), version],
            )
        self.con.execute("COMMIT")

    # -- loading ----------------------------------------------------------------------

    def _ensure_table(self, table: StreamTable) -> None:
        target = f"{quote(self.schema)}.{quote(table.table)}"
        existing = dict(
            self.con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [self.schema, table.table],
            ).fetchall()
        )
        wanted = {**table.columns, **METADATA_COLUMNS}
        if not existing:
            columns_sql = ", ".join(f"{quote(c)} {t}" for c, t in wanted.items())
            self.con.execute(f"CREATE TABLE {target} ({columns_sql})")
            return
        for column, column_type in wanted.items():
            have = existing.get(column)
            if have is None:
                self.con.execute(f"ALTER TABLE {target} ADD COLUMN {quote(column)} {column_type}")
            elif normalise_type(have) != normalise_type(column_type):
                raise UserError(
                    f"Column {table.table}.{column} changed type in the source ({have} in the "
                    f"warehouse, {column_type} now): rename or drop the warehouse table "
                    f"{self.schema}.{table.table} and run again to reload it."
                )

    def flush_all(self) -> None:
        for table in self.streams.values():
            self._flush(table)
        self._emit_state()

    def _flush(self, table: StreamTable) -> None:
        if not table.rows:
            return
        assert table.handle is not None
        table.handle.close()
        table.handle = None
        record_type = (
            "STRUCT(" + ", ".join(f"{quote(c)} {t}" for c, t in table.columns.items()) + ")"
        )
        reader = (
            f"read_json({sql_string(str(table.spool))}, format='newline_delimited', "
            f"columns={{'record': {sql_string(record_type)}, 'version': 'BIGINT', "
            f"'time_extracted': 'TIMESTAMPTZ'}}, maximum_object_size=268435456)"
        )
        keys = [quote(k) for k in table.key_properties]
        target = f"{quote(self.schema)}.{quote(table.table)}"
        columns = [quote(c) for c in table.columns]
        # Message-level fields get names no Airflow column has (Airflow 3's dag_bundle has a
        # `version` column of its own).
        batch = (
            "SELECT * FROM ("
            "SELECT row_number() OVER () AS __airflow_audit_seq, "
            + ", ".join(f"record.{c} AS {c}" for c in columns)
            + ", time_extracted AS __airflow_audit_extracted_at, "
            "version AS __airflow_audit_version FROM " + reader + ") "
            f"QUALIFY row_number() OVER (PARTITION BY {', '.join(keys)} "
            "ORDER BY __airflow_audit_seq DESC) = 1"
        )
        batched_at = dt.datetime.now(dt.timezone.utc)
        self.con.execute("BEGIN TRANSACTION")
        try:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE __batch AS {batch}")
            self.con.execute(
                f"DELETE FROM {target} AS t USING __batch AS b WHERE "
                + " AND ".join(f"t.{k} = b.{k}" for k in keys)
            )
            self.con.execute(
                f"INSERT INTO {target} ({', '.join(columns)}, _sdc_extracted_at, "
                "_sdc_batched_at, _sdc_deleted_at, _sdc_table_version) "
                f"SELECT {', '.join(columns)}, __airflow_audit_extracted_at, ?, NULL, "
                "__airflow_audit_version FROM __batch",
                [batched_at],
            )
            self.con.execute("DROP TABLE __batch")
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        table.rows = 0

    def _emit_state(self) -> None:
        if self.pending_state is None:
            return
        self.state_out.write(self.pending_state + b"\n")
        self.state_out.flush()
        self.pending_state = None

    def close(self) -> None:
        for table in self.streams.values():
            if table.handle is not None:
                table.handle.close()
        self.con.close()
        shutil.rmtree(self.spool_dir, ignore_errors=True)


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


def normalise_type(name: str) -> str:
    name = name.upper()
    return {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ"}.get(name, name)


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def resolve_path(configured: str | None) -> Path:
    """The DuckDB file: AIRFLOW_AUDIT_DUCKDB_PATH, relative paths from the project root."""
    raw = (configured or "").strip() or DEFAULT_PATH
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = Path(os.environ.get("MELTANO_PROJECT_ROOT", os.getcwd())) / path
    if re.search(r"[\x00]", str(path)):
        raise UserError(f"The DuckDB path {raw!r} is not a usable file name.")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", default=[])
    parser.add_argument("--about", action="store_true")
    args = parser.parse_args(argv)
    if args.about:
        print(orjson.dumps({"name": PROG, "capabilities": ["about", "activate-version"]}).decode())
        return
    config: dict[str, Any] = {}
    for path in args.config:
        config.update(orjson.loads(Path(path).read_bytes()))
    target = None
    try:
        target = DuckDBTarget(config, sys.stdout.buffer)
        target.run(sys.stdin.buffer)
    except UserError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        sys.exit(2)
    finally:
        if target is not None:
            target.close()


if __name__ == "__main__":
    main()
