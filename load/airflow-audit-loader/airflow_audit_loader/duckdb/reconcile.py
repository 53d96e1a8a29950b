"""DuckDB's side of reconciliation: both sides render keys with concat_ws(chr(31), cast(... as varchar))."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from airflow_audit_core.contract import EXTRACTS_STREAM, SYNC_AUDIT
from airflow_audit_core.errors import UserError
from airflow_audit_core.naming import destination_schema
from airflow_audit_core.quoting import quote, sql_string
from airflow_audit_loader.duckdb.settings import limits, memory_bytes, resolve_path
from airflow_audit_loader.reconcile_adapter import (
    ADDED_AUDIT_COLUMNS,
    BUCKET_CHARS,
    SEPARATOR,
    Extract,
    KeyColumn,
    Warehouse,
    added_column_type,
    extract_rows,
    sync_audit_table,
)

LOCK_WAIT_SECONDS = 300
# Keys whose distinct hashes one pass of distinct_live_keys counts at most (about 100 MB at once).
KEYS_PER_PASS = 1_000_000
# What reconciliation turns into one sentence (airflow-audit-reconcile's cli).
DRIVER_ERRORS = (duckdb.Error,)
# A bucket count needs a few MB a thread, but the key columns it reads stay in DuckDB's cache up to
# its memory limit: at 10M task instances 80 MB more than at 1M, 1.7x the process's peak RSS.  It
# runs under a limit of its own (over 9.3M keys on 2 cores, 32 threads ran out of 128MB and fitted
# in 256MB, 8 fitted in 32MB), and under the configured one when that is lower or the count runs
# out of memory in its own.
SCAN_MEMORY_PER_THREAD = 8 * 2**20
SCAN_MEMORY_AT_LEAST = 32 * 2**20
# What twice_written_since holds for each written key's hash, beyond the scan itself, under the
# scan's limit: 1M of them ran out of 64MB and 96MB.
HELD_BYTES_PER_WRITTEN_KEY = 256


def key_text(columns: Sequence[str]) -> str:
    return (
        f"concat_ws({SEPARATOR}, "
        + ", ".join(f"cast({quote(c)} as varchar)" for c in columns)
        + ")"
    )


def bucket_expr(columns: Sequence[str]) -> str:
    return f"substr(md5({key_text(columns)}), 1, {BUCKET_CHARS})"


def _json_value(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)


class DuckDBWarehouse(Warehouse):
    """A DuckDB file: both sides render keys with concat_ws(chr(31), cast(... as varchar))."""

    def __init__(
        self, con: Any, schema: str, path: Path | None = None, memory_limit: str | None = None
    ) -> None:
        super().__init__(schema)
        self.con = con
        self.path = path
        # AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT as configured (None: DuckDB's default)
        self.memory_limit = memory_limit

    def source_bucket(self, keys: Sequence[KeyColumn]) -> str:
        return bucket_expr([k.name for k in keys])

    def location(self) -> str:
        return f"of {self.path}"

    def has_extracts(self) -> bool:
        return bool(
            self.con.execute(
                "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
                [self.schema, EXTRACTS_STREAM],
            ).fetchone()[0]
        )

    def extracts(self) -> list[Extract]:
        rows = self.con.execute(f"select * from {self.table(EXTRACTS_STREAM)}").fetchall()
        return extract_rows([d[0] for d in self.con.description], rows)

    def query(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def bucket_counts(self, table: str, keys: Sequence[KeyColumn]) -> dict[str, int]:
        sql = (
            f"select {bucket_expr([k.name for k in keys])}, count(*) from {self.table(table)} "
            "where _sdc_deleted_at is null group by 1"
        )
        return dict(self.scan(sql))

    def scan(self, sql: str, params: Sequence[Any] = (), held_bytes: int = 0) -> list[tuple]:
        """The rows of a query that reads a whole table but holds little (`held_bytes` beyond the
        scan's own), run under a memory limit of its own (SCAN_MEMORY_*): under the configured
        one, the columns it reads stay in DuckDB's cache up to that limit.  Again under the
        configured limit when its own runs out; under the configured one alone when that is lower."""
        threads, before = self.con.execute(
            "select current_setting('threads'), current_setting('memory_limit')"
        ).fetchone()
        scan_limit = max(SCAN_MEMORY_AT_LEAST, int(threads) * SCAN_MEMORY_PER_THREAD) + held_bytes
        if self.memory_limit and memory_bytes(self.memory_limit) <= scan_limit:
            return self.con.execute(sql, params).fetchall()
        # set back by value: after `reset memory_limit` DuckDB 1.4.5 and 1.5.6 report their default
        # and still hold queries to the lower limit (2.0.1 does not)
        restore = f"set memory_limit = {sql_string(self.memory_limit or before)}"
        self.con.execute(f"set memory_limit = '{scan_limit // 2**20}MiB'")
        try:
            return self.con.execute(sql, params).fetchall()
        except duckdb.OutOfMemoryException:
            pass  # too little for these threads: again, under the configured limit
        finally:
            self.con.execute(restore)
        return self.con.execute(sql, params).fetchall()

    def keys_in(self, table: str, keys: Sequence[KeyColumn], buckets: list[str]) -> list[tuple]:
        names = [k.name for k in keys]
        cols = ", ".join(quote(k) for k in names)
        return self.con.execute(
            f"select {cols} from {self.table(table)} where _sdc_deleted_at is null "
            f"and {bucket_expr(names)} in (select unnest(?))",
            [buckets],
        ).fetchall()

    def live_rows(self, table: str) -> int:
        return self.con.execute(
            f"select count(*) from {self.table(table)} where _sdc_deleted_at is null"
        ).fetchone()[0]

    def distinct_live_keys(self, table: str, keys: Sequence[KeyColumn]) -> int | None:
        """Distinct 64-bit hashes of the keys, counted in passes of about KEYS_PER_PASS keys (a
        key's hash decides its pass, so the passes' counts add up): DuckDB holds a distinct count's
        values outside its memory limit, so one pass over 9.3M task instances peaked at 629 MB under
        a 384MB limit, ten at 330 MB, in 1.1 s against 1.0 s.  Equal to the rows only when every key
        is there once; two keys sharing a hash count once, which sends the check to the keys, never
        the other way."""
        cols = ", ".join(quote(k.name) for k in keys)
        live = f"from {self.table(table)} where _sdc_deleted_at is null" + "".join(
            f" and {quote(k.name)} is not null" for k in keys
        )
        (rows,) = self.con.execute(f"select count(*) {live}").fetchone()
        passes = max(1, -(-rows // KEYS_PER_PASS))
        return sum(
            self.con.execute(
                f"select count(distinct hash({cols})) {live}"
                + (f" and hash({cols}) % {passes} = {number}" if passes > 1 else "")
            ).fetchone()[0]
            for number in range(passes)
        )

    def written_through(self, table: str) -> dt.datetime | None:
        """The loader stamps each write after the latest `_sdc_batched_at` its table holds
        (own_target.stamp_after), so no later write is stamped at or before this."""
        (latest,) = self.con.execute(
            f"select max(_sdc_batched_at) from {self.table(table)}"
        ).fetchone()
        return latest

    def twice_written_since(
        self, table: str, keys: Sequence[KeyColumn], since: dt.datetime
    ) -> int | None:
        """The keys of the rows written since `since`, held twice, found by their 64-bit hashes
        (two keys sharing one count as twice, which sends the check to the keys, never the other
        way), plus the written rows with a null key part.  The loader appends what it writes, so
        the filter on `_sdc_batched_at` reads the table's last row groups and the written keys'
        hashes are matched in one pass over the key columns: at 9.3M task instances after an hour
        of new runs, 0.05 s against distinct_live_keys' 1.2 s.  It runs under a scan's limit (the
        key columns it reads do not stay cached up to the configured one): at 9.3M task instances
        after 93,093 changed, a peak of 262 MB of RSS against 293 to 296 MB, in 0.55 to 0.64 s
        against 0.47 to 0.49 s.  None above KEYS_PER_PASS written rows (a first sync, a full
        read): their hashes would not fit the pass's memory."""
        cols = ", ".join(quote(k.name) for k in keys)
        live = f"from {self.table(table)} where _sdc_deleted_at is null"
        written = f"{live} and _sdc_batched_at >= ?"
        (rows,) = self.con.execute(f"select count(*) {written}", [since]).fetchone()
        if rows > KEYS_PER_PASS:
            return None
        null_part = " or ".join(f"{quote(k.name)} is null" for k in keys)
        ((twice,),) = self.scan(
            f"select (select count(*) {written} and ({null_part})) + (select count(*) from ("
            f"select hash({cols}) as h {live} and h in (select hash({cols}) {written}) "
            "group by h having count(*) > 1))",
            [since, since],
            held_bytes=rows * HELD_BYTES_PER_WRITTEN_KEY,
        )
        return int(twice)

    def apply_deletes(
        self, table: str, keys: Sequence[KeyColumn], deleted: list[tuple], mode: str
    ) -> None:
        names = [k.name for k in keys]
        types = dict(
            self.con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ?",
                [self.schema, table],
            ).fetchall()
        )
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            for key in deleted:
                f.write(json.dumps(dict(zip(names, key, strict=True)), default=_json_value) + "\n")
            path = f.name
        try:
            columns = (
                "{" + ", ".join(f"{sql_string(k)}: {sql_string(types[k])}" for k in names) + "}"
            )
            match = " and ".join(f"t.{quote(k)} = d.{quote(k)}" for k in names)
            deleted_rel = (
                f"read_json({sql_string(path)}, format='newline_delimited', columns={columns})"
            )
            self.con.execute("begin transaction")
            if mode == "mirror":
                self.con.execute(
                    f"delete from {self.table(table)} t using {deleted_rel} d where {match}"
                )
            else:
                self.con.execute(
                    f"update {self.table(table)} t set _sdc_deleted_at = ? from {deleted_rel} d "
                    f"where {match} and t._sdc_deleted_at is null",
                    [dt.datetime.now(dt.timezone.utc)],
                )
            self.con.execute("commit")
        finally:
            os.unlink(path)

    def mark_table_deleted(self, table: str) -> int:
        (marked,) = self.con.execute(
            f"update {self.table(table)} set _sdc_deleted_at = ? where _sdc_deleted_at is null",
            [dt.datetime.now(dt.timezone.utc)],
        ).fetchone()
        return int(marked)

    def ensure_audit_table(self) -> None:
        self.con.execute(sync_audit_table(self.table(SYNC_AUDIT), "varchar"))
        for name, kind in ADDED_AUDIT_COLUMNS:
            self.con.execute(
                f"alter table {self.table(SYNC_AUDIT)} add column if not exists "
                f"{name} {added_column_type(kind, 'varchar')}"
            )

    def record(self, row: list[Any]) -> None:
        self.con.execute(self.audit_insert(["?"] * len(row)), row)

    def close(self) -> None:
        self.con.close()


def connect_warehouse(path: Path) -> Any:
    """Open the DuckDB file, waiting while another process (a sync, dbt) holds it."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise UserError(
                    f"Cannot open the DuckDB file {path} to reconcile it ({exc}): make sure no "
                    "other process holds it, then run again."
                ) from None
            time.sleep(1)


def open_warehouse(env: Mapping[str, str], prog: str) -> DuckDBWarehouse:
    """The environment (AIRFLOW_AUDIT_*, as Meltano passes it) -> the DuckDB warehouse."""
    schema = destination_schema(
        env.get("AIRFLOW_AUDIT_ENV_SLUG"), env.get("AIRFLOW_AUDIT_DESTINATION_SCHEMA"), "duckdb"
    )
    path = resolve_path(env.get("AIRFLOW_AUDIT_DUCKDB_PATH"))
    # DuckDB's limits, as the loader and dbt take them: counting the distinct keys of a large
    # table holds them all (2 GB at 10M task instances without a limit); a bad value stops here
    memory_limit = (env.get("AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT") or "").strip() or None
    statements = limits(
        {"memory_limit": memory_limit, "threads": env.get("AIRFLOW_AUDIT_DUCKDB_THREADS")}
    )
    con = connect_warehouse(path)
    for statement in statements:
        con.execute(statement)
    return DuckDBWarehouse(con, schema, path, memory_limit)
