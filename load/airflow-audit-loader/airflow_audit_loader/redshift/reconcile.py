"""Redshift's side of reconciliation, through psycopg2, logged in as the Redshift loader logs in.

Only SQL Redshift and PostgreSQL share: md5, substring, ||, chr, to_char, IN lists, a temporary
table LIKE the target, DELETE ... USING, UPDATE ... FROM.  Both sessions run in UTC (the loader
writes every timestamp in UTC, as TIMESTAMPTZ).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_audit_core.contract import EXTRACTS_STREAM, SYNC_AUDIT
from airflow_audit_core.errors import UserError
from airflow_audit_core.quoting import quote
from airflow_audit_loader.reconcile_adapter import (
    ADDED_AUDIT_COLUMNS,
    BUCKET_CHARS,
    SOURCE_TEXT,
    UTC_SESSION,
    Extract,
    KeyColumn,
    Warehouse,
    added_column_type,
    extract_rows,
    joined_key_text,
    sync_audit_table,
    utc_source_bucket,
)
from airflow_audit_loader.redshift.settings import SETTINGS, target_config
from airflow_audit_loader.registry import login_config

# Redshift's VARCHAR without a length is VARCHAR(256): casts name the longest one.
WAREHOUSE_TEXT = {**SOURCE_TEXT, "text": "cast({c} as varchar(65535))"}
# Temporary table of the keys to delete (or mark), one per transaction.
REDSHIFT_DELETED_KEYS = "airflow_audit_deleted_keys"
REDSHIFT_INSERT_PAGE_ROWS = 1000


def redshift_bucket(keys: Sequence[KeyColumn]) -> str:
    return f"substring(md5({joined_key_text(keys, WAREHOUSE_TEXT)}), 1, {BUCKET_CHARS})"


def redshift_value(value: Any) -> Any:
    """A key value for a Redshift INSERT: times as the loader writes them (UTC text)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f") + "+00"
    return value


class RedshiftWarehouse(Warehouse):
    """Redshift, through psycopg2, logged in as the Redshift loader logs in (RedshiftLogin).

    Only SQL Redshift and PostgreSQL share: md5, substring, ||, chr, to_char, IN lists, a
    temporary table LIKE the target, DELETE ... USING, UPDATE ... FROM.
    """

    source_session = UTC_SESSION

    def __init__(self, conn: Any, schema: str, where: str) -> None:
        super().__init__(schema)
        self.conn = conn
        self.where = where

    def source_bucket(self, keys: Sequence[KeyColumn]) -> str:
        return utc_source_bucket(keys)

    def location(self) -> str:
        return f"in {self.where}"

    def _run(self, sql: str, params: Any = None, *, fetch: bool = True) -> list[tuple]:
        import psycopg2

        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, params)
                rows = cur.fetchall() if fetch else []
            self.conn.commit()
        except psycopg2.Error as exc:
            self.conn.rollback()
            raise UserError(refused(sql, exc)) from None
        return rows

    def has_extracts(self) -> bool:
        return bool(
            self._run(
                "select 1 from pg_catalog.pg_class c join pg_catalog.pg_namespace n "
                "on n.oid = c.relnamespace where n.nspname = %s and c.relname = %s",
                [self.schema, EXTRACTS_STREAM],
            )
        )

    def extracts(self) -> list[Extract]:
        import psycopg2

        sql = f"select * from {self.table(EXTRACTS_STREAM)}"
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql)
                names, rows = [d[0] for d in cur.description], cur.fetchall()
            self.conn.commit()
        except psycopg2.Error as exc:
            self.conn.rollback()
            raise UserError(refused(sql, exc)) from None
        return extract_rows(names, rows)

    def bucket_counts(self, table: str, keys: Sequence[KeyColumn]) -> dict[str, int]:
        return dict(
            self._run(
                f"select {redshift_bucket(keys)}, count(*) from {self.table(table)} "
                "where _sdc_deleted_at is null group by 1"
            )
        )

    def keys_in(self, table: str, keys: Sequence[KeyColumn], buckets: list[str]) -> list[tuple]:
        cols = ", ".join(quote(k.name) for k in keys)
        # psycopg2 renders a tuple as an IN list: ('a1f', '0c3', ...).
        return self._run(
            f"select {cols} from {self.table(table)} where _sdc_deleted_at is null "
            f"and {redshift_bucket(keys)} in %s",
            [tuple(buckets)],
        )

    def live_rows(self, table: str) -> int:
        return int(
            self._run(f"select count(*) from {self.table(table)} where _sdc_deleted_at is null")[0][
                0
            ]
        )

    def distinct_live_keys(self, table: str, keys: Sequence[KeyColumn]) -> int | None:
        """The live rows' distinct keys (a key with a null part not counted), counted on
        Redshift's nodes: the check by counts then costs the source nothing."""
        cols = ", ".join(quote(k.name) for k in keys)
        whole = "".join(f" and {quote(k.name)} is not null" for k in keys)
        return int(
            self._run(
                f"select count(*) from (select distinct {cols} from {self.table(table)} "
                f"where _sdc_deleted_at is null{whole}) as k"
            )[0][0]
        )

    def written_through(self, table: str) -> dt.datetime | None:
        """The loader stamps each write after the latest `_sdc_batched_at` its table holds
        (own_target.stamp_after), so no later write is stamped at or before this."""
        return self._run(f"select max(_sdc_batched_at) from {self.table(table)}")[0][0]

    def twice_written_since(
        self, table: str, keys: Sequence[KeyColumn], since: dt.datetime
    ) -> int | None:
        """The keys of the live rows written since `since` held more than once by the live
        rows, plus the written rows with a null key part: two scans of the key columns (Redshift
        reads the written rows' blocks by their zone maps), not one of every distinct key."""
        target = self.table(table)
        names = [quote(k.name) for k in keys]
        written = f"from {target} where _sdc_deleted_at is null and _sdc_batched_at >= %s"
        at = [redshift_value(since)]
        null_part = " or ".join(f"{n} is null" for n in names)
        (with_null,) = self._run(f"select count(*) {written} and ({null_part})", at)[0]
        held = ", ".join(f"t.{n}" for n in names)
        match = " and ".join(f"t.{n} = w.{n}" for n in names)
        (twice,) = self._run(
            f"select count(*) from (select {held} from {target} as t inner join "
            f"(select distinct {', '.join(names)} {written}) as w on {match} "
            f"where t._sdc_deleted_at is null group by {held} having count(*) > 1) as d",
            at,
        )[0]
        return int(with_null) + int(twice)

    def apply_deletes(
        self, table: str, keys: Sequence[KeyColumn], deleted: list[tuple], mode: str
    ) -> None:
        import psycopg2
        from psycopg2.extras import execute_values

        target = self.table(table)
        stage = quote(REDSHIFT_DELETED_KEYS)
        cols = ", ".join(quote(k.name) for k in keys)
        match = " and ".join(f"{target}.{quote(k.name)} = {stage}.{quote(k.name)}" for k in keys)
        rows = [tuple(redshift_value(v) for v in key) for key in deleted]
        sql = f"create temp table {stage} (like {target})"
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql)
                sql = f"insert into {stage} ({cols}) values %s"
                execute_values(cur, sql, rows, page_size=REDSHIFT_INSERT_PAGE_ROWS)
                if mode == "mirror":
                    sql = f"delete from {target} using {stage} where {match}"
                    cur.execute(sql)
                else:
                    sql = (
                        f"update {target} set _sdc_deleted_at = %s from {stage} "
                        f"where {match} and {target}._sdc_deleted_at is null"
                    )
                    cur.execute(sql, [redshift_value(dt.datetime.now(dt.timezone.utc))])
                sql = f"drop table {stage}"
                cur.execute(sql)
            self.conn.commit()
        except psycopg2.Error as exc:
            self.conn.rollback()
            raise UserError(refused(sql, exc)) from None
        except BaseException:
            self.conn.rollback()
            raise

    def mark_table_deleted(self, table: str) -> int:
        live = self.live_rows(table)
        self._run(
            f"update {self.table(table)} set _sdc_deleted_at = %s where _sdc_deleted_at is null",
            [redshift_value(dt.datetime.now(dt.timezone.utc))],
            fetch=False,
        )
        return live

    def ensure_audit_table(self) -> None:
        self._run(
            sync_audit_table(self.table(SYNC_AUDIT), "varchar(256)", "varchar(16)"),
            fetch=False,
        )
        # Redshift has no ADD COLUMN IF NOT EXISTS: a _sync_audit of an earlier release is asked.
        present = {
            name
            for (name,) in self._run(
                "select a.attname from pg_catalog.pg_attribute a join pg_catalog.pg_class c "
                "on c.oid = a.attrelid join pg_catalog.pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = %s and c.relname = %s and not a.attisdropped",
                [self.schema, SYNC_AUDIT],
            )
        }
        for name, kind in ADDED_AUDIT_COLUMNS:
            if name not in present:
                self._run(
                    f"alter table {self.table(SYNC_AUDIT)} add column {name} "
                    f"{added_column_type(kind, 'varchar(1024)')}",
                    fetch=False,
                )

    def query(self, sql: str) -> list[tuple]:
        return self._run(sql)

    def record(self, row: list[Any]) -> None:
        self._run(
            self.audit_insert(["%s"] * len(row)),
            [redshift_value(v) for v in row],
            fetch=False,
        )

    def close(self) -> None:
        self.conn.close()


def refused(sql: str, exc: BaseException) -> str:
    text = str(exc).strip()
    reason = text.splitlines()[0] if text else type(exc).__name__
    return f"Redshift refused `{' '.join(sql.split())[:160]}`: {reason}"


def open_warehouse(env: Mapping[str, str], prog: str) -> RedshiftWarehouse:
    """Log in as the Redshift loader does (password or IAM, sslmode; the session in UTC)."""
    from airflow_audit_loader.redshift.target import RedshiftLogin

    settings = target_config(login_config(SETTINGS, env), staging=False)
    conn = RedshiftLogin(settings, prog).connect()
    where = f"Redshift database {settings['database']} at {settings['host']}"
    return RedshiftWarehouse(conn, settings["schema"], where)
