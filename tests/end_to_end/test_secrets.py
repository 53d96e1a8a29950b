"""Secrets never leave, on what Airflow really writes, and PostgreSQL enforces it too.

One Airflow 2.10.5 database, filled by the generator (which plants secrets where each Airflow release
puts them: the action log of the CLI, the web UI and the REST API, tracebacks, connection hosts, notes,
DAG code), then grown the way real installations grow:
* Airflow's own `airflow db clean` (the project's Airflow 2.10.5) archives old log and xcom rows into
  `_airflow_deleted__<table>__<timestamp>` tables;
* `_xcom_archive` as Airflow 3.0's migration creates it, with a pickled XCom;
* Celery's result backend tables, with Celery's own DDL, a pickled result and a traceback;
* another application's table and a view in the same database.

What is checked, with AIRFLOW_AUDIT_TABLES='[]' (every table):
* none of those tables is copied; no planted secret reaches the warehouse, in plain, hex or base64
  form, while the non-secret parts of the same rows (the command, the connection id, the variable
  key, the file, the host) arrive; no process of the sync writes one anywhere (strace sees every
  write: the extractor's files on the host, pipes, logs, sockets);
* named explicitly, an archive gets the policy of the table it archives; Celery's table keeps only its
  columns that cannot hold text;
* a column no Airflow release has is left out with a notice naming it and the setting, and arrives
  when opted in;
* the whole job (extract, load, reconcile, dbt build) runs under the read-only role the tap's
  `--grants` creates; the role cannot select a secret column (PostgreSQL says permission denied); a
  revoked non-secret column stops the run with one sentence naming it and the GRANT to run;
* on Airflow 3.3.2, a retry policy that quotes the exception (a request URL with its key) run by
  Airflow itself (`airflow dags test`): the reason reaches the marts, masked, on its try.
"""

from __future__ import annotations

import pickle
import re
import shutil
from pathlib import Path

import duckdb
import psycopg2
import pytest

from tests.fixtures.airflow_history import NON_SECRET_MARKERS, PLANTED_SECRETS
from tests.fixtures.airflow_secret_carriers import SECRETS as CARRIER_SECRETS
from tests.support import (
    airflow_cli,
    airflow_db_clean,
    encoded_forms,
    meltano,
    source_query,
    warehouse_hits,
)
from tests.support.sync import dbt_paths, execute, scalar, warehouse_columns

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration

RAW = "airflow-local"
# Planted in the tables that are not Airflow's own.
CELERY_SECRET = "ZqCeleryResultSecret7Wx"
CELERY_TRACE_SECRET = "ZqCeleryTraceSecret7Wx"
OTHER_APP_SECRET = "ZqOtherAppSecret7Wx"
XCOM_ARCHIVE_SECRET = "ZqXcomArchiveSecret7Wx"
FOREIGN_SECRETS = [CELERY_SECRET, CELERY_TRACE_SECRET, OTHER_APP_SECRET, XCOM_ARCHIVE_SECRET]
READER = "airflow_audit_reader"
READER_PASSWORD = "reader-pw-for-tests"


def needles() -> dict[str, str]:
    return {form: s for s in [*PLANTED_SECRETS, *FOREIGN_SECRETS] for form in encoded_forms(s)}


def hunt(warehouse: Path) -> dict[str, set[str]]:
    """secret -> the warehouse relations holding it, in any form (raw, staging, marts)."""
    forms = needles()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {forms[form]: where for form, where in warehouse_hits(con, set(forms)).items()}


def clean_like_a_user(url: str, home: Path) -> list[str]:
    """Airflow's own `db clean` of log and xcom rows before the first CLI rows the carriers wrote
    (2025-06-01 08:00-08:02: the --conn-extra secret among them); the archive tables it made."""
    airflow_db_clean(url, "2.10.5", home, "2025-06-01T08:02:30+00:00", "log,xcom")
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute(
            "select tablename from pg_tables where tablename like '\\_airflow\\_deleted\\_\\_%' "
            "order by 1"
        )
        tables = [t for (t,) in cur.fetchall()]
    conn.close()
    return tables


def grow_like_a_real_installation(url: str) -> None:
    execute(
        url,
        # Airflow 3.0's migration 0049 (revision eed27faa34e3) keeps pickled XComs here
        "create table _xcom_archive (dag_run_id integer not null, task_id varchar(250) not null, "
        "map_index integer default -1 not null, key varchar(512) not null, dag_id varchar(250) not null, "
        "run_id varchar(250) not null, value bytea, timestamp timestamp with time zone not null, "
        "primary key (dag_run_id, task_id, map_index, key))",
        # Celery's database result backend (celery/backends/database/models.py)
        "create table celery_taskmeta (id integer primary key, task_id varchar(155) unique, "
        "status varchar(50), result bytea, date_done timestamp, traceback text, name varchar(155), "
        "args bytea, kwargs bytea, worker varchar(155), retries integer, queue varchar(155))",
        "create table celery_tasksetmeta (id integer primary key, taskset_id varchar(155) unique, "
        "result bytea, date_done timestamp)",
        "create table superset_credentials (id serial primary key, username text, api_secret text)",
        "create view dag_run_summary as select dag_id, state, count(*) as runs from dag_run group by 1, 2",
    )
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute(
            "insert into _xcom_archive values (1, 'push', -1, 'return_value', 'd', 'r', %s, now())",
            [psycopg2.Binary(pickle.dumps({"token": XCOM_ARCHIVE_SECRET}))],
        )
        cur.execute(
            "insert into celery_taskmeta values (1, 'c0ffee', 'FAILURE', %s, now(), %s, "
            "'airflow.executors.celery_executor.execute_command', null, null, 'worker-1', 2, 'default')",
            [
                psycopg2.Binary(pickle.dumps({"exc": CELERY_SECRET})),
                f"Traceback ...\nOperationalError: postgresql://etl:{CELERY_TRACE_SECRET}@db/x",
            ],
        )
        cur.execute(
            "insert into celery_tasksetmeta values (1, 'set-1', %s, now())", [psycopg2.Binary(b"x")]
        )
        cur.execute(
            "insert into superset_credentials (username, api_secret) values ('bi', %s)",
            [OTHER_APP_SECRET],
        )
    conn.close()


@pytest.fixture(scope="module")
def source(airflow_db, tmp_path_factory) -> dict:
    url = airflow_db("2.10.5", "secrets_2_10_5")
    archives = clean_like_a_user(url, tmp_path_factory.mktemp("airflow-home"))
    grow_like_a_real_installation(url)
    return {"url": url, "archives": archives}


def env_for(url: str, warehouse: Path, **settings: str) -> dict[str, str]:
    """Each warehouse with its own Meltano system database, so no run reuses another's bookmarks."""
    env = {
        "AIRFLOW_AUDIT_SOURCE_URL": url,
        "AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse),
        "MELTANO_DATABASE_URI": f"sqlite:///{warehouse.parent / (warehouse.stem + '-meltano.db')}",
    }
    env.update({f"AIRFLOW_AUDIT_{k.upper()}": v for k, v in settings.items()})
    return env


def raw_tables(warehouse: Path) -> set[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {
            t
            for (t,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = ?", [RAW]
            ).fetchall()
        }


def raw_columns(warehouse: Path, table: str) -> list[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return [c for c in warehouse_columns(con, RAW, table) if not c.startswith("_sdc_")]


# Every write of every process (files, pipes, sockets), each written buffer in full.
WRITES = "write,writev,pwrite64,pwritev,pwritev2,sendto,sendmsg"


@pytest.fixture(scope="module")
def every_table(source, tmp_path_factory) -> dict:
    """`meltano run tap-airflow-metadb target-airflow-audit-duckdb` with AIRFLOW_AUDIT_TABLES='[]',
    under strace where it is installed: what each of its processes wrote, wherever it wrote it."""
    folder = tmp_path_factory.mktemp("secrets-every")
    warehouse, trace = folder / "w.duckdb", folder / "writes.strace"
    strace = shutil.which("strace")
    options = ("-f", "-qq", "--seccomp-bpf", "-e", f"trace={WRITES}", "-e", "signal=none")
    under = (strace, *options, "-s", str(1 << 24), "-o", str(trace)) if strace else ()
    done = meltano(
        "run",
        "tap-airflow-metadb",
        "target-airflow-audit-duckdb",
        env=env_for(source["url"], warehouse, tables="[]"),
        under=under,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return {"warehouse": warehouse, "log": done.stderr, "trace": trace if strace else None}


def test_the_source_holds_what_the_hunt_looks_for(source):
    """The secrets are really at the source, where Airflow writes them (else the hunt proves nothing)."""
    url = source["url"]
    assert scalar(url, "select count(*) from log where extra like '%ZqConfTokSecret7Wx%'") >= 1
    assert scalar(url, "select count(*) from log where extra like '%ZqVarValueSecret7Wx%'") >= 1
    assert (
        scalar(
            url, "select count(*) from import_error where stacktrace like '%ZqTracePwSecret7Wx%'"
        )
        == 1
    )
    assert len(source["archives"]) == 2
    archived_log = next(t for t in source["archives"] if "__log__" in t)
    assert (
        scalar(url, f"select count(*) from {archived_log} where extra like '%ZqAwsKeySecret7Wx%'")
        == 1
    )


def test_every_table_means_every_airflow_table(every_table, source):
    copied = raw_tables(every_table["warehouse"])
    strangers = {
        *source["archives"],
        "_xcom_archive",
        "celery_taskmeta",
        "celery_tasksetmeta",
        "superset_credentials",
        "dag_run_summary",
    }
    assert copied & strangers == set()
    assert {"log", "connection", "variable", "import_error", "dag_code"} <= copied
    notice = next(line for line in every_table["log"].splitlines() if "not copying" in line)
    for table in strangers:
        assert table in notice
    assert "AIRFLOW_AUDIT_ADDITIONAL_TABLES" in notice


def test_no_planted_secret_reaches_the_warehouse(every_table):
    assert hunt(every_table["warehouse"]) == {}


def test_no_process_of_the_sync_writes_a_planted_secret_anywhere(every_table):
    """Not into the warehouse, nor anywhere on the way: the extractor masks a value on its way
    into the file it hands over, never after it, so no unmasked value is written to the host's
    disk even for a moment (a killed run would leave it there), nor to a pipe, a log or a socket.
    Every write of every process of the run, as strace saw it."""
    if every_table["trace"] is None:
        pytest.skip("strace is not installed (apt-get install strace)")
    written = every_table["trace"].read_text(errors="replace")
    # the trace holds what was written: the rows' non-secret parts, in the extractor's files
    assert {m for m in NON_SECRET_MARKERS if m in written} == set(NON_SECRET_MARKERS)
    assert "log.csv" in written and "import_error.csv" in written
    assert {needle for needle in needles() if needle in written} == set()


def test_the_non_secret_parts_of_the_same_rows_arrive(every_table):
    with duckdb.connect(str(every_table["warehouse"]), read_only=True) as con:
        found = warehouse_hits(con, set(NON_SECRET_MARKERS))
    assert set(found) == set(NON_SECRET_MARKERS)
    assert f"{RAW}.log" in found["partner_feed_cfg"] and f"{RAW}.log" in found["--conn-extra"]


def test_the_hunt_would_see_a_leak(every_table, tmp_path):
    """Positive control: the same hunt finds each planted secret once it is in the warehouse, as text,
    as JSON, as bytea shown in hex, and as base64, in a copy of the warehouse."""
    copy = tmp_path / "leaky.duckdb"
    copy.write_bytes(every_table["warehouse"].read_bytes())
    import base64
    import json

    secrets = sorted(set(needles().values()))
    with duckdb.connect(str(copy)) as con:
        con.execute("create table main.leak (plain varchar, doc json, bin blob, b64 varchar)")
        for n, secret in enumerate(secrets):
            form = n % 4
            con.execute(
                "insert into main.leak values (?, ?, ?, ?)",
                [
                    secret if form == 0 else None,
                    json.dumps({"k": secret}) if form == 1 else None,
                    pickle.dumps({"k": secret}) if form == 2 else None,
                    base64.b64encode(b"xx" + secret.encode()).decode() if form == 3 else None,
                ],
            )
    assert set(hunt(copy)) == set(secrets)


def test_the_mart_extra_is_masked_and_useful(every_table, source, tmp_path):
    """What stg_airflow__logs.extra / fct_audit_events.extra hold: the command, masked values."""
    with duckdb.connect(str(every_table["warehouse"]), read_only=True) as con:
        extras = [
            e
            for (e,) in con.execute(
                f"select extra from \"{RAW}\".log where event = 'cli_variables_set'"
            ).fetchall()
        ]
    assert any("'variables', 'set', 'partner_feed_cfg', '***'" in e for e in extras)


def test_named_archives_get_the_policy_of_the_table_they_archive(source, tmp_path):
    archive_log = next(t for t in source["archives"] if "__log__" in t)
    archive_xcom = next(t for t in source["archives"] if "__xcom__" in t)
    warehouse = tmp_path / "w.duckdb"
    named = f"{archive_log},{archive_xcom},_xcom_archive,celery_taskmeta,superset_credentials"
    done = meltano(
        "run",
        "tap-airflow-metadb",
        "target-airflow-audit-duckdb",
        env=env_for(source["url"], warehouse, tables=named),
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert hunt(warehouse) == {}
    url = source["url"]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (rows,) = con.execute(f'select count(*) from "{RAW}"."{archive_log}"').fetchone()
        masked = con.execute(
            f'select count(*) from "{RAW}"."{archive_log}" where extra like \'%***%\''
        ).fetchone()[0]
    assert rows == scalar(url, f"select count(*) from {archive_log}") > 0
    assert masked > 0
    assert "value" not in raw_columns(warehouse, archive_xcom)
    assert "value" not in raw_columns(warehouse, "_xcom_archive")
    assert {"key", "dag_id", "task_id"} <= set(raw_columns(warehouse, "_xcom_archive"))
    assert raw_columns(warehouse, "celery_taskmeta") == ["id", "date_done", "retries"]
    assert raw_columns(warehouse, "superset_credentials") == ["id"]
    assert re.search(
        r"leaving out celery_taskmeta\.traceback \(a text column of a table Airflow does not have\)",
        done.stderr,
    )


def test_an_unknown_column_is_left_out_until_opted_in(source, tmp_path):
    url = source["url"]
    execute(
        url,
        "alter table slot_pool add column vendor_api_secret text default 'ZqVendorColumnSecret7Wx'",
    )
    try:
        warehouse = tmp_path / "w.duckdb"
        done = meltano(
            "run",
            "tap-airflow-metadb",
            "target-airflow-audit-duckdb",
            env=env_for(url, warehouse, tables="slot_pool"),
        )
        assert done.returncode == 0, done.stderr[-4000:]
        assert "vendor_api_secret" not in raw_columns(warehouse, "slot_pool")
        assert "pool" in raw_columns(warehouse, "slot_pool")
        assert re.search(
            r"leaving out slot_pool\.vendor_api_secret .*add slot_pool\.vendor_api_secret to AIRFLOW_AUDIT_ALLOW_COLUMNS",
            done.stderr,
        )
        opted = tmp_path / "opted.duckdb"
        done = meltano(
            "run",
            "tap-airflow-metadb",
            "target-airflow-audit-duckdb",
            env=env_for(
                url, opted, tables="slot_pool", allow_columns="slot_pool.vendor_api_secret"
            ),
        )
        assert done.returncode == 0, done.stderr[-4000:]
        with duckdb.connect(str(opted), read_only=True) as con:
            values = {
                v
                for (v,) in con.execute(
                    f'select vendor_api_secret from "{RAW}".slot_pool'
                ).fetchall()
            }
        assert values == {"ZqVendorColumnSecret7Wx"}
    finally:
        execute(url, "alter table slot_pool drop column vendor_api_secret")


def test_a_secret_column_cannot_be_opted_in(source, tmp_path):
    done = meltano(
        "run",
        "tap-airflow-metadb",
        "target-airflow-audit-duckdb",
        env=env_for(
            source["url"],
            tmp_path / "w.duckdb",
            tables="connection",
            allow_columns="connection.password",
        ),
    )
    assert done.returncode != 0
    assert "connection.password, a secret column" in done.stderr and "Traceback" not in done.stderr


# ---- least privilege ---------------------------------------------------------------------------------


def reader_url(url: str) -> str:
    return re.sub(r"//[^@]+@", f"//{READER}:{READER_PASSWORD}@", url)


@pytest.fixture(scope="module")
def reader(source) -> dict:
    """The read-only role, granted by the tap's own `--grants ROLE --apply` for every Airflow table."""
    url = source["url"]
    execute(
        url,
        f"drop role if exists {READER}",
        f"create role {READER} login password '{READER_PASSWORD}'",
    )
    env = env_for(url, Path("/nonexistent.duckdb"), tables="[]")
    printed = meltano("invoke", "tap-airflow-metadb", "--grants", READER, env=env)
    assert printed.returncode == 0, printed.stderr[-3000:]
    applied = meltano("invoke", "tap-airflow-metadb", "--grants", READER, "--apply", env=env)
    assert applied.returncode == 0, applied.stderr[-3000:]
    return {"url": reader_url(url), "sql": printed.stdout}


def test_the_grants_name_no_secret_column(reader):
    grants = [line for line in reader["sql"].splitlines() if line.startswith("grant select")]
    connection = next(g for g in grants if '"public"."connection"' in g)
    assert '"conn_id"' in connection and '"host"' in connection
    assert '"password"' not in connection and '"extra"' not in connection
    variable = next(g for g in grants if '"public"."variable"' in g)
    assert '"key"' in variable and '"val"' not in variable
    assert not any('"celery_taskmeta"' in g for g in grants)


def test_postgresql_refuses_the_role_every_secret_column(reader):
    for table, column in [
        ("connection", "password"),
        ("connection", "extra"),
        ("variable", "val"),
        ("xcom", "value"),
        ("dag_run", "conf"),
        ("log", "id"),
        ("ab_user", "password"),
    ]:
        conn = psycopg2.connect(reader["url"])
        try:
            with conn.cursor() as cur:
                if column == "id":  # a granted column: the control
                    cur.execute(f"select {column} from public.{table} limit 1")
                    continue
                with pytest.raises(
                    psycopg2.errors.InsufficientPrivilege, match="permission denied"
                ):
                    cur.execute(f"select {column} from public.{table} limit 1")
        finally:
            conn.close()


def test_the_whole_job_runs_under_the_read_only_role(reader, source, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    env = {**env_for(reader["url"], warehouse, tables="[]"), **dbt_paths(tmp_path)}
    done = meltano("run", "airflow-audit", env=env)
    assert done.returncode == 0, done.stderr[-6000:]
    assert "ERROR=0" in done.stderr
    assert hunt(warehouse) == {}
    # nor in what the run printed or logged (Meltano's output, dbt's log file)
    logs = (
        done.stderr
        + done.stdout
        + "".join(p.read_text() for p in (tmp_path / "logs").glob("*.log"))
    )
    forms = needles()
    assert sorted({forms[f] for f in forms if f in logs}) == []
    assert "connection.has_password will be empty" in done.stderr
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (conns,) = con.execute(f'select count(*) from "{RAW}".connection').fetchone()
    assert conns == scalar(source["url"], "select count(*) from connection")


def test_a_revoked_column_stops_the_run_in_one_sentence(reader, source, tmp_path):
    execute(source["url"], f"revoke select (hostname) on task_instance from {READER}")
    try:
        done = meltano(
            "run",
            "tap-airflow-metadb",
            "target-airflow-audit-duckdb",
            env=env_for(reader["url"], tmp_path / "w.duckdb"),
        )
        assert done.returncode != 0
        assert "Traceback" not in done.stderr
        line = next(line for line in done.stderr.splitlines() if "may not read column" in line)
        assert "task_instance.hostname" in line
        assert f'grant select ("hostname") on table "public"."task_instance" to "{READER}"' in line
        assert not (tmp_path / "w.duckdb").exists() or raw_tables(tmp_path / "w.duckdb") <= {
            "_airflow_audit_extracts"
        }
    finally:
        execute(source["url"], f"grant select (hostname) on task_instance to {READER}")


# A DAG whose task fails its first try with a request URL holding a key in the exception, and a
# retry policy, as a user writes one, that gives str(exception) as its reason. Airflow 3.3.2 runs it
# (`airflow dags test`): the task runner sends the reason with the retry, the execution API stores
# it on the task instance, the next try's start copies that try to task_instance_history and clears
# it on the task instance (task_runner.py, execution_api/routes/task_instances.py).
RETRY_DAG_ID = "airflow_audit_catalog_pull"
RETRY_KEY = "ZqRealRetryPolicyKey7Wx"
RETRY_DAG = f"""
from datetime import datetime, timedelta

from airflow.sdk import DAG, task
from airflow.sdk.definitions.retry_policy import RetryDecision, RetryPolicy


class CatalogRetryPolicy(RetryPolicy):
    def evaluate(self, exception, try_number, max_tries, context=None):
        return RetryDecision.retry(delay=timedelta(0), reason=f"CatalogRetryPolicy: {{exception}}")


with DAG("{RETRY_DAG_ID}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):

    @task(retries=1, retry_delay=timedelta(0), retry_policy=CatalogRetryPolicy())
    def pull_items(**context):
        if context["ti"].try_number == 1:
            raise ConnectionError(
                "503 Server Error: Service Unavailable for url: "
                "https://catalog.example.com/api/items?api_key={RETRY_KEY}&cursor=41"
            )

    pull_items()
"""
RETRY_REASON_MASKED = (
    "CatalogRetryPolicy: 503 Server Error: Service Unavailable for url: "
    "https://catalog.example.com/api/items?api_key=***&cursor=41"
)


def run_a_retry_policy_in_airflow_3(url: str, home: Path) -> None:
    """Airflow 3.3.2's own `dags test` of RETRY_DAG on the database at `url`."""
    (home / "dags").mkdir(parents=True)
    (home / "dags" / "catalog_pull.py").write_text(RETRY_DAG)
    airflow_cli("3.3.2", url, home, "dags", "test", RETRY_DAG_ID, "2026-11-30")


def test_the_whole_job_runs_under_the_read_only_role_on_airflow_3(airflow_db, tmp_path):
    """The same on Airflow 3.3.2's schema (its own tables, the 3.x API server's action log), with a
    retry reason Airflow 3.3.2 itself wrote."""
    url = airflow_db("3.3.2", "secrets_3_3_2")
    run_a_retry_policy_in_airflow_3(url, tmp_path / "airflow")
    # Airflow retried the try, kept the reason, key and all, on its history row (a try that had not
    # finished is recorded as failed: record_ti), and cleared it on the task instance when the second
    # try ran
    tries = f"from task_instance_history where dag_id = '{RETRY_DAG_ID}'"
    assert source_query(url, f"select try_number, state, retry_reason {tries}") == [
        (1, "failed", RETRY_REASON_MASKED.replace("***", RETRY_KEY))
    ]
    assert source_query(
        url,
        f"select try_number, state, retry_reason from task_instance where dag_id = '{RETRY_DAG_ID}'",
    ) == [(2, "success", None)]
    role, password = "airflow_audit_reader_3", "reader-3-pw"
    execute(url, f"drop role if exists {role}", f"create role {role} login password '{password}'")
    owner_env = env_for(url, tmp_path / "unused.duckdb", tables="[]")
    applied = meltano("invoke", "tap-airflow-metadb", "--grants", role, "--apply", env=owner_env)
    assert applied.returncode == 0, applied.stderr[-3000:]
    warehouse = tmp_path / "w.duckdb"
    reader = re.sub(r"//[^@]+@", f"//{role}:{password}@", url)
    done = meltano(
        "run",
        "airflow-audit",
        env={**env_for(reader, warehouse, tables="[]"), **dbt_paths(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-6000:]
    assert "ERROR=0" in done.stderr
    assert hunt(warehouse) == {}
    # the retry policy's reason quoting a request URL (Airflow 3.3 keeps it on the waiting try and
    # on its history row): at the source with its key, in the marts without it, the rest kept
    keyed = f"strpos(retry_reason, '{CARRIER_SECRETS['RetryKey']}') > 0"
    for table in ("task_instance", "task_instance_history"):
        assert scalar(url, f"select count(*) from {table} where {keyed}") == 1
    masked = "PartnerFeedRetryPolicy: 429 Client Error: %/v1/feed?api_key=***&page=2 %"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        found = warehouse_hits(con, set(NON_SECRET_MARKERS))
        (events,) = con.execute(
            'select count(*) from "airflow-local_marts".fct_audit_events'
        ).fetchone()
        reasons = {
            mart: con.execute(
                f'select count(*) from "airflow-local_marts".{mart} where retry_reason like ?',
                [masked],
            ).fetchone()[0]
            for mart in ("fct_task_instances", "fct_task_attempts")
        }
    assert set(found) == set(NON_SECRET_MARKERS)
    assert events == scalar(url, "select count(*) from log")
    assert reasons == {"fct_task_instances": 1, "fct_task_attempts": 1}
    # the reason Airflow wrote: no form of its key anywhere, the reason itself on its try
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert warehouse_hits(con, encoded_forms(RETRY_KEY)) == {}
        attempts = con.execute(
            'select try_number, state, retry_reason from "airflow-local_marts".fct_task_attempts '
            "where dag_id = ? order by try_number",
            [RETRY_DAG_ID],
        ).fetchall()
    assert attempts == [(1, "failed", RETRY_REASON_MASKED), (2, "success", None)]


def test_a_named_view_is_refused_in_one_sentence(source, tmp_path):
    done = meltano(
        "run",
        "tap-airflow-metadb",
        "target-airflow-audit-duckdb",
        env=env_for(source["url"], tmp_path / "w.duckdb", tables="dag_run_summary"),
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "dag_run_summary: no primary key (a view" in done.stderr
    warehouse = tmp_path / "w.duckdb"
    assert not warehouse.exists() or raw_tables(warehouse) == set()
