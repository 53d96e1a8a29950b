"""The Snowflake and BigQuery reconcile adapters' SQL, checked offline.

Each adapter's statements are parsed in their warehouse's dialect (sqlglot, unsupported syntax
raising) and executed, translated by sqlglot, on DuckDB holding the same rows, so what they
compute can be compared with what the source computes: the bucket of every key must be the md5
of the key text the PostgreSQL source renders (`SOURCE_TEXT`, checked against PostgreSQL in
tests/load/test_redshift.py and in this file's integration test), deletes and marks must hit
exactly the given keys.  A real BigQuery is not reachable from CI; Snowflake's adapter also
runs end to end on fakesnow (tests/load/test_warehouses.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib

import duckdb
import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from airflow_audit_loader.bigquery.reconcile import BigQueryWarehouse, transaction
from airflow_audit_loader.duckdb import reconcile as duckdb_reconcile
from airflow_audit_loader.duckdb.reconcile import DuckDBWarehouse
from airflow_audit_loader.duckdb.settings import memory_bytes
from airflow_audit_loader.reconcile_adapter import (
    SOURCE_TEXT,
    Extract,
    KeyColumn,
    KeyTextWarehouse,
    LastCheck,
    joined_key_text,
    key_value_text,
    normalise,
)
from airflow_audit_loader.snowflake.reconcile import SnowflakeWarehouse

UTC = dt.timezone.utc
PLUS2 = dt.timezone(dt.timedelta(hours=2))
KEYS = [
    KeyColumn("id"),
    KeyColumn("ts", "timestamp"),
    KeyColumn("d", "date"),
    KeyColumn("b", "boolean"),
    KeyColumn("s"),
]
ROWS = [
    (1, dt.datetime(2024, 1, 2, 3, 4, 5, 120000, tzinfo=PLUS2), dt.date(2024, 1, 2), True, "a"),
    (20, dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), dt.date(2024, 1, 3), False, "it's"),
    (
        300,
        dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        dt.date(1999, 12, 31),
        True,
        "ü",
    ),
    (4000, dt.datetime(2024, 6, 1, 0, 0, 0, 1, tzinfo=PLUS2), dt.date(2024, 6, 1), False, "x y"),
]


def expected_bucket(row: tuple) -> str:
    text = chr(31).join(key_value_text(v) for v in normalise(row))
    return hashlib.md5(text.encode()).hexdigest()[:3]


class OnDuckDB:
    """Runs an adapter's statements on DuckDB, after parsing them strictly in `dialect`."""

    def __init__(self, dialect: str, table: str, catalog: str, schema: str) -> None:
        self.dialect = dialect
        self.con = duckdb.connect()
        self.con.execute("set timezone = 'UTC'")
        if catalog:
            self.con.execute(f"attach ':memory:' as {catalog}")
        where = f"{catalog}.{schema}" if catalog else schema
        self.con.execute(f"create schema {where}")
        self.con.execute(
            f"create table {where}.{table} (id bigint, ts timestamptz, d date, b boolean, "
            "s varchar, _sdc_deleted_at timestamptz)"
        )
        self.con.executemany(
            f"insert into {where}.{table} values (?, ?, ?, ?, ?, null)", [list(r) for r in ROWS]
        )
        self.where = where
        self.statements: list[str] = []

    def run_named(self, sql: str) -> tuple[list[str], list[tuple]]:
        rows = self.run(sql)
        return [d[0] for d in self.con.description], rows

    def run(self, sql: str) -> list[tuple]:
        self.statements.append(sql)
        parsed = sqlglot.parse(sql, read=self.dialect, error_level=ErrorLevel.RAISE)
        result: list[tuple] = []
        for statement in parsed:
            if statement is None:
                continue
            translated = statement.sql(dialect="duckdb")
            if translated.upper().startswith(("BEGIN", "COMMIT")):
                continue
            result = self.con.execute(translated).fetchall()
        return result


def adapter(kind: str) -> tuple[KeyTextWarehouse, OnDuckDB]:
    if kind == "snowflake":
        warehouse: KeyTextWarehouse = SnowflakeWarehouse(None, "AIRFLOW_LOCAL", "fakes")
        runner = OnDuckDB("snowflake", "T", "", "AIRFLOW_LOCAL")
    else:
        warehouse = BigQueryWarehouse(None, "proj", "airflow_local")
        runner = OnDuckDB("bigquery", "t", "proj", "airflow_local")
    warehouse._run = runner.run  # type: ignore[method-assign]
    warehouse._run_named = runner.run_named  # type: ignore[method-assign]
    warehouse._script = lambda statements: runner.run(  # type: ignore[method-assign]
        transaction(statements) if kind == "bigquery" else ";\n".join(statements)
    )
    return warehouse, runner


@pytest.mark.parametrize("kind", ["snowflake", "bigquery"])
def test_buckets_are_the_md5_of_the_sources_key_text(kind):
    warehouse, _ = adapter(kind)
    counts = warehouse.bucket_counts("t", KEYS)
    expected: dict[str, int] = {}
    for row in ROWS:
        expected[expected_bucket(row)] = expected.get(expected_bucket(row), 0) + 1
    assert counts == expected


@pytest.mark.parametrize("kind", ["snowflake", "bigquery"])
def test_keys_in_a_bucket_come_back_whole(kind):
    warehouse, _ = adapter(kind)
    bucket = expected_bucket(ROWS[1])
    (key,) = warehouse.keys_in("t", KEYS, [bucket])
    assert normalise(key) == normalise(ROWS[1])


@pytest.mark.parametrize("kind", ["snowflake", "bigquery"])
def test_distinct_live_keys_count_each_key_once(kind):
    """What the counts proof of compare.py relies on: a key held twice counts once, a row marked
    deleted not at all."""
    warehouse, runner = adapter(kind)
    assert warehouse.distinct_live_keys("t", KEYS) == len(ROWS)
    runner.con.execute(f"insert into {runner.where}.t select * from {runner.where}.t where id = 20")
    runner.con.execute(f"update {runner.where}.t set _sdc_deleted_at = now() where id = 300")
    assert warehouse.live_rows("t") == len(ROWS)
    assert warehouse.distinct_live_keys("t", KEYS) == len(ROWS) - 1


@pytest.mark.parametrize("keys_per_pass", [1_000_000, 2])
def test_duckdb_distinct_live_keys_count_each_key_once(monkeypatch, keys_per_pass):
    """DuckDB's adapter counts the keys' hashes: a key held twice counts once, a row marked
    deleted or a key with a null part not at all, so the counts proof takes the table only when
    every live key is there once; in one pass or in several (a large table), the same."""
    monkeypatch.setattr(duckdb_reconcile, "KEYS_PER_PASS", keys_per_pass)
    con = duckdb.connect()
    con.execute('create schema "airflow-x"')
    con.execute(
        'create table "airflow-x".t (id bigint, ts timestamptz, d date, b boolean, s varchar, '
        "_sdc_deleted_at timestamptz)"
    )
    con.executemany('insert into "airflow-x".t values (?, ?, ?, ?, ?, null)', ROWS)
    warehouse = DuckDBWarehouse(con, "airflow-x")
    assert warehouse.distinct_live_keys("t", KEYS) == warehouse.live_rows("t") == len(ROWS)
    con.execute('insert into "airflow-x".t select * from "airflow-x".t where id = 20')
    con.execute('update "airflow-x".t set _sdc_deleted_at = now() where id = 300')
    assert warehouse.live_rows("t") == len(ROWS)
    assert warehouse.distinct_live_keys("t", KEYS) == len(ROWS) - 1
    # the same key but for one part: another key
    con.execute(
        'delete from "airflow-x".t where id = 20 and rowid = (select max(rowid) from "airflow-x".t)'
    )
    con.execute(
        'insert into "airflow-x".t select id, ts, d, b, s || \'!\', null from "airflow-x".t where id = 20'
    )
    assert warehouse.distinct_live_keys("t", KEYS) == warehouse.live_rows("t") == len(ROWS)
    con.execute(
        'insert into "airflow-x".t select id + 1, ts, d, b, null, null from "airflow-x".t where id = 1'
    )
    assert warehouse.live_rows("t") == len(ROWS) + 1
    assert warehouse.distinct_live_keys("t", KEYS) == len(ROWS)


def same_limit(shown: str, expected: str) -> bool:
    """DuckDB shows a memory limit rounded: its default 18.8 GiB, set back, shows 18.7 GiB."""
    return abs(memory_bytes(shown) - memory_bytes(expected)) <= memory_bytes(expected) / 100


def scans_in_one_mib(monkeypatch) -> None:
    """The scans' own memory limit at 1 MiB, whatever the threads."""
    monkeypatch.setattr(duckdb_reconcile, "SCAN_MEMORY_AT_LEAST", 2**20)
    monkeypatch.setattr(duckdb_reconcile, "SCAN_MEMORY_PER_THREAD", 1)


def limited_warehouse(
    tmp_path, configured: str | None
) -> tuple[duckdb.DuckDBPyConnection, str, str]:
    """A DuckDB file with schema airflow-x under the `configured` memory limit (None: DuckDB's
    default), DuckDB's default limit and the limit in force, as DuckDB shows them."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    default = con.execute("select current_setting('memory_limit')").fetchone()[0]
    if configured:
        con.execute(f"set memory_limit = '{configured}'")
    expected_limit = con.execute("select current_setting('memory_limit')").fetchone()[0]
    con.execute('create schema "airflow-x"')
    return con, default, expected_limit


def watching(con, prefix: str) -> tuple[object, list[str]]:
    """The connection, noting the memory limit each statement starting with `prefix` ran under,
    and that list."""
    limits_seen: list[str] = []

    class Watching:
        def execute(self, sql, *args):
            if sql.startswith(prefix):
                limits_seen.append(
                    con.execute("select current_setting('memory_limit')").fetchone()[0]
                )
            return con.execute(sql, *args)

    return Watching(), limits_seen


@pytest.mark.parametrize("configured", [None, "384MB", "16MB"])
@pytest.mark.parametrize("scan_memory", ["enough", "too little"])
def test_duckdb_bucket_counts_run_under_a_limit_of_their_own(
    monkeypatch, tmp_path, configured, scan_memory
):
    """DuckDB's bucket counts run under a memory limit of their own (so the key columns they read
    do not stay cached up to the configured one), and again under the configured limit when theirs
    is too little; either way the counts are the md5 buckets of every live key, and the configured
    limit (or DuckDB's default) is back afterwards."""
    if scan_memory == "too little":
        # 300,000 keys grouped in 1MB run out of memory (checked below: the limit was in force)
        scans_in_one_mib(monkeypatch)
    con, default, expected_limit = limited_warehouse(tmp_path, configured)
    con.execute(
        'create table "airflow-x".t as select range as id, md5(cast(range as varchar)) as s, '
        "cast(null as timestamptz) as _sdc_deleted_at from range(300000)"
    )
    con.execute('update "airflow-x".t set _sdc_deleted_at = now() where id % 3 = 0')
    keys = [KeyColumn("id"), KeyColumn("s")]
    expected: dict[str, int] = {}
    for (key_text,) in con.execute(
        'select concat_ws(chr(31), cast(id as varchar), s) from "airflow-x".t '
        "where _sdc_deleted_at is null"
    ).fetchall():
        bucket = hashlib.md5(key_text.encode()).hexdigest()[:3]
        expected[bucket] = expected.get(bucket, 0) + 1
    watched, limits_seen = watching(con, "select substr(md5(")
    warehouse = DuckDBWarehouse(watched, "airflow-x", memory_limit=configured)
    assert warehouse.bucket_counts("t", keys) == expected
    assert sum(expected.values()) == 200000
    after = con.execute("select current_setting('memory_limit')").fetchone()[0]
    assert same_limit(after, expected_limit)
    assert configured or expected_limit == default
    # and in force: the counts take more than 1 MiB (DuckDB 1.4.5's `reset` reported the default
    # and kept the lower limit)
    assert (
        dict(
            con.execute(
                "select substr(md5(concat_ws(chr(31), cast(id as varchar), s)), 1, 3), count(*) "
                'from "airflow-x".t where _sdc_deleted_at is null group by 1'
            ).fetchall()
        )
        == expected
    )
    if scan_memory == "too little":  # its own limit (1 MiB) ran out: again under the configured
        expected_seen = ["1.0 MiB", expected_limit]
    elif configured == "16MB":  # lower than its own (32 MiB): the configured limit alone
        expected_seen = [expected_limit]
    else:
        expected_seen = ["32.0 MiB"]
    assert len(limits_seen) == len(expected_seen)
    assert all(map(same_limit, limits_seen, expected_seen))


@pytest.mark.parametrize("configured", [None, "384MB"])
@pytest.mark.parametrize("scan_memory", ["enough", "too little"])
def test_duckdb_twice_written_since_runs_under_a_limit_of_its_own(
    monkeypatch, tmp_path, configured, scan_memory
):
    """The check of the keys written since the last one reads every key of the table and holds the
    written keys' hashes: it runs under a limit of its own, the scans' (so the key columns do not
    stay cached up to the configured limit) plus HELD_BYTES_PER_WRITTEN_KEY for each written row,
    and again under the configured limit when that runs out; the count is the same either way."""
    if scan_memory == "too little":
        # 100,000 written keys' hashes in 1 MiB run out of memory
        scans_in_one_mib(monkeypatch)
        monkeypatch.setattr(duckdb_reconcile, "HELD_BYTES_PER_WRITTEN_KEY", 0)
    checked = dt.datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
    con, _, expected_limit = limited_warehouse(tmp_path, configured)
    # 400,000 rows written before the check, 100,000 since: 7 of them under a key held before
    con.execute(
        'create table "airflow-x".t as select range as id, md5(cast(range as varchar)) as s, '
        "case when range < 400000 then ?::timestamptz else ?::timestamptz end as _sdc_batched_at, "
        "cast(null as timestamptz) as _sdc_deleted_at from range(500000)",
        [checked - dt.timedelta(days=1), checked + dt.timedelta(minutes=1)],
    )
    con.execute(
        'update "airflow-x".t set id = id - 100000, s = md5(cast(id - 100000 as varchar)) '
        "where id between 400000 and 400006"
    )
    watched, limits_seen = watching(con, "select (select count(*)")
    warehouse = DuckDBWarehouse(watched, "airflow-x", memory_limit=configured)
    keys = [KeyColumn("id"), KeyColumn("s")]
    assert warehouse.twice_written_since("t", keys, checked) == 7
    assert same_limit(
        con.execute("select current_setting('memory_limit')").fetchone()[0], expected_limit
    )
    (threads,) = con.execute("select current_setting('threads')").fetchone()
    scans = max(32 * 2**20, int(threads) * 8 * 2**20)
    own = f"{(scans + 100_000 * 256) // 2**20}MiB" if scan_memory == "enough" else "1MiB"
    expected_seen = [own] if scan_memory == "enough" else [own, expected_limit]
    assert len(limits_seen) == len(expected_seen)
    assert all(map(same_limit, limits_seen, expected_seen))


def test_duckdb_counts_twice_held_keys_among_the_rows_written_since(monkeypatch):
    """What the counts proof reads on DuckDB instead of every distinct key: the keys of the rows
    written since the last check (by `_sdc_batched_at`, as the loader stamps what it writes)
    held twice, and written rows with a null key part; nothing to say above KEYS_PER_PASS
    written rows."""
    checked = dt.datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
    before, after = checked - dt.timedelta(days=1), checked + dt.timedelta(minutes=30)
    con = duckdb.connect()
    con.execute('create schema "airflow-x"')
    con.execute(
        'create table "airflow-x".t (id bigint, ts timestamptz, d date, b boolean, s varchar, '
        "_sdc_batched_at timestamptz, _sdc_deleted_at timestamptz)"
    )
    con.executemany(
        'insert into "airflow-x".t values (?, ?, ?, ?, ?, ?, null)', [[*r, before] for r in ROWS]
    )
    warehouse = DuckDBWarehouse(con, "airflow-x")
    assert warehouse.twice_written_since("t", KEYS, checked) == 0
    # a row written since with a new key (null key parts), another that replaced its key's row
    con.execute("insert into \"airflow-x\".t values (5, null, null, null, 'n', ?, null)", [after])
    con.execute('delete from "airflow-x".t where id = 20')
    con.execute('insert into "airflow-x".t values (?, ?, ?, ?, ?, ?, null)', [*ROWS[1], after])
    assert warehouse.twice_written_since("t", KEYS, checked) == 1  # the null key parts of id 5
    con.execute('delete from "airflow-x".t where id = 5')
    assert warehouse.twice_written_since("t", KEYS, checked) == 0
    # a row written since under a key an old row holds: twice; the old row marked deleted: once
    con.execute('insert into "airflow-x".t values (?, ?, ?, ?, ?, ?, null)', [*ROWS[2], after])
    assert warehouse.twice_written_since("t", KEYS, checked) == 1
    assert warehouse.twice_written_since("t", KEYS, after + dt.timedelta(seconds=1)) == 0
    con.execute(
        'update "airflow-x".t set _sdc_deleted_at = ? where id = 300 and _sdc_batched_at = ?',
        [after, before],
    )
    assert warehouse.twice_written_since("t", KEYS, checked) == 0
    # an old key held twice by rows written before the check: not the written rows' doing
    con.execute('insert into "airflow-x".t select * from "airflow-x".t where id = 4000')
    assert warehouse.twice_written_since("t", KEYS, checked) == 0
    assert warehouse.twice_written_since("t", KEYS, before) == 1
    monkeypatch.setattr(duckdb_reconcile, "KEYS_PER_PASS", 1)
    assert warehouse.twice_written_since("t", KEYS, checked) is None


@pytest.mark.integration
def test_redshift_counts_keys_and_twice_held_keys_among_the_rows_written_since(postgres):
    """The same proof on Redshift, its SQL run by PostgreSQL (the stand-in of
    tests/load/test_redshift.py): every distinct live key, the latest stamp, and the keys of the
    rows written since the last check held twice, with the written rows with a null key part."""
    import psycopg2

    from airflow_audit_loader.redshift.reconcile import RedshiftWarehouse

    checked = dt.datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
    before, after = checked - dt.timedelta(days=1), checked + dt.timedelta(minutes=30)
    conn = psycopg2.connect(postgres.create_database("reconcile_redshift_written_since"))
    with conn.cursor() as cur:
        cur.execute("set timezone to 'Asia/Kolkata'")  # not UTC: times are compared as instants
        cur.execute('create schema "airflow-x"')
        cur.execute(
            'create table "airflow-x".t (id bigint, ts timestamptz, d date, b boolean, '
            "s varchar, _sdc_batched_at timestamptz, _sdc_deleted_at timestamptz)"
        )
        cur.executemany(
            'insert into "airflow-x".t values (%s, %s, %s, %s, %s, %s, null)',
            [[*r, before] for r in ROWS],
        )
    conn.commit()

    def run(sql: str, params: list | None = None) -> None:
        with conn.cursor() as cur:
            cur.execute(sql, params)
        conn.commit()

    warehouse = RedshiftWarehouse(conn, "airflow-x", "PostgreSQL")
    try:
        assert warehouse.written_through("t") == before
        assert warehouse.distinct_live_keys("t", KEYS) == len(ROWS)
        assert warehouse.twice_written_since("t", KEYS, checked) == 0
        # a row written since with a new key (null key parts), another that replaced its key's row
        run("""insert into "airflow-x".t values (5, null, null, null, 'n', %s, null)""", [after])
        run('delete from "airflow-x".t where id = 20')
        run('insert into "airflow-x".t values (%s, %s, %s, %s, %s, %s, null)', [*ROWS[1], after])
        assert warehouse.written_through("t") == after
        assert warehouse.twice_written_since("t", KEYS, checked) == 1  # id 5's null key parts
        assert warehouse.distinct_live_keys("t", KEYS) == len(ROWS)  # id 5's not counted
        run('delete from "airflow-x".t where id = 5')
        assert warehouse.twice_written_since("t", KEYS, checked) == 0
        # a row written since under a key an old row holds: twice; the old row marked deleted: once
        run('insert into "airflow-x".t values (%s, %s, %s, %s, %s, %s, null)', [*ROWS[2], after])
        assert warehouse.twice_written_since("t", KEYS, checked) == 1
        assert warehouse.distinct_live_keys("t", KEYS) == len(ROWS)
        assert warehouse.live_rows("t") == len(ROWS) + 1
        assert warehouse.twice_written_since("t", KEYS, after + dt.timedelta(microseconds=1)) == 0
        run(
            'update "airflow-x".t set _sdc_deleted_at = %s where id = 300 and _sdc_batched_at = %s',
            [after, before],
        )
        assert warehouse.twice_written_since("t", KEYS, checked) == 0
        # an old key held twice by rows written before the check: not the written rows' doing
        run('insert into "airflow-x".t select * from "airflow-x".t where id = 4000')
        assert warehouse.twice_written_since("t", KEYS, checked) == 0
        assert warehouse.twice_written_since("t", KEYS, before) == 1
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("kind", "mode"), [(k, m) for k in ("snowflake", "bigquery") for m in ("mirror", "archive")]
)
def test_deletes_hit_exactly_the_given_keys(kind, mode):
    warehouse, runner = adapter(kind)
    gone = [normalise(ROWS[0]), normalise(ROWS[2])]
    warehouse.apply_deletes("t", KEYS, gone, mode)
    assert warehouse.live_rows("t") == 2
    table = f"{runner.where}.{'T' if kind == 'snowflake' else 't'}"
    left = runner.con.execute(
        f"select id, _sdc_deleted_at is not null from {table} order by id"
    ).fetchall()
    if mode == "mirror":
        assert left == [(20, False), (4000, False)]
    else:
        assert left == [(1, True), (20, False), (300, True), (4000, False)]


@pytest.mark.parametrize("earlier_release", [False, True], ids=["new", "from-an-earlier-release"])
@pytest.mark.parametrize("kind", ["snowflake", "bigquery"])
def test_the_audit_table_takes_an_outcome(kind, earlier_release):
    """_sync_audit is created, or an earlier release's (without `extraction`, `snapshot_xmin`,
    `comparison`, `written_through`) gains the columns; either way a row lands in the named
    columns, and the latest check per table reads back."""
    warehouse, runner = adapter(kind)
    table = f"{runner.where}._SYNC_AUDIT" if kind == "snowflake" else f"{runner.where}._sync_audit"
    if earlier_release:
        runner.con.execute(
            f"create table {table} (table_name varchar, mode varchar, source_rows bigint, "
            "warehouse_rows bigint, deleted_at_source bigint, arrived_after_extract bigint, "
            "missing_in_warehouse bigint, duplicated_in_warehouse bigint, buckets_compared bigint, "
            "started_at timestamptz, ended_at timestamptz, outcome varchar)"
        )
    warehouse.ensure_audit_table()
    warehouse.ensure_audit_table()  # a second run changes nothing
    now = dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    row = [
        "dag_run",
        "mirror",
        4,
        4,
        0,
        0,
        0,
        0,
        0,
        now,
        now,
        "ok",
        "incremental: it's changed",
        812,
        "counts",
        None,
    ]
    warehouse.record(row)
    (got,) = runner.con.execute(f"select * from {table}").fetchall()
    assert list(got) == row
    later = now + dt.timedelta(hours=1)
    through = now - dt.timedelta(microseconds=5)
    warehouse.record([*row[:9], later, later, "mismatch", None, 813, "keys", None])
    warehouse.record(
        ["log", "mirror", 1, 1, 0, 0, 0, 0, 0, now, later, "ok", None, 9, "keys", through]
    )
    assert warehouse.last_checks() == {
        "dag_run": LastCheck("mismatch", 813, None, later),
        "log": LastCheck("ok", 9, later, later, through),
    }


@pytest.mark.parametrize("kind", ["snowflake", "bigquery"])
def test_extracts_read_with_or_without_the_extraction_column(kind):
    warehouse, runner = adapter(kind)
    table = "_AIRFLOW_AUDIT_EXTRACTS" if kind == "snowflake" else "_airflow_audit_extracts"
    runner.con.execute(
        f"create table {runner.where}.{table} (table_name varchar, snapshot_xmin bigint)"
    )
    runner.con.execute(f"insert into {runner.where}.{table} values ('log', 7), ('dag', 5)")
    assert warehouse.extracts() == [Extract("dag", 5), Extract("log", 7)]
    for column in ("extraction varchar", "records_sent bigint", "previous_bookmark bigint"):
        runner.con.execute(f"alter table {runner.where}.{table} add column {column}")
    runner.con.execute(
        f"update {runner.where}.{table} set extraction = 'incremental', records_sent = 0, "
        "previous_bookmark = snapshot_xmin - 1"
    )
    assert warehouse.extracts() == [
        Extract("dag", 5, "incremental", 0, None, 4),
        Extract("log", 7, "incremental", 0, None, 6),
    ]


def test_the_source_side_renders_the_same_text(postgres):
    """The PostgreSQL source, in a UTC session, renders each key as `key_value_text` does."""
    import psycopg2

    url = postgres.create_database("reconcile_key_text")
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("set timezone to 'Asia/Kolkata'")  # not UTC: the adapter sets it
            cur.execute("create table t (id bigint, ts timestamptz, d date, b boolean, s varchar)")
            cur.executemany("insert into t values (%s, %s, %s, %s, %s)", ROWS)
            cur.execute("set local timezone to 'UTC'")
            cur.execute(f"select {joined_key_text(KEYS, SOURCE_TEXT)} from t order by id")
            texts = [t for (t,) in cur.fetchall()]
    finally:
        conn.close()
    assert texts == [chr(31).join(key_value_text(v) for v in normalise(r)) for r in ROWS]


test_the_source_side_renders_the_same_text = pytest.mark.integration(
    test_the_source_side_renders_the_same_text
)


@pytest.mark.parametrize("kind", ["snowflake", "bigquery"])
def test_a_table_gone_at_the_source_is_marked_whole(kind):
    warehouse, runner = adapter(kind)
    table = f"{runner.where}.{'T' if kind == 'snowflake' else 't'}"
    runner.con.execute(f"update {table} set _sdc_deleted_at = now() where id = 1")
    assert warehouse.mark_table_deleted("t") == 3
    assert warehouse.live_rows("t") == 0
    (marked,) = runner.con.execute(
        f"select count(*) from {table} where _sdc_deleted_at is not null"
    ).fetchone()
    assert marked == 4
