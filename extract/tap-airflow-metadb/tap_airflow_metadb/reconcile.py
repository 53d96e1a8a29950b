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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy as sa

from airflow_audit_loader.duckdb_target import quote, resolve_path, sql_string
from airflow_audit_loader.errors import UserError as LoaderUserError
from airflow_audit_loader.naming import destination_schema
from tap_airflow_metadb.errors import UserError
from tap_airflow_metadb.replication import EXTRACTS_STREAM
from tap_airflow_metadb.source import connection_problem, resolve_source_url

PROG = "airflow-audit-reconcile"
SYNC_AUDIT = "_sync_audit"
BUCKET_CHARS = 3  # 16**3 = 4096 buckets
SEPARATOR = "chr(31)"
LOCK_WAIT_SECONDS = 300


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


class Reconciler:
    def __init__(
        self, source: sa.engine.Engine, source_schema: str, con: Any, schema: str, mode: str
    ):
        self.source = source
        self.source_schema = source_schema
        self.con = con
        self.schema = schema
        self.mode = mode

    def run(self) -> list[Outcome]:
        extracts = self.con.execute(
            f"select table_name, snapshot_xmin from {self._wh(EXTRACTS_STREAM)} order by table_name"
        ).fetchall()
        self._ensure_audit_table()
        outcomes = []
        for table, snapshot_xmin in extracts:
            outcome = self.reconcile(table, int(snapshot_xmin))
            self._record(outcome)
            outcomes.append(outcome)
        return outcomes

    def _wh(self, table: str) -> str:
        return f"{quote(self.schema)}.{quote(table)}"

    def primary_key(self, table: str) -> list[str]:
        inspector = sa.inspect(self.source)
        return list(
            inspector.get_pk_constraint(table, schema=self.source_schema)["constrained_columns"]
        )

    def reconcile(self, table: str, snapshot_xmin: int) -> Outcome:
        started = dt.datetime.now(dt.timezone.utc)
        keys = self.primary_key(table)
        bookmark = str(snapshot_xmin % 2**32)
        src_table = f"{quote(self.source_schema)}.{quote(table)}"
        fresh = "age(xmin) <= age(cast(:bookmark as xid))"
        with (
            self.source.connect().execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            ) as conn,
            conn.begin(),
        ):
            source_rows = conn.execute(sa.text(f"select count(*) from {src_table}")).scalar_one()
            # Rows changed after the tap's snapshot are left out of the source's counts: a bucket
            # is equal only if nothing in it was deleted or changed since.
            source_buckets = dict(
                conn.execute(
                    sa.text(
                        f"select {bucket_expr(keys)}, count(*) from {src_table} "
                        f"where not ({fresh}) group by 1"
                    ).bindparams(bookmark=bookmark)
                ).all()
            )
            warehouse_buckets = dict(
                self.con.execute(
                    f"select {bucket_expr(keys)}, count(*) from {self._wh(table)} "
                    "where _sdc_deleted_at is null group by 1"
                ).fetchall()
            )
            differing = sorted(
                b
                for b in set(source_buckets) | set(warehouse_buckets)
                if source_buckets.get(b) != warehouse_buckets.get(b)
            )
            source_keys: dict[tuple, bool] = {}
            warehouse_keys: Counter[tuple] = Counter()
            if differing:
                cols = ", ".join(quote(k) for k in keys)
                for row in conn.execute(
                    sa.text(
                        f"select {cols}, {fresh} from {src_table} "
                        f"where {bucket_expr(keys)} = any(:buckets)"
                    ).bindparams(bookmark=bookmark, buckets=differing)
                ):
                    source_keys[normalise(row[:-1])] = bool(row[-1])
                for row in self.con.execute(
                    f"select {cols} from {self._wh(table)} where _sdc_deleted_at is null "
                    f"and {bucket_expr(keys)} in (select unnest(?))",
                    [differing],
                ).fetchall():
                    warehouse_keys[normalise(row)] += 1
        deleted = [k for k in warehouse_keys if k not in source_keys]
        missing = [k for k in source_keys if k not in warehouse_keys]
        arrived = [k for k in missing if source_keys[k]]
        lost = [k for k in missing if not source_keys[k]]
        duplicated = [k for k, n in warehouse_keys.items() if n > 1]
        # Deletes are applied only when the comparison is otherwise clean: a warehouse that
        # lacks rows it should have is not a trustworthy base to remove more from.
        if deleted and not lost and not duplicated:
            self.apply_deletes(table, keys, deleted)
        warehouse_rows = self.con.execute(
            f"select count(*) from {self._wh(table)} where _sdc_deleted_at is null"
        ).fetchone()[0]
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

    def apply_deletes(self, table: str, keys: list[str], deleted: list[tuple]) -> None:
        types = dict(
            self.con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ?",
                [self.schema, table],
            ).fetchall()
        )
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            for key in deleted:
                f.write(json.dumps(dict(zip(keys, key, strict=True)), default=_json_value) + "\n")
            path = f.name
        try:
            columns = (
                "{" + ", ".join(f"{sql_string(k)}: {sql_string(types[k])}" for k in keys) + "}"
            )
            match = " and ".join(f"t.{quote(k)} = d.{quote(k)}" for k in keys)
            deleted_rel = (
                f"read_json({sql_string(path)}, format='newline_delimited', columns={columns})"
            )
            self.con.execute("begin transaction")
            if self.mode == "mirror":
                self.con.execute(
                    f"delete from {self._wh(table)} t using {deleted_rel} d where {match}"
                )
            else:
                self.con.execute(
                    f"update {self._wh(table)} t set _sdc_deleted_at = ? from {deleted_rel} d "
                    f"where {match} and t._sdc_deleted_at is null",
                    [dt.datetime.now(dt.timezone.utc)],
                )
            self.con.execute("commit")
        finally:
            os.unlink(path)

    def _ensure_audit_table(self) -> None:
        self.con.execute(
            f"""create table if not exists {self._wh(SYNC_AUDIT)} (
                table_name varchar, mode varchar, source_rows bigint, warehouse_rows bigint,
                deleted_at_source bigint, arrived_after_extract bigint,
                missing_in_warehouse bigint, duplicated_in_warehouse bigint,
                buckets_compared bigint, started_at timestamptz, ended_at timestamptz,
                outcome varchar)"""
        )

    def _record(self, o: Outcome) -> None:
        self.con.execute(
            f"insert into {self._wh(SYNC_AUDIT)} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ],
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", nargs="?", default="duckdb", choices=["duckdb"])
    parser.parse_args(argv)
    env = os.environ
    try:
        mode = (env.get("AIRFLOW_AUDIT_MODE") or "mirror").strip().lower()
        if mode not in ("mirror", "archive"):
            raise UserError(f"AIRFLOW_AUDIT_MODE is {mode!r}: use 'mirror' or 'archive'.")
        try:
            schema = destination_schema(
                env.get("AIRFLOW_AUDIT_ENV_SLUG"),
                env.get("AIRFLOW_AUDIT_DESTINATION_SCHEMA"),
                "duckdb",
            )
            path = resolve_path(env.get("AIRFLOW_AUDIT_DUCKDB_PATH"))
        except LoaderUserError as exc:
            raise UserError(str(exc)) from None
        url = resolve_source_url(env.get("AIRFLOW_AUDIT_SOURCE_URL"))
        source_schema = (env.get("AIRFLOW_AUDIT_SOURCE_SCHEMA") or "").strip() or "public"
        engine = sa.create_engine(url, connect_args={"connect_timeout": 15})
        con = connect_warehouse(path)
        try:
            has_extracts = con.execute(
                "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
                [schema, EXTRACTS_STREAM],
            ).fetchone()[0]
            if not has_extracts:
                raise UserError(
                    f"Nothing to reconcile in schema {schema!r} of {path}: run the sync first "
                    "(meltano run airflow-audit)."
                )
            try:
                outcomes = Reconciler(engine, source_schema, con, schema, mode).run()
            except sa.exc.OperationalError as exc:
                raise UserError(connection_problem(url, exc)) from None
        finally:
            con.close()
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
