"""What the incremental-sync tests share: running a sync, changing the source like Airflow does,
and comparing the warehouse with the source row by row."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import psycopg2

from tests.support import meltano

SYNC = ("run", "tap-airflow-metadb", "target-duckdb", "airflow-audit-reconcile:duckdb")
# The default set plus the growing tables Airflow deletes from (db clean, UI deletes).
ADDITIONAL = "log,task_reschedule,task_instance_history,dag_run_note"


def sync(url: str, warehouse: Path, slug: str, **settings: str):
    env = {
        "AIRFLOW_AUDIT_SOURCE_URL": url,
        "AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse),
        "AIRFLOW_AUDIT_ENV_SLUG": slug,
        "AIRFLOW_AUDIT_ADDITIONAL_TABLES": ADDITIONAL,
    }
    env.update({f"AIRFLOW_AUDIT_{k.upper()}": v for k, v in settings.items()})
    return meltano(*SYNC, env=env)


def execute(url: str, *statements: str) -> int:
    """Run statements in one transaction; the row count of the last one."""
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
            return cur.rowcount
    finally:
        conn.close()


def scalar(url: str, sql: str) -> Any:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()[0]
    finally:
        conn.close()


def columns_of(url: str, table: str) -> list[str]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select column_name from information_schema.columns where table_schema = 'public' "
                "and table_name = %s order by ordinal_position",
                [table],
            )
            return [c for (c,) in cur.fetchall()]
    finally:
        conn.close()


def copy_rows(url: str, table: str, where: str, overrides: dict[str, str]) -> None:
    """INSERT ... SELECT of existing rows with some columns replaced (new runs, new events)."""
    cols = [c for c in columns_of(url, table) if c not in ("id",) or "id" in overrides]
    select = ", ".join(overrides.get(c, f'"{c}"') for c in cols)
    names = ", ".join(f'"{c}"' for c in cols)
    execute(url, f"insert into {table} ({names}) select {select} from {table} where {where}")


def _norm(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        value = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def warehouse_rows(
    warehouse: Path, schema: str, table: str, live: bool = True
) -> tuple[list[str], list[tuple]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cols = [
            c
            for (c,) in con.execute(
                "select column_name from information_schema.columns where table_schema = ? "
                "and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
            if not c.startswith("_sdc_") and not c.startswith("has_")
        ]
        where = " where _sdc_deleted_at is null" if live else ""
        rows = con.execute(
            "select " + ", ".join(f'"{c}"' for c in cols) + f' from "{schema}"."{table}"{where}'
        ).fetchall()
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ?",
                [schema, table],
            ).fetchall()
        )
    json_cols = {i for i, c in enumerate(cols) if types[c] == "JSON"}
    out = []
    for row in rows:
        out.append(
            tuple(
                _norm(json.loads(v)) if i in json_cols and v is not None else _norm(v)
                for i, v in enumerate(row)
            )
        )
    return cols, out


def assert_warehouse_equals_source(
    url: str, warehouse: Path, schema: str, tables: list[str]
) -> None:
    """Every live warehouse row equals a source row, column by column, and none is missing."""
    conn = psycopg2.connect(url)
    try:
        for table in tables:
            cols, got = warehouse_rows(warehouse, schema, table)
            with conn.cursor() as cur:
                cur.execute("select " + ", ".join(f'"{c}"' for c in cols) + f" from public.{table}")
                expected = [tuple(_norm(v) for v in row) for row in cur.fetchall()]
            assert len(got) == len(expected), (
                f"{table}: {len(got)} rows in the warehouse, {len(expected)} in the source"
            )
            diff = Counter(map(repr, expected)) - Counter(map(repr, got))
            assert not diff, f"{table}: rows differ, e.g. {next(iter(diff))}"
    finally:
        conn.close()


def extracts(warehouse: Path, schema: str) -> dict[str, tuple[bool, int, int]]:
    """table -> (full_read, records_sent, source_rows) of the last sync."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {
            t: (f, r, s)
            for t, f, r, s in con.execute(
                f'select table_name, full_read, records_sent, source_rows from "{schema}"._airflow_audit_extracts'
            ).fetchall()
        }


def sync_audit(warehouse: Path, schema: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            f"select table_name, source_rows, warehouse_rows, deleted_at_source, outcome "
            f'from "{schema}"._sync_audit order by started_at, table_name'
        ).fetchall()
