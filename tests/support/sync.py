"""What the incremental-sync tests share: running a sync, changing the source like Airflow does,
and comparing the warehouse with the source row by row."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg2

from tap_airflow_metadb import policy
from tests.fixtures import airflow_history
from tests.support import TEST_FINGERPRINT_KEY, assert_rows_equal, meltano

#: Every Airflow schema the fixtures hold (tests/fixtures/airflow/<version>/), oldest first.
ALL_VERSIONS = list(airflow_history.VERSIONS)

SYNC = (
    "run",
    "tap-airflow-metadb",
    "target-airflow-audit-duckdb",
    "airflow-audit-reconcile:duckdb",
)
# The default tables, as the README documents them (an independent copy of policy.DEFAULT_TABLES).
DEFAULT = [
    "ab_permission",
    "ab_role",
    "ab_user",
    "dag",
    "dag_run",
    "dag_tag",
    "import_error",
    "job",
    "task_fail",
    "task_instance",
]
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
    execute(url, copy_rows_sql(url, table, where, overrides))


def copy_rows_sql(url: str, table: str, where: str, overrides: dict[str, str]) -> str:
    """The statement copy_rows runs, to run it in a transaction of one's own."""
    cols = [c for c in columns_of(url, table) if c not in ("id",) or "id" in overrides]
    select = ", ".join(overrides.get(c, f'"{c}"') for c in cols)
    names = ", ".join(f'"{c}"' for c in cols)
    return f"insert into {table} ({names}) select {select} from {table} where {where}"


def airflow_changes(url: str) -> dict[str, int]:
    """Change the source the way Airflow does, often without touching updated_at."""
    has_uuid_id = "id" in columns_of(url, "task_instance")
    date_col = "logical_date" if "logical_date" in columns_of(url, "dag_run") else "execution_date"
    run = "(select dag_id, run_id from dag_run where state = '{}' order by id limit 1 offset {})"
    execute(
        url,
        # mark success of a failed run's failed tasks (no updated_at bump)
        f"update task_instance set state = 'success' where (dag_id, run_id) in {run.format('failed', 0)} and state = 'failed'",
        # a retry: a try more, up for retry
        "update task_instance set try_number = try_number + 1, state = 'up_for_retry' "
        "where ctid in (select ctid from task_instance where state = 'success' order by dag_id, task_id, run_id limit 5)",
        # clear a run: tasks reset, the run queued again, clear_number up
        f"update task_instance set state = null, max_tries = max_tries + try_number where (dag_id, run_id) in {run.format('success', 1)}",
        f"update dag_run set state = 'queued', clear_number = clear_number + 1 where (dag_id, run_id) in {run.format('success', 1)}",
        # mark a run failed
        f"update dag_run set state = 'failed' where (dag_id, run_id) in {run.format('success', 2)}",
    )
    # a backfill: an old run, created now, with its task instances
    source = run.format("success", 3)
    copy_rows(
        url,
        "dag_run",
        f"(dag_id, run_id) in {source}",
        {
            "run_id": "'backfill__' || run_id",
            "run_type": "'backfill'",
            date_col: f"{date_col} - interval '900 days'",
        },
    )
    ti_overrides = {"run_id": "'backfill__' || run_id"}
    if has_uuid_id:
        ti_overrides["id"] = "gen_random_uuid()"
    copy_rows(url, "task_instance", f"(dag_id, run_id) in {source}", ti_overrides)
    # new audit events
    copy_rows(url, "log", "id in (select id from log order by id limit 5)", {"dttm": "now()"})
    deleted_runs = scalar(
        url, f"select count(*) from dag_run where (dag_id, run_id) in {run.format('failed', 1)}"
    )
    execute(
        url,
        # a run deleted in the UI (its task instances go with it: ON DELETE CASCADE)
        f"delete from dag_run where (dag_id, run_id) in {run.format('failed', 1)}",
        # `airflow db clean`: the oldest log events and jobs
        "delete from log where id in (select id from log order by dttm limit 20)",
        "delete from job where id in (select id from job order by latest_heartbeat limit 1)",
    )
    return {"deleted_runs": deleted_runs}


# Values compared as read (most of them: a comparison of whole tables normalizes millions).
_AS_READ = frozenset({str, int, float, bool, type(None), Decimal, bytes})


def _norm(value: Any) -> Any:
    if type(value) in _AS_READ:
        return value
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


def warehouse_columns(con, schema: str, table: str) -> list[str]:
    return [
        c
        for (c,) in con.execute(
            "select column_name from information_schema.columns where table_schema = ? "
            "and table_name = ? order by ordinal_position",
            [schema, table],
        ).fetchall()
    ]


def warehouse_rows(
    warehouse: Path, schema: str, table: str, live: bool = True
) -> tuple[list[str], list[tuple]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cols = [
            c
            for c in warehouse_columns(con, schema, table)
            if not c.startswith("_sdc_") and c not in FLAG_SOURCES and c not in FINGERPRINT_SOURCES
        ]
        where = " where _sdc_deleted_at is null" if live else ""
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ?",
                [schema, table],
            ).fetchall()
        )
        # a zoned timestamp read as UTC wall time (_norm makes it UTC again): DuckDB's Python client
        # builds zoned datetimes about ten times slower than naive ones
        select = [
            f'timezone(\'UTC\', "{c}") as "{c}"'
            if types[c] == "TIMESTAMP WITH TIME ZONE"
            else f'"{c}"'
            for c in cols
        ]
        rows = con.execute(
            f'select {", ".join(select)} from "{schema}"."{table}"{where}'
        ).fetchall()
    json_cols = {i for i, c in enumerate(cols) if types[c] == "JSON"}
    if not json_cols:
        return cols, [tuple(map(_norm, row)) for row in rows]
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
    url: str,
    warehouse: Path,
    schema: str,
    tables: list[str],
    dropped_at_source: dict[str, set[str]] | None = None,
) -> None:
    """Every live warehouse row equals a source row, column by column, and none is missing.

    `dropped_at_source`: per table, the columns an in-place upgrade dropped at the source, which
    the warehouse keeps (with their history); they are left out of the comparison, and no other
    extra column is allowed."""
    conn = psycopg2.connect(url)
    try:
        for table in tables:
            cols, got = warehouse_rows(warehouse, schema, table)
            dropped = (dropped_at_source or {}).get(table, set())
            assert dropped <= set(cols), (
                f"{table}: the warehouse lost {sorted(dropped - set(cols))}"
            )
            if dropped:
                keep = [i for i, c in enumerate(cols) if c not in dropped]
                cols = [cols[i] for i in keep]
                got = [tuple(row[i] for i in keep) for row in got]
            # every column the secrets policy lets leave is there: none dropped on the way
            source_types = source_column_types(conn, table)
            expected_cols = set(policy.plan_table(table, source_types).read)
            assert set(cols) == expected_cols, (
                f"{table}: the warehouse lacks {sorted(expected_cols - set(cols))}, "
                f"has extra {sorted(set(cols) - expected_cols)}"
            )
            assert_flags_equal_source(conn, warehouse, schema, table)
            with conn.cursor() as cur:
                cur.execute("select " + ", ".join(f'"{c}"' for c in cols) + f" from public.{table}")
                expected = [tuple(map(_norm, row)) for row in cur.fetchall()]
            assert_rows_equal(table, cols, expected, got)
    finally:
        conn.close()


def source_column_types(conn, table: str) -> dict[str, str]:
    with conn.cursor() as cur:
        cur.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'public' and table_name = %s order by ordinal_position",
            [table],
        )
        return dict(cur.fetchall())


# The flags the warehouse carries instead of a secret, as the source itself says them.
FLAG_SOURCES = {"has_password": "password", "has_extra": "extra"}
# The fingerprints it carries instead: HMAC-SHA256 of the stored value under the run's key.
FINGERPRINT_SOURCES = {
    "password_fingerprint": "password",
    "extra_fingerprint": "extra",
    "val_fingerprint": "val",
}


def hmac_hex(key: str, value: str | None) -> str | None:
    """What a fingerprint must be, computed here by Python's hmac, independently of the tap's SQL."""
    import hashlib
    import hmac

    if value is None:
        return None
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


def assert_flags_equal_source(
    conn, warehouse: Path, schema: str, table: str, key: str | None = TEST_FINGERPRINT_KEY
) -> None:
    """Each has_* flag equals "the secret column is set" at the source, and each fingerprint the
    HMAC of the secret column's stored value under `key` (None: no key, so none), row by row."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        present = warehouse_columns(con, schema, table)
        flags = [c for c in present if c in FLAG_SOURCES]
        prints = [c for c in present if c in FINGERPRINT_SOURCES]
        if not flags and not prints:
            return
        got = sorted(
            con.execute(
                f'select {", ".join(["id", *flags, *prints])} from "{schema}"."{table}" '
                "where _sdc_deleted_at is null"
            ).fetchall(),
            key=lambda row: row[0],
        )
    exprs = [f"coalesce({FLAG_SOURCES[f]}, '') <> ''" for f in flags]
    exprs += [f"{FINGERPRINT_SOURCES[f]}::text" for f in prints]
    with conn.cursor() as cur:
        cur.execute(f"select id, {', '.join(exprs)} from public.{table}")
        rows = cur.fetchall()
    expected = sorted(
        (
            (
                *row[: 1 + len(flags)],
                *(hmac_hex(key, v) if key else None for v in row[1 + len(flags) :]),
            )
            for row in rows
        ),
        key=lambda row: row[0],
    )
    assert got == expected, (
        f"{table}: the flags/fingerprints {flags + prints} differ from the source"
    )


def extracts(warehouse: Path, schema: str) -> dict[str, tuple[bool, int, int]]:
    """table -> (full_read, records_sent, source_rows) of the last sync."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {
            t: (f, r, s)
            for t, f, r, s in con.execute(
                f'select table_name, full_read, records_sent, source_rows from "{schema}"._airflow_audit_extracts'
            ).fetchall()
        }


def extractions(warehouse: Path, schema: str, table: str) -> list[str]:
    """What the extractor did with `table`, sync after sync (_sync_audit.extraction)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return [
            e
            for (e,) in con.execute(
                f'select extraction from "{schema}"._sync_audit where table_name = ? '
                "order by started_at",
                [table],
            ).fetchall()
        ]


def sync_audit(warehouse: Path, schema: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            f"select table_name, source_rows, warehouse_rows, deleted_at_source, outcome "
            f'from "{schema}"._sync_audit order by started_at, table_name'
        ).fetchall()


# ---------------------------------------------------------------------------------------------------------
# One full job per Airflow version and test session, shared by the modules that only read its result
# ---------------------------------------------------------------------------------------------------------

MARTS = "airflow-local_marts"
RAW = "airflow-local"


def dbt_paths(directory: Path) -> dict[str, str]:
    """dbt's target/ and logs/ under `directory`: the plugin's setting (DBT_DUCKDB_*), and dbt's own
    variables for a plugin definition without that setting."""
    target, logs = str(directory / "target"), str(directory / "logs")
    return {
        "DBT_DUCKDB_TARGET_PATH": target,
        "DBT_DUCKDB_LOG_PATH": logs,
        "DBT_TARGET_PATH": target,
        "DBT_LOG_PATH": logs,
    }


def run_job(env: dict[str, str], system_db: str) -> str:
    """`meltano run airflow-audit`, reading every table in full (no saved state is used)."""
    done = meltano(
        "run", "--full-refresh", "airflow-audit", env={**env, "MELTANO_DATABASE_URI": system_db}
    )
    assert done.returncode == 0, done.stderr[-6000:]
    assert "WARN=0 ERROR=0" in done.stderr, "dbt build should pass every test without warning"
    return done.stderr


def raw_counts(warehouse: Path) -> dict[str, int]:
    """Rows per raw table (the pipeline's own `_` bookkeeping tables left out)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_name from duckdb_tables() where schema_name = ? "
            "and not starts_with(table_name, '_')",
            [RAW],
        ).fetchall()
        return {
            t: con.execute(f'select count(*) from "{RAW}"."{t}"').fetchone()[0] for (t,) in tables
        }


def source_counts(url: str) -> dict[str, int]:
    """Rows per Airflow table at the source (the alembic tables left out: the tap does not copy them)."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select table_name from information_schema.tables where table_schema = 'public' "
                "and table_type = 'BASE TABLE' and table_name not like 'alembic_version%'"
            )
            counts = {}
            for (table,) in cur.fetchall():
                cur.execute(f'select count(*) from public."{table}"')
                counts[table] = cur.fetchone()[0]
            return counts
    finally:
        conn.close()


_FULL_JOBS: dict[str, dict[str, Any]] = {}
# The full jobs' AIRFLOW_AUDIT_TREND_WINDOW_DAYS (test_marts computes the trends with it).
TREND_WINDOW_DAYS = 1


def full_job(version: str, airflow_db, tmp_path_factory) -> dict[str, Any]:
    """`meltano run --full-refresh airflow-audit` copying EVERY table (AIRFLOW_AUDIT_TABLES='[]'), in
    archive mode, on a freshly filled database of `version`: run once per test session and shared.

    The source and warehouse row counts are taken right after the run: a module that changes the source
    afterwards (test_marts does `airflow db clean`) leaves them as they were. The caller may run the job
    again on the same source and warehouse with `run_job(entry["env"], entry["system_db"])`.
    """
    if version not in _FULL_JOBS:
        slug = version.replace(".", "_")
        url = airflow_db(version, f"full_{slug}")
        workdir = tmp_path_factory.mktemp(f"full-{slug}")
        warehouse = workdir / "airflow_audit.duckdb"
        env = {
            "AIRFLOW_AUDIT_SOURCE_URL": url,
            "AIRFLOW_AUDIT_TABLES": "[]",
            "AIRFLOW_AUDIT_MODE": "archive",
            "AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse),
            # the fill holds a few days: duration trends compare the last day with the one before
            "AIRFLOW_AUDIT_TREND_WINDOW_DAYS": str(TREND_WINDOW_DAYS),
            **dbt_paths(workdir),
        }
        system_db = f"sqlite:///{workdir / 'meltano.db'}"
        log = run_job(env, system_db)
        _FULL_JOBS[version] = {
            "version": version,
            "url": url,
            "workdir": workdir,
            "warehouse": warehouse,
            "env": env,
            "system_db": system_db,
            "log": log,
            # the first build's manifest: a later run_job on this warehouse writes its own
            "manifest": json.loads((workdir / "target" / "manifest.json").read_text()),
            "source_counts": source_counts(url),
            "warehouse_counts": raw_counts(warehouse),
        }
    return _FULL_JOBS[version]


def until_second_activate_version(messages: str, stream: str) -> str:
    """The messages of a tap interrupted just before it closed the full read of `stream`."""
    seen = 0
    kept = []
    for line in messages.splitlines(keepends=True):
        if '"ACTIVATE_VERSION"' in line and json.loads(line)["stream"] == stream:
            seen += 1
            if seen == 2:
                break
        kept.append(line)
    assert seen == 2, f"{stream} has no complete full read in the messages"
    return "".join(kept)
