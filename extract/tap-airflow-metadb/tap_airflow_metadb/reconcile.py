"""airflow-audit-reconcile: after every sync, prove the warehouse equals the source.

For each table the tap read (the `_airflow_audit_extracts` table it leaves in the warehouse says
which, and in which snapshot), compare primary keys, source against warehouse:

* keys the warehouse has and the source no longer has were deleted at the source (by
  `airflow db clean`, a UI delete ...): `mirror` deletes them, `archive` keeps them with
  `_sdc_deleted_at` set;
* keys the source has and the warehouse lacks are fine if the row changed after the tap's
  snapshot (the next sync brings it); otherwise the warehouse lost it: the run fails;
* a key twice in the warehouse fails the run.

Keys are compared bucket by bucket (md5 of the key, 4096 buckets) and fetched only for buckets
whose counts differ, so an unchanged million-row table costs two grouped scans, not a transfer.
Each table's outcome is appended to `_sync_audit` in the destination schema.

The warehouse side is an adapter (`Warehouse`): DuckDB (`airflow-audit-reconcile duckdb`) or
Redshift (`airflow-audit-reconcile redshift`, which logs in as the Redshift loader does).  An
adapter also says how a key becomes text on the source, since a bucket is only comparable when
both sides render every key byte for byte the same.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy as sa

from airflow_audit_loader.duckdb_target import quote, resolve_path, sql_string
from airflow_audit_loader.errors import UserError as LoaderUserError
from airflow_audit_loader.naming import destination_schema
from tap_airflow_metadb.errors import UserError
from tap_airflow_metadb.policy import archived_table
from tap_airflow_metadb.replication import EXTRACTS_STREAM
from tap_airflow_metadb.source import connection_problem, resolve_source_url

PROG = "airflow-audit-reconcile"
SYNC_AUDIT = "_sync_audit"
BUCKET_CHARS = 3  # 16**3 = 4096 buckets
SEPARATOR = "chr(31)"
LOCK_WAIT_SECONDS = 300
WAREHOUSES = ("duckdb", "redshift")


@dataclass
class Outcome:
    table: str
    source_rows: int
    warehouse_rows: int
    deleted_at_source: int
    arrived_after_extract: int
    missing_in_warehouse: int
    duplicated_in_warehouse: int
    buckets_compared: int
    started_at: dt.datetime
    ended_at: dt.datetime

    @property
    def outcome(self) -> str:
        if self.missing_in_warehouse or self.duplicated_in_warehouse:
            return "mismatch"
        return "ok"


@dataclass(frozen=True)
class KeyColumn:
    """A primary-key column and how its values must be rendered as text: `timestamp`, `date`,
    `boolean`, or `text` (integers, strings, uuids: their plain cast)."""

    name: str
    kind: str = "text"


def key_kind(column_type: Any) -> str:
    """A source column's SQLAlchemy type -> its KeyColumn kind."""
    if isinstance(column_type, sa.DateTime):
        return "timestamp"
    if isinstance(column_type, sa.Date):
        return "date"
    if isinstance(column_type, sa.Boolean):
        return "boolean"
    return "text"


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


def key_text(columns: Sequence[str]) -> str:
    return (
        f"concat_ws({SEPARATOR}, "
        + ", ".join(f"cast({quote(c)} as varchar)" for c in columns)
        + ")"
    )


def bucket_expr(columns: Sequence[str]) -> str:
    return f"substr(md5({key_text(columns)}), 1, {BUCKET_CHARS})"


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

    def extracts(self) -> list[tuple[str, int]]:
        """(table, snapshot_xmin) of every table the tap read, by table name."""
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

    def ensure_audit_table(self) -> None:
        raise NotImplementedError

    def record(self, row: list[Any]) -> None:
        """Append one row to _sync_audit."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class DuckDBWarehouse(Warehouse):
    """A DuckDB file: both sides render keys with concat_ws(chr(31), cast(... as varchar))."""

    def __init__(self, con: Any, schema: str, path: Path | None = None) -> None:
        super().__init__(schema)
        self.con = con
        self.path = path

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

    def extracts(self) -> list[tuple[str, int]]:
        return self.con.execute(
            f"select table_name, snapshot_xmin from {self.table(EXTRACTS_STREAM)} order by table_name"
        ).fetchall()

    def bucket_counts(self, table: str, keys: Sequence[KeyColumn]) -> dict[str, int]:
        return dict(
            self.con.execute(
                f"select {bucket_expr([k.name for k in keys])}, count(*) from {self.table(table)} "
                "where _sdc_deleted_at is null group by 1"
            ).fetchall()
        )

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

    def ensure_audit_table(self) -> None:
        self.con.execute(
            f"""create table if not exists {self.table(SYNC_AUDIT)} (
                table_name varchar, mode varchar, source_rows bigint, warehouse_rows bigint,
                deleted_at_source bigint, arrived_after_extract bigint,
                missing_in_warehouse bigint, duplicated_in_warehouse bigint,
                buckets_compared bigint, started_at timestamptz, ended_at timestamptz,
                outcome varchar)"""
        )

    def record(self, row: list[Any]) -> None:
        self.con.execute(
            f"insert into {self.table(SYNC_AUDIT)} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )

    def close(self) -> None:
        self.con.close()


# How a key column becomes text on Redshift and on the PostgreSQL source alike.  Both sessions
# run in UTC (the loader writes every timestamp in UTC, as TIMESTAMPTZ), and to_char renders a
# time the same way on both, microseconds always six digits (a cast would trim trailing zeros
# differently, and would follow each session's DateStyle).
REDSHIFT_TIMESTAMP_TEXT = "to_char({c}, 'YYYY-MM-DD HH24:MI:SS.US')"
REDSHIFT_DATE_TEXT = "to_char({c}, 'YYYY-MM-DD')"
REDSHIFT_BOOLEAN_TEXT = "case when {c} then 'true' else 'false' end"
# Redshift's VARCHAR without a length is VARCHAR(256): casts name the longest one.
REDSHIFT_CAST = "cast({c} as varchar(65535))"
# Temporary table of the keys to delete (or mark), one per transaction.
REDSHIFT_DELETED_KEYS = "airflow_audit_deleted_keys"
REDSHIFT_INSERT_PAGE_ROWS = 1000


def redshift_key_text(keys: Sequence[KeyColumn], *, source: bool) -> str:
    """The key as one text: its columns' texts joined by chr(31) (Redshift has no concat_ws)."""
    parts = []
    for key in keys:
        column = quote(key.name)
        if key.kind == "timestamp":
            text = REDSHIFT_TIMESTAMP_TEXT
        elif key.kind == "date":
            text = REDSHIFT_DATE_TEXT
        elif key.kind == "boolean":
            text = REDSHIFT_BOOLEAN_TEXT
        else:
            # uuid -> its lower-case text, as the tap sends it; integers and strings as they are.
            text = "cast({c} as varchar)" if source else REDSHIFT_CAST
        parts.append(text.format(c=column))
    return f" || {SEPARATOR} || ".join(parts)


def redshift_bucket(keys: Sequence[KeyColumn], *, source: bool) -> str:
    return f"substring(md5({redshift_key_text(keys, source=source)}), 1, {BUCKET_CHARS})"


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

    source_session = ("set local timezone to 'UTC'",)

    def __init__(self, conn: Any, schema: str, where: str) -> None:
        super().__init__(schema)
        self.conn = conn
        self.where = where

    def source_bucket(self, keys: Sequence[KeyColumn]) -> str:
        return redshift_bucket(keys, source=True)

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

    def extracts(self) -> list[tuple[str, int]]:
        return self._run(
            f"select table_name, snapshot_xmin from {self.table(EXTRACTS_STREAM)} order by table_name"
        )

    def bucket_counts(self, table: str, keys: Sequence[KeyColumn]) -> dict[str, int]:
        return dict(
            self._run(
                f"select {redshift_bucket(keys, source=False)}, count(*) from {self.table(table)} "
                "where _sdc_deleted_at is null group by 1"
            )
        )

    def keys_in(self, table: str, keys: Sequence[KeyColumn], buckets: list[str]) -> list[tuple]:
        cols = ", ".join(quote(k.name) for k in keys)
        # psycopg2 renders a tuple as an IN list: ('a1f', '0c3', ...).
        return self._run(
            f"select {cols} from {self.table(table)} where _sdc_deleted_at is null "
            f"and {redshift_bucket(keys, source=False)} in %s",
            [tuple(buckets)],
        )

    def live_rows(self, table: str) -> int:
        return int(
            self._run(f"select count(*) from {self.table(table)} where _sdc_deleted_at is null")[0][
                0
            ]
        )

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

    def ensure_audit_table(self) -> None:
        self._run(
            f"""create table if not exists {self.table(SYNC_AUDIT)} (
                table_name varchar(256), mode varchar(16), source_rows bigint,
                warehouse_rows bigint, deleted_at_source bigint, arrived_after_extract bigint,
                missing_in_warehouse bigint, duplicated_in_warehouse bigint,
                buckets_compared bigint, started_at timestamptz, ended_at timestamptz,
                outcome varchar(16))""",
            fetch=False,
        )

    def record(self, row: list[Any]) -> None:
        self._run(
            f"insert into {self.table(SYNC_AUDIT)} values "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [redshift_value(v) for v in row],
            fetch=False,
        )

    def close(self) -> None:
        self.conn.close()


def refused(sql: str, exc: BaseException) -> str:
    text = str(exc).strip()
    reason = text.splitlines()[0] if text else type(exc).__name__
    return f"Redshift refused `{' '.join(sql.split())[:160]}`: {reason}"


class Reconciler:
    def __init__(
        self, source: sa.engine.Engine, source_schema: str, warehouse: Warehouse, mode: str
    ):
        self.source = source
        self.source_schema = source_schema
        self.warehouse = warehouse
        self.mode = mode

    def run(self) -> list[Outcome]:
        extracts = self.warehouse.extracts()
        self.warehouse.ensure_audit_table()
        outcomes = []
        for table, snapshot_xmin in extracts:
            outcome = self.reconcile(table, int(snapshot_xmin))
            self._record(outcome)
            outcomes.append(outcome)
        return outcomes

    def primary_key(self, table: str) -> list[KeyColumn]:
        inspector = sa.inspect(self.source)
        names = inspector.get_pk_constraint(table, schema=self.source_schema)["constrained_columns"]
        base = archived_table(table)
        if not names and base:  # a db clean archive: the key of the table it archives
            names = inspector.get_pk_constraint(base, schema=self.source_schema)[
                "constrained_columns"
            ]
        types = {
            c["name"]: c["type"] for c in inspector.get_columns(table, schema=self.source_schema)
        }
        return [KeyColumn(name, key_kind(types.get(name))) for name in names]

    def reconcile(self, table: str, snapshot_xmin: int) -> Outcome:
        started = dt.datetime.now(dt.timezone.utc)
        keys = self.primary_key(table)
        bookmark = str(snapshot_xmin % 2**32)
        src_table = f"{quote(self.source_schema)}.{quote(table)}"
        fresh = "age(xmin) <= age(cast(:bookmark as xid))"
        source_bucket = self.warehouse.source_bucket(keys)
        with (
            self.source.connect().execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            ) as conn,
            conn.begin(),
        ):
            for statement in self.warehouse.source_session:
                conn.execute(sa.text(statement))
            source_rows = conn.execute(sa.text(f"select count(*) from {src_table}")).scalar_one()
            # Rows changed after the tap's snapshot are left out of the source's counts: a bucket
            # is equal only if nothing in it was deleted or changed since.
            source_buckets = dict(
                conn.execute(
                    sa.text(
                        f"select {source_bucket}, count(*) from {src_table} "
                        f"where not ({fresh}) group by 1"
                    ).bindparams(bookmark=bookmark)
                ).all()
            )
            warehouse_buckets = self.warehouse.bucket_counts(table, keys)
            differing = sorted(
                b
                for b in set(source_buckets) | set(warehouse_buckets)
                if source_buckets.get(b) != warehouse_buckets.get(b)
            )
            source_keys: dict[tuple, bool] = {}
            warehouse_keys: Counter[tuple] = Counter()
            if differing:
                cols = ", ".join(quote(k.name) for k in keys)
                for row in conn.execute(
                    sa.text(
                        f"select {cols}, {fresh} from {src_table} "
                        f"where {source_bucket} = any(:buckets)"
                    ).bindparams(bookmark=bookmark, buckets=differing)
                ):
                    source_keys[normalise(row[:-1])] = bool(row[-1])
                for row in self.warehouse.keys_in(table, keys, differing):
                    warehouse_keys[normalise(row)] += 1
        deleted = [k for k in warehouse_keys if k not in source_keys]
        missing = [k for k in source_keys if k not in warehouse_keys]
        arrived = [k for k in missing if source_keys[k]]
        lost = [k for k in missing if not source_keys[k]]
        duplicated = [k for k, n in warehouse_keys.items() if n > 1]
        # Deletes are applied only when the comparison is otherwise clean: a warehouse that
        # lacks rows it should have is not a trustworthy base to remove more from.
        if deleted and not lost and not duplicated:
            self.warehouse.apply_deletes(table, keys, deleted, self.mode)
        warehouse_rows = self.warehouse.live_rows(table)
        return Outcome(
            table=table,
            source_rows=int(source_rows),
            warehouse_rows=int(warehouse_rows),
            deleted_at_source=len(deleted),
            arrived_after_extract=len(arrived),
            missing_in_warehouse=len(lost),
            duplicated_in_warehouse=len(duplicated),
            buckets_compared=len(differing),
            started_at=started,
            ended_at=dt.datetime.now(dt.timezone.utc),
        )

    def _record(self, o: Outcome) -> None:
        self.warehouse.record(
            [
                o.table,
                self.mode,
                o.source_rows,
                o.warehouse_rows,
                o.deleted_at_source,
                o.arrived_after_extract,
                o.missing_in_warehouse,
                o.duplicated_in_warehouse,
                o.buckets_compared,
                o.started_at,
                o.ended_at,
                o.outcome,
            ]
        )


def _json_value(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)


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


def parse_mode(env: Mapping[str, str]) -> str:
    mode = (env.get("AIRFLOW_AUDIT_MODE") or "mirror").strip().lower()
    if mode not in ("mirror", "archive"):
        raise UserError(f"AIRFLOW_AUDIT_MODE is {mode!r}: use 'mirror' or 'archive'.")
    return mode


def duckdb_settings(env: Mapping[str, str]) -> tuple[str, Path]:
    """The environment -> (schema, DuckDB file)."""
    try:
        schema = destination_schema(
            env.get("AIRFLOW_AUDIT_ENV_SLUG"),
            env.get("AIRFLOW_AUDIT_DESTINATION_SCHEMA"),
            "duckdb",
        )
        path = resolve_path(env.get("AIRFLOW_AUDIT_DUCKDB_PATH"))
    except LoaderUserError as exc:
        raise UserError(str(exc)) from None
    return schema, path


# The Redshift loader's settings (load/redshift.meltano.yml) that logging in needs; each is
# AIRFLOW_AUDIT_REDSHIFT_<NAME>, as Meltano gives them to the loader.
REDSHIFT_LOGIN_SETTINGS = (
    "host",
    "port",
    "database",
    "user",
    "password",
    "cluster_identifier",
    "workgroup",
    "sslmode",
    "s3_region",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
)


def redshift_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The environment -> the Redshift loader's checked configuration (no S3: nothing is staged)."""
    from airflow_audit_loader.warehouses import redshift_target_config

    config: dict[str, Any] = {
        name: env.get(f"AIRFLOW_AUDIT_REDSHIFT_{name.upper()}") for name in REDSHIFT_LOGIN_SETTINGS
    }
    config.update(
        env_slug=env.get("AIRFLOW_AUDIT_ENV_SLUG"),
        destination_schema=env.get("AIRFLOW_AUDIT_DESTINATION_SCHEMA"),
        mode=env.get("AIRFLOW_AUDIT_MODE"),
    )
    try:
        return redshift_target_config(config, staging=False)
    except LoaderUserError as exc:
        raise UserError(str(exc)) from None


def open_redshift(settings: dict[str, Any]) -> RedshiftWarehouse:
    """Log in as the Redshift loader does (password or IAM, sslmode; the session in UTC)."""
    from airflow_audit_loader.redshift_target import RedshiftLogin

    try:
        conn = RedshiftLogin(settings, PROG).connect()
    except LoaderUserError as exc:
        raise UserError(str(exc)) from None
    where = f"Redshift database {settings['database']} at {settings['host']}"
    return RedshiftWarehouse(conn, settings["schema"], where)


JOBS = {"duckdb": "airflow-audit", "redshift": "airflow-audit-redshift"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", nargs="?", default="duckdb", choices=WAREHOUSES)
    args = parser.parse_args(argv)
    env = os.environ
    try:
        mode = parse_mode(env)
        if args.warehouse == "redshift":
            settings = redshift_settings(env)
        else:
            schema, path = duckdb_settings(env)
        url = resolve_source_url(env.get("AIRFLOW_AUDIT_SOURCE_URL"))
        source_schema = (env.get("AIRFLOW_AUDIT_SOURCE_SCHEMA") or "").strip() or "public"
        engine = sa.create_engine(url, connect_args={"connect_timeout": 15})
        if args.warehouse == "redshift":
            warehouse: Warehouse = open_redshift(settings)
        else:
            warehouse = DuckDBWarehouse(connect_warehouse(path), schema, path)
        schema = warehouse.schema
        try:
            if not warehouse.has_extracts():
                raise UserError(
                    f"Nothing to reconcile in schema {schema!r} {warehouse.location()}: run the "
                    f"sync first (meltano run {JOBS[args.warehouse]})."
                )
            try:
                outcomes = Reconciler(engine, source_schema, warehouse, mode).run()
            except sa.exc.OperationalError as exc:
                raise UserError(connection_problem(url, exc)) from None
        finally:
            warehouse.close()
            engine.dispose()
        report(outcomes)
        bad = [o for o in outcomes if o.outcome != "ok"]
        if bad:
            first = bad[0]
            what = (
                f"lacks {first.missing_in_warehouse} rows that the source had when it was read"
                if first.missing_in_warehouse
                else f"holds {first.duplicated_in_warehouse} keys more than once"
            )
            others = (
                f" (and {len(bad) - 1} more tables, see {schema}.{SYNC_AUDIT})"
                if len(bad) > 1
                else ""
            )
            raise UserError(
                f"Reconciliation failed: the warehouse table {schema}.{first.table} {what}{others}; "
                f"rerun with AIRFLOW_AUDIT_FULL_REFRESH={','.join(o.table for o in bad)} to reload."
            )
    except UserError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)


def report(outcomes: list[Outcome]) -> None:
    for o in outcomes:
        extra = []
        if o.deleted_at_source:
            extra.append(f"{o.deleted_at_source} deleted at the source")
        if o.arrived_after_extract:
            extra.append(f"{o.arrived_after_extract} changed since the read (next sync)")
        if o.missing_in_warehouse:
            extra.append(f"{o.missing_in_warehouse} MISSING")
        if o.duplicated_in_warehouse:
            extra.append(f"{o.duplicated_in_warehouse} DUPLICATED")
        note = f" ({'; '.join(extra)})" if extra else ""
        print(
            f"{PROG}: {o.table}: source {o.source_rows}, warehouse {o.warehouse_rows}: "
            f"{o.outcome}{note}",
            file=sys.stderr,
            flush=True,
        )


if __name__ == "__main__":
    main()
