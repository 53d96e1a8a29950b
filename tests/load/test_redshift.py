"""The Redshift loader (target-airflow-audit-redshift) on a real PostgreSQL standing in for Redshift.

No emulator speaks Redshift, but every statement the loader sends is SQL Redshift shares with
PostgreSQL (CREATE TABLE, ALTER TABLE ADD COLUMN, a temporary staging table LIKE the target,
DELETE ... USING, INSERT ... SELECT, the full-read DELETE/UPDATE), so a throwaway PostgreSQL runs
all of it.  Only COPY FROM S3 is Redshift's own:

* `insert`, end to end: the real `meltano run tap-airflow-metadb target-airflow-audit-redshift` on a generated
  Airflow 2.10.5 history.  Every table equals the source, no planted secret arrives, a rerun
  duplicates nothing, an interrupted full read deletes nothing (and a complete one does), a value
  of more than 65535 bytes ends the run in one sentence with the warehouse as it was, and empty
  strings stay distinct from NULL.
* `copy`: the loader runs in this process against a moto S3 server.  Its one seam,
  `execute_copy`, is replaced by code that reads the very S3 object the loader uploaded and
  feeds it to PostgreSQL's `COPY ... FROM STDIN (FORMAT csv, NULL <the statement's NULL AS>)`.
  The warehouse must equal the source, the COPY statement must name the role and carry none of
  the options that truncate or blank values, and the staged objects must be gone afterwards.
* reconcile, end to end: `meltano run tap-airflow-metadb target-airflow-audit-redshift
  airflow-audit-reconcile:redshift` into a mirror and an archive schema, with source and
  stand-in in different time zones.  Every bucket is equal after the first sync (timestamp keys
  included); the deletes of `airflow db clean` are removed (mirror) or marked (archive) exactly;
  rows lost in the warehouse, or a key held twice, fail the run in one sentence.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import pytest

from airflow_audit_core.errors import UserError
from airflow_audit_loader.redshift.target import (
    NULL_SENTINEL,
    VARCHAR_MAX_BYTES,
    RedshiftTarget,
    redshift_type,
    utc_timestamp,
)
from tap_airflow_metadb import policy
from tests.fixtures.airflow_history import NON_SECRET_MARKERS, PLANTED_SECRETS
from tests.support import BIN, ROOT, assert_rows_equal, encoded_forms, meltano, source_query
from tests.support.sync import (
    FINGERPRINT_SOURCES,
    FLAG_SOURCES,
    execute,
    until_second_activate_version,
)

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration

# A slug of this session's own: Meltano's state (kept in .meltano/) starts empty for it.
SLUG = f"redshift-{uuid.uuid4().hex[:8]}"
RAW = f"airflow-{SLUG}"
FILL = {"dags": 3, "days": 2}
DEFAULT_TABLES = ("ab_permission", "ab_role", "ab_user", "dag", "dag_run", "dag_tag")
DEFAULT_TABLES += ("import_error", "job", "task_fail", "task_instance")
SHIM = (
    ROOT / ".meltano/loaders/target-airflow-audit-redshift/venv/bin/target-airflow-audit-redshift"
)
COPY_ROLE = "arn:aws:iam::123456789012:role/airflow-audit-copy"
# A value of exactly Redshift's maximum, in bytes, with what CSV must quote or escape.
EXACTLY_MAX = 'a "quoted", comma\nnew line\r\n'
EXACTLY_MAX += "é" * ((VARCHAR_MAX_BYTES - len(EXACTLY_MAX.encode())) // 2)
EXACTLY_MAX += "x" * (VARCHAR_MAX_BYTES - len(EXACTLY_MAX.encode()))
# One byte too many, in half as many characters: PostgreSQL's VARCHAR(65535) (characters) would
# take it, Redshift's (bytes) would not.
ONE_BYTE_TOO_MANY = "é" * (VARCHAR_MAX_BYTES // 2 + 1)


# ---- the pure parts ------------------------------------------------------------------------------


def test_types_keep_every_value():
    assert redshift_type({"type": ["string", "null"], "maxLength": 100}) == "VARCHAR(65535)"
    assert redshift_type({"type": ["string", "object", "array", "null"]}) == "VARCHAR(65535)"
    assert redshift_type({"type": ["string"], "format": "date-time"}) == "TIMESTAMPTZ"
    assert redshift_type({"type": ["integer", "null"]}) == "BIGINT"
    assert redshift_type({"type": ["number"]}) == "DOUBLE PRECISION"
    assert redshift_type({"type": ["number"], "multipleOf": 0.001}) == "NUMERIC(38,3)"
    assert redshift_type({"type": ["boolean", "null"]}) == "BOOLEAN"


def test_timestamps_are_written_in_utc():
    assert utc_timestamp("2024-01-01T10:00:00.5+02:00") == "2024-01-01 08:00:00.500000+00"
    assert utc_timestamp("2024-01-01T10:00:00Z") == "2024-01-01 10:00:00.000000+00"
    assert utc_timestamp(None) is None


def test_values_sizes_are_what_the_test_means():
    assert len(EXACTLY_MAX.encode()) == VARCHAR_MAX_BYTES
    assert len(ONE_BYTE_TOO_MANY.encode()) == VARCHAR_MAX_BYTES + 1
    assert len(ONE_BYTE_TOO_MANY) < VARCHAR_MAX_BYTES


# ---- helpers ------------------------------------------------------------------------------------------


def plant(url: str) -> dict[str, Any]:
    """Values the load must keep exactly: '', NULL, the longest value, the NULL sentinel as text."""
    dags = [d for (d,) in source_query(url, "select dag_id from dag order by dag_id")]
    (error_id,) = source_query(url, "select min(id) from import_error")[0]
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("update dag set description = '' where dag_id = %s", [dags[0]])
        cur.execute("update dag set description = null where dag_id = %s", [dags[1]])
        cur.execute("update dag set description = %s where dag_id = %s", [EXACTLY_MAX, dags[2]])
        cur.execute(
            "update import_error set filename = %s where id = %s", [NULL_SENTINEL, error_id]
        )
    conn.close()
    return {"empty": dags[0], "null": dags[1], "longest": dags[2], "error_id": error_id}


def redshift_env(warehouse_url: str, **extra: str) -> dict[str, str]:
    parts = urlsplit(warehouse_url)
    env = {
        "AIRFLOW_AUDIT_ENV_SLUG": SLUG,
        "AIRFLOW_AUDIT_REDSHIFT_HOST": parts.hostname or "",
        "AIRFLOW_AUDIT_REDSHIFT_PORT": str(parts.port),
        "AIRFLOW_AUDIT_REDSHIFT_USER": parts.username or "",
        "AIRFLOW_AUDIT_REDSHIFT_PASSWORD": parts.password or "",
        "AIRFLOW_AUDIT_REDSHIFT_DATABASE": parts.path.lstrip("/"),
        # The throwaway PostgreSQL has no TLS; Redshift's default here is `require`.
        "AIRFLOW_AUDIT_REDSHIFT_SSLMODE": "disable",
    }
    env.update(extra)
    return env


def warehouse_query(url: str, sql: str, params: Any = None) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    conn.close()
    return rows


def counts(url: str) -> dict[str, int]:
    present = {
        t
        for (t,) in warehouse_query(
            url, "select table_name from information_schema.tables where table_schema = %s", [RAW]
        )
    }
    return {
        t: warehouse_query(url, f'select count(*) from "{RAW}"."{t}"')[0][0]
        for t in DEFAULT_TABLES
        if t in present
    }


def source_counts(url: str) -> dict[str, int]:
    return {
        t: source_query(url, f'select count(*) from public."{t}"')[0][0] for t in DEFAULT_TABLES
    }


def duplicated_keys(url: str) -> dict[str, int]:
    """table -> how many keys appear more than once."""
    keys = {
        "dag": "dag_id",
        "dag_tag": "name, dag_id",
        "task_instance": "dag_id, task_id, run_id, map_index",
    }
    found = {}
    for table in DEFAULT_TABLES:
        key = keys.get(table, "id")
        (n,) = warehouse_query(
            url,
            f'select count(*) from (select {key} from "{RAW}"."{table}" group by {key} '
            "having count(*) > 1) d",
        )[0]
        if n:
            found[table] = n
    return found


def _norm(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        value = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, memoryview):
        return bytes(value).hex()
    return value


def assert_warehouse_equals_source(
    source: str, warehouse: str, raw: str = RAW, tables: tuple[str, ...] = DEFAULT_TABLES
) -> None:
    """Every warehouse row equals a source row, column by column, and none is missing."""
    for table in tables:
        columns = [
            c
            for (c,) in warehouse_query(
                warehouse,
                "select column_name from information_schema.columns where table_schema = %s "
                "and table_name = %s order by ordinal_position",
                [raw, table],
            )
            if not c.startswith("_sdc_") and c not in {**FLAG_SOURCES, **FINGERPRINT_SOURCES}
        ]
        source_types = dict(
            source_query(
                source,
                "select column_name, data_type from information_schema.columns "
                f"where table_schema = 'public' and table_name = '{table}'",
            )
        )
        # every column the secrets policy lets leave is there: none dropped on the way
        expected_columns = set(policy.plan_table(table, source_types).read)
        assert set(columns) == expected_columns, (
            f"{table}: the warehouse lacks {sorted(expected_columns - set(columns))}, "
            f"has extra {sorted(set(columns) - expected_columns)}"
        )
        json_columns = {c for c, t in source_types.items() if t in ("json", "jsonb")}
        flags = [
            c
            for (c,) in warehouse_query(
                warehouse,
                "select column_name from information_schema.columns where table_schema = %s "
                "and table_name = %s",
                [raw, table],
            )
            if c in FLAG_SOURCES
        ]
        if flags:  # each has_* flag equals "the secret column is set" at the source, row by row
            got_flags = sorted(
                warehouse_query(warehouse, f'select id, {", ".join(flags)} from "{raw}"."{table}"')
            )
            exprs = ", ".join(f"coalesce({FLAG_SOURCES[f]}, '') <> ''" for f in flags)
            assert [tuple(r) for r in got_flags] == sorted(
                tuple(r) for r in source_query(source, f"select id, {exprs} from public.{table}")
            ), f"{table}: the flags {flags} differ from the source"
        select = ", ".join(f'"{c}"' for c in columns)
        got = [
            tuple(
                _norm(json.loads(v) if c in json_columns and v is not None else v)
                for c, v in zip(columns, row, strict=True)
            )
            for row in warehouse_query(warehouse, f'select {select} from "{raw}"."{table}"')
        ]
        expected = [
            tuple(_norm(v) for v in row)
            for row in source_query(source, f"select {select} from public.{table}")
        ]
        assert_rows_equal(table, columns, expected, got)


def difference(check) -> str | None:
    """What an equality check found wrong, or None: recorded by a fixture, asserted by a test."""
    try:
        check()
    except AssertionError as exc:
        return str(exc)
    return None


def warehouse_text(url: str) -> dict[str, str]:
    """Every table of the raw schema as one text (its rows in order, without the _sdc_ columns)."""
    columns: dict[str, list[str]] = {}
    for table, column in warehouse_query(
        url,
        "select table_name, column_name from information_schema.columns where table_schema = %s "
        "order by table_name, ordinal_position",
        [RAW],
    ):
        if not column.startswith("_sdc_"):
            columns.setdefault(table, []).append(f'"{column}"')
    return {
        table: "\n".join(
            sorted(
                r
                for (r,) in warehouse_query(
                    url, f'select row({", ".join(names)})::text from "{RAW}"."{table}"'
                )
            )
        )
        for table, names in columns.items()
    }


def extract(url: str) -> str:
    """The tap's messages, as records: a test replays them (files would be gone after one load)."""
    result = meltano(
        "invoke",
        "tap-airflow-metadb",
        env={"AIRFLOW_AUDIT_SOURCE_URL": url, "AIRFLOW_AUDIT_HANDOFF": "records"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def run_shim(config: Path, messages: str, *args: str, env: dict | None = None):
    if not SHIM.exists():
        pytest.fail(f"{SHIM} is missing: run `make install` (meltano install) first.")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_AUDIT_")}
    return subprocess.run(
        [str(SHIM), "--config", str(config), *args],
        input=messages,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


# ---- insert, end to end through Meltano -------------------------------------------------------------


@pytest.fixture(scope="module")
def insert_story(airflow_db, postgres, tmp_path_factory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("redshift-insert")
    url = airflow_db("2.10.5", "redshift_insert_source", **FILL)
    planted = plant(url)
    warehouse = postgres.create_database("redshift_insert_warehouse")
    env = redshift_env(
        warehouse, AIRFLOW_AUDIT_SOURCE_URL=url, AIRFLOW_AUDIT_REDSHIFT_LOAD_METHOD="insert"
    )
    story: dict[str, Any] = {"url": url, "warehouse": warehouse, "planted": planted}

    first = meltano("run", "tap-airflow-metadb", "target-airflow-audit-redshift", env=env)
    assert first.returncode == 0, first.stderr[-4000:]
    story["first"] = (counts(warehouse), source_counts(url))
    story["text"] = warehouse_text(warehouse)
    story["description"] = dict(
        warehouse_query(warehouse, f'select dag_id, description from "{RAW}".dag')
    )
    story["difference"] = difference(lambda: assert_warehouse_equals_source(url, warehouse))

    # `dag` (read in full at every sync, every row written again) stamped an hour ahead, as a
    # loader on a host whose clock is ahead would stamp it: the next sync stamps what it writes
    # after that, not at this host's now.
    ((ahead,), *_) = warehouse_query(
        warehouse,
        f"""update "{RAW}".dag set _sdc_batched_at = now() + interval '1 hour' """
        "returning _sdc_batched_at",
    )
    second = meltano("run", "tap-airflow-metadb", "target-airflow-audit-redshift", env=env)
    assert second.returncode == 0, second.stderr[-4000:]
    story["second"] = (counts(warehouse), source_counts(url), duplicated_keys(warehouse))
    story["stamped_after"] = (
        ahead,
        warehouse_query(warehouse, f'select min(_sdc_batched_at) from "{RAW}".dag')[0][0],
    )

    # The loader as Meltano configures it, fed a tap that stops before closing dag_run's full read.
    printed = meltano("config", "--unsafe", "print", "target-airflow-audit-redshift", env=env)
    assert printed.returncode == 0, printed.stderr[-2000:]
    config = root / "target-airflow-audit-redshift.json"
    config.write_text(printed.stdout)
    (gone,) = source_query(
        url, "delete from dag_run where id = (select max(id) from dag_run) returning id"
    )[0]
    messages = extract(url)
    interrupted = run_shim(config, until_second_activate_version(messages, "public-dag_run"))
    assert interrupted.returncode == 0, interrupted.stderr[-4000:]
    story["interrupted"] = (
        warehouse_query(warehouse, f'select count(*) from "{RAW}".dag_run where id = %s', [gone]),
        interrupted.stderr,
    )
    complete = run_shim(config, messages)
    assert complete.returncode == 0, complete.stderr[-4000:]
    story["complete"] = (
        warehouse_query(warehouse, f'select count(*) from "{RAW}".dag_run where id = %s', [gone]),
        counts(warehouse),
        source_counts(url),
    )

    # archive: the next deleted run stays, marked; nothing else is marked.
    archive = root / "target-redshift-archive.json"
    archive.write_text(json.dumps({**json.loads(printed.stdout), "mode": "archive"}))
    (archived,) = source_query(
        url, "delete from dag_run where id = (select max(id) from dag_run) returning id"
    )[0]
    marked = run_shim(archive, extract(url))
    assert marked.returncode == 0, marked.stderr[-4000:]
    story["archive"] = (
        archived,
        warehouse_query(
            warehouse,
            f'select id from "{RAW}".dag_run where _sdc_deleted_at is not null order by id',
        ),
    )

    # One value one byte longer than Redshift takes.
    before = warehouse_text(warehouse)
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "update import_error set stacktrace = %s where id = %s",
            [ONE_BYTE_TOO_MANY, planted["error_id"]],
        )
    conn.close()
    too_long = meltano("run", "tap-airflow-metadb", "target-airflow-audit-redshift", env=env)
    story["too_long"] = (too_long, before, warehouse_text(warehouse))
    yield story


def test_insert_loads_every_row(insert_story):
    warehouse, source = insert_story["first"]
    assert warehouse == source
    assert sum(source.values()) > 500
    assert insert_story["difference"] is None


def test_insert_no_planted_secret_arrives(insert_story):
    text = "\n".join(insert_story["text"].values())
    needles = {form for secret in PLANTED_SECRETS for form in encoded_forms(secret)}
    assert sorted(n for n in needles if n in text) == []
    # The hunt can find what is there: the non-secret markers of the same rows are found.
    present = {marker for marker in NON_SECRET_MARKERS if marker in text}
    assert present, "no non-secret marker found: the hunt looks in the wrong place"
    sources = "\n".join(
        str(r)
        for t in DEFAULT_TABLES
        for r in source_query(insert_story["url"], f"select * from {t}")
    )
    assert present == {m for m in NON_SECRET_MARKERS if m in sources}


def test_insert_keeps_empty_strings_null_and_the_longest_value(insert_story):
    description, planted = insert_story["description"], insert_story["planted"]
    assert description[planted["empty"]] == ""
    assert description[planted["null"]] is None
    assert description[planted["longest"]] == EXACTLY_MAX


def test_insert_rerun_duplicates_nothing(insert_story):
    warehouse, source, duplicated = insert_story["second"]
    assert warehouse == source
    assert duplicated == {}


def test_insert_stamps_a_write_after_every_row_before_it(insert_story):
    ahead, earliest_after = insert_story["stamped_after"]
    assert earliest_after > ahead


def test_insert_an_interrupted_full_read_deletes_nothing(insert_story):
    (row,), log = insert_story["interrupted"]
    assert row == (1,)
    assert "the full read of 'dag_run' did not finish" in log
    (row,), warehouse, source = insert_story["complete"]
    assert row == (0,)
    assert warehouse == source


def test_archive_marks_rows_deleted_at_the_source(insert_story):
    archived, marked = insert_story["archive"]
    assert marked == [(archived,)]


def test_insert_a_value_too_long_fails_in_one_sentence_and_keeps_the_warehouse(insert_story):
    result, before, after = insert_story["too_long"]
    assert result.returncode != 0
    error_id = insert_story["planted"]["error_id"]
    sentences = [
        line
        for line in result.stderr.splitlines()
        if f"{RAW}.import_error.stacktrace of the row with id={error_id} holds " in line
    ]
    assert sentences, result.stderr[-4000:]
    assert f"holds {VARCHAR_MAX_BYTES + 1} bytes" in sentences[0]
    assert "leave that table out" in sentences[0]
    assert "Traceback" not in result.stderr
    # Every Airflow table holds what it held (the tap's own _airflow_audit_extracts moves on).
    airflow_tables = sorted(t for t in before if not t.startswith("_"))
    assert airflow_tables == sorted(t for t in after if not t.startswith("_"))
    assert "import_error" in airflow_tables
    assert {t: after[t] for t in airflow_tables} == {t: before[t] for t in airflow_tables}


# ---- copy, in this process, through S3 (moto) ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server() -> Iterator[dict[str, str]]:
    """A moto S3 server on a free port; boto3 reaches it through AWS_ENDPOINT_URL."""
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "moto-access-key",
        "AWS_SECRET_ACCESS_KEY": "moto-secret-key",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("moto_server did not start")
                time.sleep(0.1)
        yield env
    finally:
        server.terminate()
        server.wait(timeout=10)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


COPY_STATEMENT = re.compile(
    r"^COPY (?P<stage>\"[^\"]+\") \((?P<columns>[^)]*)\) FROM 's3://(?P<bucket>[^/']+)/"
    r"(?P<key>[^']+)' (?P<options>.*)$",
    re.S,
)


class SeamedRedshiftTarget(RedshiftTarget):
    """The loader with COPY FROM S3 done by PostgreSQL, from the object the loader uploaded."""

    statements: list[str]
    objects: list[str]

    def execute_copy(self, cur, statement: str) -> None:
        import boto3

        self.statements.append(statement)
        match = COPY_STATEMENT.match(statement)
        assert match, statement
        null = re.search(r"NULL AS '((?:[^']|'')*)'", match["options"])
        assert null, statement
        body = boto3.client("s3").get_object(Bucket=match["bucket"], Key=match["key"])["Body"]
        self.objects.append(match["key"])
        csv = gzip.decompress(body.read())
        cur.copy_expert(
            f"COPY {match['stage']} ({match['columns']}) FROM STDIN "
            f"WITH (FORMAT csv, NULL '{null[1]}')",
            io.BytesIO(csv),
        )


@pytest.fixture(scope="module")
def copy_story(airflow_db, postgres, s3_server) -> Iterator[dict]:
    import boto3

    url = airflow_db("2.10.5", "redshift_copy_source", **FILL)
    planted = plant(url)
    warehouse = postgres.create_database("redshift_copy_warehouse")
    bucket = f"airflow-audit-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    env = redshift_env(warehouse)
    config = {
        key.removeprefix("AIRFLOW_AUDIT_REDSHIFT_").lower(): value
        for key, value in env.items()
        if key.startswith("AIRFLOW_AUDIT_REDSHIFT_")
    }
    config.update(
        env_slug=SLUG,
        load_method="copy",
        s3_bucket=bucket,
        s3_key_prefix="airflow-audit/ci",
        s3_region="us-east-1",
        copy_role_arn=COPY_ROLE,
        # Several batches, so several S3 objects, per large table.
        batch_size_rows=150,
    )
    messages = extract(url)
    state = io.BytesIO()
    target = SeamedRedshiftTarget(config, state)
    target.statements, target.objects = [], []
    try:
        target.run(io.BytesIO(messages.encode()))
    finally:
        target.close()
    listed = s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0)
    yield {
        "url": url,
        "warehouse": warehouse,
        "planted": planted,
        "statements": target.statements,
        "objects": target.objects,
        "uploaded": target.uploaded,
        "left_in_s3": listed,
        "state": state.getvalue(),
        "config": config,
        "bucket": bucket,
    }


def test_copy_loads_the_source_exactly(copy_story):
    assert counts(copy_story["warehouse"]) == source_counts(copy_story["url"])
    assert_warehouse_equals_source(copy_story["url"], copy_story["warehouse"])


def test_copy_keeps_empty_strings_null_and_the_null_sentinel_as_text(copy_story):
    planted, warehouse = copy_story["planted"], copy_story["warehouse"]
    description = dict(warehouse_query(warehouse, f'select dag_id, description from "{RAW}".dag'))
    assert description[planted["empty"]] == ""
    assert description[planted["null"]] is None
    assert description[planted["longest"]] == EXACTLY_MAX
    ((filename,),) = warehouse_query(
        warehouse, f'select filename from "{RAW}".import_error where id = %s', [planted["error_id"]]
    )
    assert filename == NULL_SENTINEL
    # That batch used another NULL marker, so the text could not be taken for NULL.
    (statement,) = [s for s in copy_story["statements"] if '"filename"' in s]
    assert f"NULL AS '{NULL_SENTINEL}'" not in statement
    assert f"NULL AS '{NULL_SENTINEL}" in statement


def test_copy_statement_names_the_role_and_never_truncates(copy_story):
    statements = copy_story["statements"]
    assert len(statements) > len(DEFAULT_TABLES)  # several batches for the large tables
    for statement in statements:
        assert f"IAM_ROLE '{COPY_ROLE}'" in statement
        assert "FORMAT AS CSV GZIP" in statement
        assert "REGION 'us-east-1'" in statement
        for option in ("TRUNCATECOLUMNS", "BLANKSASNULL", "EMPTYASNULL", "TRIMBLANKS"):
            assert option not in statement.upper()
        assert "ACCEPTINVCHARS" not in statement and "MAXERROR" not in statement
    assert all(k.startswith(f"airflow-audit/ci/{RAW}/") for k in copy_story["objects"])


def test_copy_removes_the_staged_files(copy_story):
    assert copy_story["objects"] == copy_story["uploaded"]
    assert copy_story["left_in_s3"] == 0


def test_copy_passes_state_on(copy_story):
    lines = copy_story["state"].decode().splitlines()
    assert lines and "public-task_instance" in json.loads(lines[-1])["bookmarks"]


def test_copy_with_access_keys_names_them(copy_story, s3_server):
    config = {**copy_story["config"], "copy_role_arn": ""}
    target = RedshiftTarget(config, io.BytesIO(), connect=False)
    try:
        authorization = target.copy_authorization()
    finally:
        target.close()
    assert authorization == (
        f"ACCESS_KEY_ID '{s3_server['AWS_ACCESS_KEY_ID']}' "
        f"SECRET_ACCESS_KEY '{s3_server['AWS_SECRET_ACCESS_KEY']}'"
    )


def test_the_connection_check(copy_story, s3_server, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(copy_story["config"]))
    done = run_shim(config, "", "--check", env=s3_server)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"schema {RAW} exists" in done.stderr
    assert f"s3://{copy_story['bucket']}/airflow-audit/ci/: writable and deletable" in done.stderr
    assert done.stderr.rstrip().endswith("ready to load.")


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        ({"host": ""}, "needs AIRFLOW_AUDIT_REDSHIFT_HOST"),
        ({"s3_bucket": ""}, "needs AIRFLOW_AUDIT_REDSHIFT_S3_BUCKET"),
        ({"password": "wrong"}, "Cannot connect to Redshift at"),
    ],
)
def test_a_bad_setting_ends_in_one_sentence(copy_story, tmp_path, change, phrase):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**copy_story["config"], **change}))
    done = run_shim(config, "")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("target-airflow-audit-redshift: ") and phrase in line


def test_user_error_is_what_the_loader_raises():
    with pytest.raises(UserError, match="AIRFLOW_AUDIT_REDSHIFT_LOAD_METHOD"):
        RedshiftTarget(
            {"host": "h", "database": "d", "user": "u", "password": "p", "load_method": "x"},
            io.BytesIO(),
            connect=False,
        )


# ---- schema changes ---------------------------------------------------------------------------------


def messages_of(*messages: dict) -> io.BytesIO:
    return io.BytesIO(b"".join(json.dumps(m).encode() + b"\n" for m in messages))


def schema_message(**properties: dict) -> dict:
    return {
        "type": "SCHEMA",
        "stream": "public-pool",
        "key_properties": ["id"],
        "schema": {"properties": {"id": {"type": ["integer"]}, **properties}},
    }


def record_message(**record: Any) -> dict:
    return {"type": "RECORD", "stream": "public-pool", "record": record}


def test_new_columns_are_added_a_type_widened_and_a_narrowing_refused(postgres):
    warehouse = postgres.create_database("redshift_schema_changes")
    config = {
        key.removeprefix("AIRFLOW_AUDIT_REDSHIFT_").lower(): value
        for key, value in redshift_env(warehouse).items()
        if key.startswith("AIRFLOW_AUDIT_REDSHIFT_")
    }
    config.update(destination_schema="schema_changes", load_method="insert")
    text = {"type": ["string", "null"]}
    target = RedshiftTarget(config, io.BytesIO())
    try:
        target.run(
            messages_of(
                schema_message(pool=text),
                record_message(id=1, pool="default_pool"),
                schema_message(pool=text, description=text, slots={"type": ["integer", "null"]}),
                record_message(id=2, pool="etl", description="", slots=4),
            )
        )
    finally:
        target.close()
    rows = warehouse_query(
        warehouse, "select id, pool, description, slots from schema_changes.pool order by id"
    )
    assert rows == [(1, "default_pool", None, None), (2, "etl", "", 4)]

    # an integer column becoming text (Airflow 3.0's dag_run_note.user_id): widened, values kept
    target = RedshiftTarget(config, io.BytesIO())
    try:
        target.run(messages_of(schema_message(pool=text, slots=text)))
    finally:
        target.close()
    rows = warehouse_query(warehouse, "select id, slots from schema_changes.pool order by id")
    assert rows == [(1, None), (2, "4")]

    target = RedshiftTarget(config, io.BytesIO())
    try:
        # text back to an integer would lose values: refused, the table as it was
        with pytest.raises(UserError, match=r"Column pool\.slots changed type in the source"):
            target.run(messages_of(schema_message(pool=text, slots={"type": ["integer", "null"]})))
        keyless = {**schema_message(pool=text), "key_properties": []}
        with pytest.raises(UserError, match="has no primary key"):
            target.run(messages_of(keyless))
    finally:
        target.close()


# ---- airflow-audit-reconcile on Redshift, end to end through Meltano -------------------------------

RECONCILE_SYNC = (
    "run",
    "tap-airflow-metadb",
    "target-airflow-audit-redshift",
    "airflow-audit-reconcile:redshift",
)
RECONCILE_ONLY = ("run", "airflow-audit-reconcile:redshift")
# The default tables plus log (`airflow db clean` empties it) and sla_miss (keyed by a timestamp).
RECONCILE_ADDITIONAL = "log,sla_miss"
RECONCILED = (*DEFAULT_TABLES, "log", "sla_miss")
# What `airflow db clean` deletes: old runs (their task instances and failures cascade), old log
# events, old jobs.
DB_CLEAN = (
    "delete from dag_run where id in "
    "(select id from dag_run order by coalesce(start_date, queued_at), id limit 3)",
    "delete from log where id in (select id from log order by dttm, id limit 20)",
    "delete from job where id in (select id from job order by latest_heartbeat, id limit 2)",
)
# sla_miss keys whose text a cast would render differently per session or per server: fractions
# with trailing zeros, whole seconds, microseconds, an offset that is not UTC, a summer time.
SLA_MISS_TIMES = (
    "2024-01-01 00:00:00+00",
    "2024-01-01 00:00:00.5+00",
    "2024-01-01 00:00:00.123456+00",
    "2024-01-01 00:00:00.000001+00",
    "2024-03-31 02:30:00+02",
    "2024-07-01 23:59:59.999999-07",
    "1999-12-31 23:59:59.9+00",
)


def primary_key_of(url: str, table: str) -> list[str]:
    return [
        c
        for (c,) in source_query(
            url,
            "select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid "
            f"and a.attnum = any(i.indkey) where i.indrelid = 'public.{table}'::regclass "
            "and i.indisprimary order by array_position(i.indkey, a.attnum)",
        )
    ]


def key_set(url: str, relation: str, key: list[str], where: str = "true") -> set[tuple]:
    """The keys of a table (timestamps in UTC); fails if a key is there twice."""
    select = ", ".join(f'"{c}"' for c in key)
    rows = [
        tuple(_norm(v) for v in row)
        for row in warehouse_query(url, f"select {select} from {relation} where {where}")
    ]
    assert len(rows) == len(set(rows)), f"{relation}: a key is there twice"
    return set(rows)


def source_keys(url: str, keys: dict[str, list[str]]) -> dict[str, set[tuple]]:
    return {t: key_set(url, f"public.{t}", k) for t, k in keys.items()}


def audit_rows(url: str, raw: str) -> list[dict[str, Any]]:
    columns = (
        "table_name, mode, source_rows, warehouse_rows, deleted_at_source, "
        "missing_in_warehouse, duplicated_in_warehouse, buckets_compared, outcome"
    )
    names = [c.strip() for c in columns.split(",")]
    return [
        dict(zip(names, row, strict=True))
        for row in warehouse_query(
            url, f'select {columns} from "{raw}"._sync_audit order by started_at, table_name'
        )
    ]


def latest_audit(url: str, raw: str) -> dict[str, dict[str, Any]]:
    """table -> its row of the last reconciliation."""
    return {row["table_name"]: row for row in audit_rows(url, raw)}


def comparisons(url: str, raw: str) -> dict[str, tuple[str, str]]:
    """table -> (outcome, how its last reconciliation compared it: `keys` or `counts`)."""
    rows = warehouse_query(
        url, f'select table_name, outcome, comparison from "{raw}"._sync_audit order by ended_at'
    )
    return {table: (outcome, how) for table, outcome, how in rows}


# Rows as Airflow's CLI logs a command: its event, the OS user, the command line in `extra`.
CLI_LOG = (
    "insert into log (dttm, event, owner, extra) select now(), 'cli_dags_list', 'airflow', "
    "'{\"host_name\": \"worker\", \"full_command\": \"[''airflow'', ''dags'', ''list'']\"}' "
    "from generate_series(1, %d)"
)


def extracts_read(url: str, raw: str) -> dict[str, bool]:
    """table -> whether the tap's last read of it was a full read."""
    return dict(
        warehouse_query(url, f'select table_name, full_read from "{raw}"._airflow_audit_extracts')
    )


@pytest.fixture(scope="module")
def reconcile_story(airflow_db, postgres) -> Iterator[dict]:
    """One source, two destinations in one warehouse (mirror and archive), each synced twice
    through `tap-airflow-metadb target-airflow-audit-redshift airflow-audit-reconcile:redshift`, with
    `airflow db clean` deleting rows at the source in between; then the warehouse is damaged."""
    url = airflow_db("2.10.5", "redshift_reconcile_source", **FILL)
    warehouse = postgres.create_database("redshift_reconcile_warehouse")
    # Neither server runs in UTC: a key rendered in the session's time zone would differ.
    for database, zone in ((url, "America/Sao_Paulo"), (warehouse, "Asia/Kathmandu")):
        name = urlsplit(database).path.lstrip("/")
        conn = psycopg2.connect(database)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"alter database \"{name}\" set timezone to '{zone}'")
        conn.close()
    (dag_id,) = source_query(url, "select min(dag_id) from dag")[0]
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for i, when in enumerate(SLA_MISS_TIMES):
            cur.execute(
                'insert into sla_miss (task_id, dag_id, execution_date, email_sent, "timestamp", '
                "notification_sent) values (%s, %s, %s, true, now(), true)",
                [f"planted_{i}", dag_id, when],
            )
    conn.close()
    keys = {t: primary_key_of(url, t) for t in RECONCILED}
    slugs = {"mirror": f"{SLUG}-m", "archive": f"{SLUG}-a"}
    raws = {mode: f"airflow-{slug}" for mode, slug in slugs.items()}
    envs = {
        mode: redshift_env(
            warehouse,
            AIRFLOW_AUDIT_SOURCE_URL=url,
            AIRFLOW_AUDIT_REDSHIFT_LOAD_METHOD="insert",
            AIRFLOW_AUDIT_ADDITIONAL_TABLES=RECONCILE_ADDITIONAL,
            AIRFLOW_AUDIT_ENV_SLUG=slug,
            AIRFLOW_AUDIT_MODE=mode,
        )
        for mode, slug in slugs.items()
    }
    story: dict[str, Any] = {"url": url, "warehouse": warehouse, "raws": raws, "keys": keys}

    for env in envs.values():
        first = meltano(*RECONCILE_SYNC, env=env)
        assert first.returncode == 0, first.stderr[-4000:]
    story["first_audit"] = latest_audit(warehouse, raws["mirror"])
    story["first_keys"] = {
        t: key_set(warehouse, f'"{raws["mirror"]}"."{t}"', k) for t, k in keys.items()
    }
    story["source_before"] = source_keys(url, keys)

    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for statement in DB_CLEAN:
            cur.execute(statement)
    conn.close()
    story["source_after"] = source_keys(url, keys)
    for mode, env in envs.items():
        second = meltano(*RECONCILE_SYNC, env=env)
        assert second.returncode == 0, second.stderr[-4000:]
        raw = raws[mode]
        story[mode] = {
            "stderr": second.stderr,
            "audit": latest_audit(warehouse, raw),
            "read": extracts_read(warehouse, raw),
            "live": {
                t: key_set(warehouse, f'"{raw}"."{t}"', k, "_sdc_deleted_at is null")
                for t, k in keys.items()
            },
            "marked": {
                t: key_set(warehouse, f'"{raw}"."{t}"', k, "_sdc_deleted_at is not null")
                for t, k in keys.items()
            },
        }
    story["mirror"]["difference"] = difference(
        lambda: assert_warehouse_equals_source(url, warehouse, raws["mirror"], RECONCILED)
    )

    # Rows added and none deleted: equal counts prove the table exact, with every key once. The
    # keys of the rows written since the last check are counted on Redshift (the loader stamps
    # them after `written_through`, the latest stamp the check saw); the source is not scanned.
    raw, env = raws["mirror"], envs["mirror"]
    assert execute(url, CLI_LOG % 4) == 4
    added = meltano(*RECONCILE_SYNC, env=env)
    assert added.returncode == 0, added.stderr[-4000:]
    story["added"] = comparisons(warehouse, raw)
    story["added_through"] = warehouse_query(
        warehouse,
        f'select written_through = (select max(_sdc_batched_at) from "{raw}".log) '
        f"from \"{raw}\"._sync_audit where table_name = 'log' order by ended_at desc limit 1",
    )
    # ... a row held twice and another lost balance the counts: the duplicate as a loader on a
    # host whose clock is 10 minutes behind the checker's would write it (stamps and the check's
    # `written_through` moved back), stamped just after `written_through`.
    with psycopg2.connect(warehouse) as conn, conn.cursor() as cur:
        log, audit = f'"{raw}".log', f'"{raw}"._sync_audit'
        cur.execute(f"update {log} set _sdc_batched_at = _sdc_batched_at - interval '10 minutes'")
        cur.execute(
            f"update {audit} set written_through = written_through - interval '10 minutes' "
            "where table_name = 'log'"
        )
        cur.execute(f"alter table {log} drop constraint log_pkey")
        cur.execute(f"create temp table twice as select * from {log} order by id desc limit 1")
        cur.execute(
            f"update twice set _sdc_batched_at = (select max(_sdc_batched_at) from {log}) "
            "+ interval '1 microsecond'"
        )
        cur.execute(f"insert into {log} select * from twice")
        cur.execute(f"delete from {log} where id = (select min(id) from {log})")
    conn.close()
    assert execute(url, CLI_LOG % 1) == 1
    story["balanced"] = meltano(*RECONCILE_SYNC, env=env)
    story["balanced_comparisons"] = comparisons(warehouse, raw)
    reloaded = meltano(*RECONCILE_SYNC, env={**env, "AIRFLOW_AUDIT_FULL_REFRESH": "log"})
    assert reloaded.returncode == 0, reloaded.stderr[-4000:]
    story["reloaded"] = difference(
        lambda: assert_warehouse_equals_source(url, warehouse, raw, RECONCILED)
    )

    # The warehouse loses 3 task instances (mirror), and holds a run twice (archive; PostgreSQL
    # enforces the primary key that Redshift only declares, so the stand-in drops it first).
    with psycopg2.connect(warehouse) as conn, conn.cursor() as cur:
        cur.execute(
            f'delete from "{raws["mirror"]}".task_instance where ctid in '
            f'(select ctid from "{raws["mirror"]}".task_instance order by run_id, task_id limit 3)'
        )
        cur.execute(f'alter table "{raws["archive"]}".dag_run drop constraint dag_run_pkey')
        cur.execute(
            f'insert into "{raws["archive"]}".dag_run select * from "{raws["archive"]}".dag_run '
            "where _sdc_deleted_at is null order by id limit 1"
        )
    conn.close()
    story["lost"] = meltano(*RECONCILE_ONLY, env=envs["mirror"])
    story["lost_audit"] = latest_audit(warehouse, raws["mirror"])
    story["twice"] = meltano(*RECONCILE_ONLY, env=envs["archive"])
    yield story


def deleted_by_db_clean(story: dict) -> dict[str, set[tuple]]:
    deleted = {t: story["source_before"][t] - story["source_after"][t] for t in RECONCILED}
    # The test deletes what it means to: runs, their task instances, log events, jobs.
    assert all(deleted[t] for t in ("dag_run", "task_instance", "log", "job")), deleted
    assert all(not (story["source_after"][t] - story["source_before"][t]) for t in RECONCILED)
    return deleted


def test_reconcile_after_the_first_sync_finds_every_bucket_equal(reconcile_story):
    audit = reconcile_story["first_audit"]
    assert sorted(audit) == sorted(RECONCILED)
    for table in RECONCILED:
        row = audit[table]
        assert row["outcome"] == "ok", row
        assert row["mode"] == "mirror"
        assert (
            row["warehouse_rows"]
            == row["source_rows"]
            == len(reconcile_story["source_before"][table])
        )
        # No bucket differs: every key, of every type, is the same text on both sides.
        assert row["buckets_compared"] == 0, row
        assert row["deleted_at_source"] == row["missing_in_warehouse"] == 0


def test_reconcile_timestamp_keys_are_the_same_text_on_both_sides(reconcile_story):
    """sla_miss is keyed by (task_id, dag_id, execution_date): the key text of every row is
    byte for byte the same on the source and in the warehouse, though neither server is in UTC."""
    from airflow_audit_loader.reconcile_adapter import SOURCE_TEXT, KeyColumn, joined_key_text
    from airflow_audit_loader.redshift.reconcile import WAREHOUSE_TEXT

    url, warehouse = reconcile_story["url"], reconcile_story["warehouse"]
    raw = reconcile_story["raws"]["mirror"]
    keys = [KeyColumn("task_id"), KeyColumn("dag_id"), KeyColumn("execution_date", "timestamp")]
    assert reconcile_story["keys"]["sla_miss"] == [k.name for k in keys]

    def texts(database: str, relation: str, *, source: bool, utc: bool = True) -> list[str]:
        conn = psycopg2.connect(database)
        try:
            with conn.cursor() as cur:
                if utc:
                    cur.execute("set timezone to 'UTC'")
                cur.execute(
                    f"select {joined_key_text(keys, SOURCE_TEXT if source else WAREHOUSE_TEXT)} from {relation}"
                )
                return sorted(t for (t,) in cur.fetchall())
        finally:
            conn.close()

    on_source = texts(url, "public.sla_miss", source=True)
    in_warehouse = texts(warehouse, f'"{raw}".sla_miss', source=False)
    assert len(on_source) >= len(SLA_MISS_TIMES)
    assert on_source == in_warehouse
    ((dag_id,),) = source_query(url, "select min(dag_id) from dag")
    for i, expected in enumerate(
        (
            "2024-01-01 00:00:00.000000",
            "2024-01-01 00:00:00.500000",
            "2024-01-01 00:00:00.123456",
            "2024-01-01 00:00:00.000001",
            "2024-03-31 00:30:00.000000",
            "2024-07-02 06:59:59.999999",
            "1999-12-31 23:59:59.900000",
        )
    ):
        assert f"planted_{i}\x1f{dag_id}\x1f{expected}" in on_source
    # Why both sessions are set to UTC: in the servers' own time zones the texts differ.
    assert texts(url, "public.sla_miss", source=True, utc=False) != in_warehouse
    assert reconcile_story["first_audit"]["sla_miss"]["buckets_compared"] == 0


def test_reconcile_mirror_removes_exactly_what_db_clean_deleted(reconcile_story):
    deleted = deleted_by_db_clean(reconcile_story)
    mirror = reconcile_story["mirror"]
    # The growing tables were read incrementally: only the reconciliation can see the deletes.
    for table in ("dag_run", "task_instance", "log", "job"):
        assert mirror["read"][table] is False, table
    for table in RECONCILED:
        assert mirror["live"][table] == reconcile_story["source_after"][table], table
        assert mirror["marked"][table] == set(), table
        row = mirror["audit"][table]
        assert row["outcome"] == "ok", row
        assert row["deleted_at_source"] == len(deleted[table]), row
        assert row["warehouse_rows"] == row["source_rows"], row
    assert mirror["difference"] is None
    assert (
        f"task_instance: source {len(reconcile_story['source_after']['task_instance'])}"
        in (mirror["stderr"])
    )
    assert f"({len(deleted['dag_run'])} deleted at the source)" in mirror["stderr"]


def test_reconcile_archive_marks_exactly_what_db_clean_deleted(reconcile_story):
    deleted = deleted_by_db_clean(reconcile_story)
    archive = reconcile_story["archive"]
    for table in ("dag_run", "task_instance", "log", "job"):
        assert archive["read"][table] is False, table
    for table in RECONCILED:
        assert archive["live"][table] == reconcile_story["source_after"][table], table
        assert archive["marked"][table] == deleted[table], table
        row = archive["audit"][table]
        assert (row["mode"], row["outcome"]) == ("archive", "ok"), row
        assert row["deleted_at_source"] == len(deleted[table]), row


def test_reconcile_proves_rows_added_by_counts_without_scanning_the_source(reconcile_story):
    assert reconcile_story["added"]["log"] == ("ok", "counts")
    assert reconcile_story["added_through"] == [(True,)], "the latest stamp was not recorded"


def test_reconcile_finds_a_duplicate_that_a_lost_row_balances(reconcile_story):
    result = reconcile_story["balanced"]
    assert result.returncode != 0, "a duplicate and a lost row passed as equal counts"
    assert reconcile_story["balanced_comparisons"]["log"] == ("mismatch", "keys")
    assert "Traceback" not in result.stderr
    assert reconcile_story["reloaded"] is None


def test_reconcile_fails_in_one_sentence_when_the_warehouse_lost_rows(reconcile_story):
    result, raw = reconcile_story["lost"], reconcile_story["raws"]["mirror"]
    assert result.returncode != 0
    assert (
        f"airflow-audit-reconcile: Reconciliation failed: the warehouse table {raw}.task_instance "
        "lacks 3 rows that the source had when it was read; rerun with "
        "AIRFLOW_AUDIT_FULL_REFRESH=task_instance to reload."
    ) in result.stderr, result.stderr[-4000:]
    assert "Traceback" not in result.stderr
    row = reconcile_story["lost_audit"]["task_instance"]
    assert (row["outcome"], row["missing_in_warehouse"], row["deleted_at_source"]) == (
        "mismatch",
        3,
        0,
    )
    assert {t for t, r in reconcile_story["lost_audit"].items() if r["outcome"] != "ok"} == {
        "task_instance"
    }


def test_reconcile_fails_in_one_sentence_when_the_warehouse_holds_a_key_twice(reconcile_story):
    result, raw = reconcile_story["twice"], reconcile_story["raws"]["archive"]
    assert result.returncode != 0
    assert (
        f"Reconciliation failed: the warehouse table {raw}.dag_run holds 1 keys more than once; "
        "rerun with AIRFLOW_AUDIT_FULL_REFRESH=dag_run to reload."
    ) in result.stderr, result.stderr[-4000:]
    assert "Traceback" not in result.stderr


RECONCILE = ROOT / ".meltano/utilities/airflow-audit-reconcile/venv/bin/airflow-audit-reconcile"


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        ({"AIRFLOW_AUDIT_REDSHIFT_PASSWORD": "wrong"}, "Cannot connect to Redshift at"),
        ({"AIRFLOW_AUDIT_REDSHIFT_HOST": ""}, "needs AIRFLOW_AUDIT_REDSHIFT_HOST"),
        (
            {"AIRFLOW_AUDIT_ENV_SLUG": "never-synced"},
            "Nothing to reconcile in schema 'airflow-never-synced' in Redshift database "
            "redshift_reconcile_warehouse at ",
        ),
    ],
)
def test_reconcile_a_bad_setting_ends_in_one_sentence(reconcile_story, change, phrase):
    if not RECONCILE.exists():
        pytest.fail(f"{RECONCILE} is missing: run `make install` (meltano install) first.")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_AUDIT_")}
    env = redshift_env(
        reconcile_story["warehouse"], AIRFLOW_AUDIT_SOURCE_URL=reconcile_story["url"], **change
    )
    done = subprocess.run(
        [str(RECONCILE), "redshift"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("airflow-audit-reconcile: ") and phrase in line, line


# ---- every table: the secrets policy on Redshift ---------------------------------------------------


@pytest.fixture(scope="module")
def every_table_story(airflow_db, postgres) -> dict:
    """`meltano run tap-airflow-metadb target-airflow-audit-redshift` with AIRFLOW_AUDIT_TABLES='[]'."""
    url = airflow_db("2.10.5", "redshift_every_source", **FILL)
    warehouse = postgres.create_database("redshift_every_warehouse")
    env = redshift_env(
        warehouse,
        AIRFLOW_AUDIT_SOURCE_URL=url,
        AIRFLOW_AUDIT_REDSHIFT_LOAD_METHOD="insert",
        AIRFLOW_AUDIT_TABLES="[]",
    )
    done = meltano("run", "tap-airflow-metadb", "target-airflow-audit-redshift", env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    return {"url": url, "text": warehouse_text(warehouse), "log": done.stderr}


def test_every_table_no_planted_secret_arrives(every_table_story):
    """Every secret column and every carrier of the action log, tracebacks, hosts and notes: none of
    the planted secrets is in any raw table, in plain, hex or base64 form; the non-secret parts of the
    same rows are."""
    text = "\n".join(every_table_story["text"].values())
    assert {"log", "connection", "variable", "import_error", "xcom"} <= set(
        every_table_story["text"]
    )
    needles = {form: s for s in PLANTED_SECRETS for form in encoded_forms(s)}
    assert sorted({needles[n] for n in needles if n in text}) == []
    assert {m for m in NON_SECRET_MARKERS if m in text} == set(NON_SECRET_MARKERS)
    # The run's own log holds no secret either.
    assert sorted({needles[n] for n in needles if n in every_table_story["log"]}) == []
