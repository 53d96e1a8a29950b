"""airflow-audit inside a real Airflow 2.10.5 and a real Airflow 3.3.2.

Each Airflow lives in its own venv (.airflow/venv-2, .airflow/venv-3, built once by
orchestrate/install_airflow.py and reused). Nothing here imports Airflow into the test process:
every check runs as a subprocess in the Airflow venv, with AIRFLOW_HOME in a temporary directory.

* the schedule export is current, and the check of it can fail;
* every DAG file imports with no error and no subprocess, socket or database at parse time,
  with the integrity rules (tags, retries with backoff, catchup off, max_active_runs 1, no
  cycles, the schedules as exported);
* the connection mapping on real Airflow Connection objects;
* end to end, `airflow dags test` of the example DAG: Airflow's own metadata database is a real
  Airflow schema in a throwaway PostgreSQL, filled with history, and the DAG exports it, its own
  run included, into DuckDB; every table's count equals the source;
* the per-table DAG loads one table and its check fails when the warehouse lost rows;
* a missing or wrong connection fails the task in one sentence.

Meltano runs with a private MELTANO_SYS_DIR_ROOT (the installed plugins linked in) and private
dbt target/log paths, so these runs never collide with other `meltano run`s of the checkout.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pytest

from tests.support import ROOT, source_query

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration

BIN = ROOT / ".venv" / "bin"
ORCHESTRATE = ROOT / "orchestrate"
DAGS = ORCHESTRATE / "dags"
PLUGINS = ORCHESTRATE / "plugins"
# The Airflow in each venv, and the fixture schema it matches.
AIRFLOW = {"2": "2.10.5", "3": "3.3.2"}
EXAMPLE_DAG = "snowflake_airflow_sync"
EXAMPLE_SCHEMA = "airflow-tables"
LOGICAL_DATE = "2025-06-01"
TIMEOUT = 900


# -- environments -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def airflow_venvs() -> dict[str, Path]:
    """.airflow/venv-2 and venv-3, installed from their locks unless already there."""
    started = time.monotonic()
    result = subprocess.run(
        [str(BIN / "python"), str(ORCHESTRATE / "install_airflow.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    print(f"Airflow venvs ready in {time.monotonic() - started:.0f} s:\n{result.stdout}")
    return {major: ROOT / ".airflow" / f"venv-{major}" for major in AIRFLOW}


def clean_environ() -> dict[str, str]:
    """This process's environment without anything that configures Airflow, Meltano or dbt."""
    prefixes = ("AIRFLOW", "MELTANO_", "DBT_", "TAP_", "TARGET_")
    dropped = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes) and k not in dropped}


def private_meltano(home: Path) -> dict[str, str]:
    """A Meltano system dir of our own: the installed plugins linked in; run files, state and
    dbt's target and logs private."""
    sys_dir = home / "meltano-sys"
    sys_dir.mkdir(parents=True, exist_ok=True)
    for kind in ("extractors", "loaders", "transformers", "utilities", "mappers", "orchestrators"):
        shared = ROOT / ".meltano" / kind
        if shared.exists() and not (sys_dir / kind).exists():
            (sys_dir / kind).symlink_to(shared)
    return {
        "MELTANO_SYS_DIR_ROOT": str(sys_dir),
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_TARGET_PATH": str(home / "dbt-target"),
        "DBT_LOG_PATH": str(home / "dbt-logs"),
    }


def airflow_environment(home: Path, metadb: str | None = None, **extra: str) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    env = clean_environ()
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadb or f"sqlite:///{home}/airflow.db",
            # A failed try would otherwise make `dags test` wait minutes for its retries.
            "AIRFLOW_AUDIT_DAG_RETRIES": "0",
            **private_meltano(home),
        }
    )
    env.update(extra)
    return env


def run(venv: Path, *args: str, env: dict[str, str], timeout: int = TIMEOUT):
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def check_dags(venv: Path, home: Path, dags_folder: Path = DAGS) -> dict:
    out = home / "check.json"
    env = airflow_environment(home)
    del env["AIRFLOW_AUDIT_DAG_RETRIES"]  # the DAGs as they ship
    result = run(
        venv,
        "python",
        str(ORCHESTRATE / "check_dags.py"),
        "--dags-folder",
        str(dags_folder),
        "--output",
        str(out),
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(out.read_text())


def task_failed(result: subprocess.CompletedProcess) -> bool:
    """`airflow tasks test` exits 1 on a failed task in Airflow 2, 0 in Airflow 3 (it logs it)."""
    return result.returncode != 0 or "Task failed with exception" in result.stdout + result.stderr


def duckdb_connection(conn_id: str, path: Path) -> dict[str, str]:
    return {
        f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps({"conn_type": "duckdb", "host": str(path)})
    }


# -- the schedule export ------------------------------------------------------------------------


def test_the_schedule_export_matches_the_meltano_schedules(tmp_path):
    export = [str(BIN / "python"), str(ORCHESTRATE / "export_schedules.py"), "--check"]
    current = subprocess.run(export, cwd=ROOT, capture_output=True, text=True, check=False)
    assert current.returncode == 0, current.stderr
    stale = tmp_path / "schedules.json"
    stale.write_text(json.dumps({"schedules": {"job": [], "elt": []}}))
    outdated = subprocess.run(
        [*export, "--output", str(stale)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert outdated.returncode == 1
    assert "out of date" in outdated.stderr and "make schedules" in outdated.stderr


# -- DAG integrity ------------------------------------------------------------------------------


@pytest.mark.parametrize("major", AIRFLOW)
def test_every_dag_file_imports_and_holds_together(major, airflow_venvs, tmp_path):
    report = check_dags(airflow_venvs[major], tmp_path)
    assert report["airflow_version"] == AIRFLOW[major]
    assert report["import_errors"] == {}
    assert report["parse_time_calls"] == {}, "DAG files must not touch processes, network or DBs"

    schedules = json.loads((DAGS / "schedules.json").read_text())["schedules"]["job"]
    per_table = json.loads((DAGS / "per_table.json").read_text())
    table_dags = {f"airflow_audit_table_{t}": t for t in per_table["tables"]}
    dags = report["dags"]
    assert set(dags) == {s["name"] for s in schedules} | {EXAMPLE_DAG} | set(table_dags)

    for dag_id, dag in dags.items():
        assert dag["catchup"] is False, dag_id
        assert dag["max_active_runs"] == 1, dag_id
        assert dag["tags"], dag_id
        assert dag["cycle"] is False, dag_id
        for task_id, task in dag["tasks"].items():
            assert task["retries"] >= 1, (dag_id, task_id)
            assert task["retry_exponential_backoff"], (dag_id, task_id)
            assert task["max_retry_delay_s"] > task["retry_delay_s"] > 0, (dag_id, task_id)

    for schedule in schedules:
        dag = dags[schedule["name"]]
        assert dag["schedule"] == schedule["cron_interval"]
        assert "airflow-audit" in dag["tags"]
        runs = [task["meltano_run"] for task in dag["tasks"].values()]
        assert runs == [[blocks] for blocks in schedule["job"]["tasks"]]
        assert all(task["env"] == schedule["env"] for task in dag["tasks"].values())

    example = dags[EXAMPLE_DAG]
    assert example["schedule"] == "0 0 1 */12 *"
    assert example["tags"] == ["version_1"]
    (task,) = example["tasks"].values()
    assert task["operator"] == "AirflowMetadataSyncOperator"
    assert task["tables"] is None
    assert task["additional_tables"] == ["log", "log_template"]
    assert task["destination_schema"] == EXAMPLE_SCHEMA
    assert task["service_connection_name"] == "raw"

    starts = set()
    for dag_id, table in table_dags.items():
        dag = dags[dag_id]
        minute, hour = map(int, dag["schedule"].split()[:2])
        assert hour == 0 and 0 <= minute < 30, dag["schedule"]
        starts.add(minute)
        load, check = dag["tasks"][f"load_{table}"], dag["tasks"][f"check_{table}"]
        assert load["tables"] == [table] and check["table"] == table
        assert load["downstream"] == [f"check_{table}"]
    assert len(starts) == len(table_dags), "no two tables start at the same minute"


def test_the_dag_check_catches_bad_dag_files(airflow_venvs, tmp_path):
    """Proof the integrity test above can fail: parse-time subprocesses and import errors."""
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "calls_at_parse_time.py").write_text(
        "import subprocess\nfrom datetime import datetime\nfrom airflow import DAG\n"
        "subprocess.run(['true'])\n"
        "with DAG('bad', schedule=None, start_date=datetime(2025, 1, 1)):\n    pass\n"
    )
    (folder / "broken.py").write_text("from airflow import DAG\nimport no_such_module_here\n")
    report = check_dags(airflow_venvs["3"], tmp_path, folder)
    assert "no_such_module_here" in report["import_errors"]["broken.py"]
    assert any(
        "subprocess.Popen" in c for c in report["parse_time_calls"]["calls_at_parse_time.py"]
    )


# -- connections --------------------------------------------------------------------------------

MAPPING_SCRIPT = """
import json, sys
from airflow_audit_operator import compat
from airflow_audit_operator.connection_settings import choose_warehouse, warehouse_environment
if compat.AIRFLOW_3:
    from airflow.sdk import Connection
else:
    from airflow.models.connection import Connection

built = Connection(
    conn_id="built", conn_type="redshift", host="cluster.example", login="loader",
    password="pw", schema="analytics", port=5439,
    extra=json.dumps({"s3_bucket": "staging", "region_name": "eu-west-1"}),
)
conns = {"built": built}
for conn_id in ("sf_json", "sf_uri", "bq_uri", "duck"):
    conns[conn_id] = compat.get_connection(conn_id)
out = {}
for conn_id, conn in conns.items():
    out[conn_id] = {
        "class": type(conn).__module__,
        "env": warehouse_environment(conn, choose_warehouse(conn, None)),
    }
print(json.dumps(out))
"""

PEM = "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"


@pytest.mark.parametrize("major", AIRFLOW)
def test_connection_mapping_on_real_airflow_connections(major, airflow_venvs, tmp_path):
    key = {"type": "service_account", "project_id": "acme-key", "private_key": "k"}
    env = airflow_environment(
        tmp_path,
        AIRFLOW_CONN_SF_JSON=json.dumps(
            {
                "conn_type": "snowflake",
                "login": "loader",
                "password": "passphrase",
                "extra": {
                    "account": "xy12345",
                    "region": "eu-west-1",
                    "warehouse": "LOADING",
                    "database": "RAW",
                    "role": "LOADER",
                    "private_key_content": PEM,
                },
            }
        ),
        # The URI form, with the old prefixed extra names.
        AIRFLOW_CONN_SF_URI=(
            "snowflake://loader:p%40ss@/?extra__snowflake__account=xy12345"
            "&extra__snowflake__database=RAW&extra__snowflake__warehouse=LOADING"
        ),
        AIRFLOW_CONN_BQ_URI="google-cloud-platform://?location=EU&keyfile_dict="
        + json.dumps(key).replace('"', "%22").replace(" ", "%20"),
        **duckdb_connection("duck", tmp_path / "w.duckdb"),
    )
    result = run(
        airflow_venvs[major], "python", "-c", MAPPING_SCRIPT, str(PLUGINS), env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["built"]["class"].startswith("airflow.sdk" if major == "3" else "airflow.models")
    assert got["built"]["env"] == {
        "AIRFLOW_AUDIT_REDSHIFT_HOST": "cluster.example",
        "AIRFLOW_AUDIT_REDSHIFT_PORT": "5439",
        "AIRFLOW_AUDIT_REDSHIFT_USER": "loader",
        "AIRFLOW_AUDIT_REDSHIFT_PASSWORD": "pw",
        "AIRFLOW_AUDIT_REDSHIFT_DATABASE": "analytics",
        "AIRFLOW_AUDIT_REDSHIFT_S3_BUCKET": "staging",
        "AIRFLOW_AUDIT_REDSHIFT_S3_REGION": "eu-west-1",
    }
    assert got["sf_json"]["env"] == {
        "AIRFLOW_AUDIT_SNOWFLAKE_ACCOUNT": "xy12345.eu-west-1",
        "AIRFLOW_AUDIT_SNOWFLAKE_USER": "loader",
        "AIRFLOW_AUDIT_SNOWFLAKE_ROLE": "LOADER",
        "AIRFLOW_AUDIT_SNOWFLAKE_WAREHOUSE": "LOADING",
        "AIRFLOW_AUDIT_SNOWFLAKE_DATABASE": "RAW",
        "AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY": PEM + "\n",
        "AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": "passphrase",
    }
    assert got["sf_uri"]["env"] == {
        "AIRFLOW_AUDIT_SNOWFLAKE_ACCOUNT": "xy12345",
        "AIRFLOW_AUDIT_SNOWFLAKE_USER": "loader",
        "AIRFLOW_AUDIT_SNOWFLAKE_PASSWORD": "p@ss",
        "AIRFLOW_AUDIT_SNOWFLAKE_WAREHOUSE": "LOADING",
        "AIRFLOW_AUDIT_SNOWFLAKE_DATABASE": "RAW",
    }
    bq = got["bq_uri"]["env"]
    assert json.loads(bq.pop("AIRFLOW_AUDIT_BIGQUERY_CREDENTIALS_JSON")) == key
    assert bq == {
        "AIRFLOW_AUDIT_BIGQUERY_PROJECT": "acme-key",
        "AIRFLOW_AUDIT_BIGQUERY_LOCATION": "EU",
    }
    assert got["duck"]["env"] == {"AIRFLOW_AUDIT_DUCKDB_PATH": str(tmp_path / "w.duckdb")}


# -- end to end ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_metadb(airflow_venvs, airflow_db, tmp_path_factory) -> Callable[[str], tuple[str, dict]]:
    """major -> (URL, env) of an Airflow whose own metadata database is a filled real schema."""
    made: dict[str, tuple[str, dict]] = {}

    def make(major: str) -> tuple[str, dict]:
        if major not in made:
            url = airflow_db(AIRFLOW[major], f"orchestrate_airflow_{major}")
            airflow_url = url.replace("postgresql://", "postgresql+psycopg2://", 1)
            home = tmp_path_factory.mktemp(f"airflow-{major}")
            env = airflow_environment(home, airflow_url)
            migrated = run(airflow_venvs[major], "airflow", "db", "migrate", env=env)
            assert migrated.returncode == 0, migrated.stdout[-2000:] + migrated.stderr[-2000:]
            made[major] = (url, env)
        return made[major]

    return make


def warehouse_counts(path: Path, schema: str) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "select table_name from duckdb_tables() where schema_name = ? "
            "and not starts_with(table_name, '_')",
            [schema],
        ).fetchall()
        return {
            t: con.execute(f'select count(*) from "{schema}"."{t}"').fetchone()[0]
            for (t,) in tables
        }


def extracted_until(path: Path, schema: str, table: str):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f'select max(_sdc_extracted_at) from "{schema}"."{table}"').fetchone()[0]


def expected_tables(url: str) -> set[str]:
    from tap_airflow_metadb.policy import DEFAULT_TABLES

    present = {
        t
        for (t,) in source_query(
            url, "select table_name from information_schema.tables where table_schema = 'public'"
        )
    }
    return (set(DEFAULT_TABLES) | {"log", "log_template"}) & present


@pytest.mark.parametrize("major", AIRFLOW)
def test_the_example_dag_exports_its_own_airflow_database(
    major, airflow_venvs, own_metadb, tmp_path
):
    """Airflow 2 reads its own database with nothing set; Airflow 3 hides it from tasks, so
    there the worker's AIRFLOW_AUDIT_SOURCE_URL names it (the documented Airflow 3 set-up)."""
    url, base = own_metadb(major)
    warehouse = tmp_path / "warehouse.duckdb"
    env = {**base, **duckdb_connection("raw", warehouse)}
    if major == "3":
        env["AIRFLOW_AUDIT_SOURCE_URL"] = url
    started = time.monotonic()
    result = run(
        airflow_venvs[major], "airflow", "dags", "test", EXAMPLE_DAG, LOGICAL_DATE, env=env
    )
    output = result.stdout + result.stderr
    (tmp_path / "dags-test.log").write_text(output)
    assert result.returncode == 0, output[-6000:]
    print(
        f"airflow dags test {EXAMPLE_DAG} on Airflow {AIRFLOW[major]}: {time.monotonic() - started:.0f} s"
    )

    states = source_query(url, f"select state from task_instance where dag_id = '{EXAMPLE_DAG}'")
    assert states == [("success",)]
    assert "meltano run airflow-audit" in output  # a duckdb connection runs the DuckDB job

    counts = warehouse_counts(warehouse, EXAMPLE_SCHEMA)
    assert set(counts) == expected_tables(url)
    for table, count in counts.items():
        if table == "log":  # Airflow logs the task's own success after the export read the table
            until = extracted_until(warehouse, EXAMPLE_SCHEMA, "log")
            sql = f"select count(*) from log where dttm <= '{until.isoformat()}'"
        else:
            sql = f'select count(*) from "{table}"'
        assert count == source_query(url, sql)[0][0], table
    assert counts["task_instance"] > 1000 and counts["log"] > 1000, "the filled history arrived"

    with duckdb.connect(str(warehouse), read_only=True) as con:
        own_run = con.execute(
            f'select count(*) from "{EXAMPLE_SCHEMA}".dag_run where dag_id = ?', [EXAMPLE_DAG]
        ).fetchone()[0]
        marts = con.execute(
            f'select count(*) from "{EXAMPLE_SCHEMA}_marts".fct_dag_runs'
        ).fetchone()[0]
    assert own_run == 1, "the export holds the very run that made it"
    assert marts == counts["dag_run"]

    password = urlsplit(url).password
    assert password and password not in output, "a secret reached the task log"


def test_the_per_table_dag_loads_its_table_and_reconciles_it(airflow_venvs, own_metadb, tmp_path):
    url, base = own_metadb("3")
    warehouse = tmp_path / "per-table.duckdb"
    env = {**base, **duckdb_connection("load_airflow", warehouse), "AIRFLOW_AUDIT_SOURCE_URL": url}
    started = time.monotonic()
    result = run(
        airflow_venvs["3"],
        "airflow",
        "dags",
        "test",
        "airflow_audit_table_dag_run",
        LOGICAL_DATE,
        env=env,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    print(f"per-table dags test: {time.monotonic() - started:.0f} s")
    source = source_query(url, "select count(*) from dag_run")[0][0]
    assert warehouse_counts(warehouse, "airflow-local") == {"dag_run": source}
    assert f"dag_run: source {source}, warehouse {source}: ok" in output
    states = source_query(
        url,
        "select task_id, state from task_instance where dag_id = 'airflow_audit_table_dag_run' "
        "order by task_id",
    )
    assert states == [("check_dag_run", "success"), ("load_dag_run", "success")]

    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            'delete from "airflow-local".dag_run where id in (select min(id) from "airflow-local".dag_run)'
        )
    check = run(
        airflow_venvs["3"],
        "airflow",
        "tasks",
        "test",
        "airflow_audit_table_dag_run",
        "check_dag_run",
        LOGICAL_DATE,
        env=env,
    )
    output = check.stdout + check.stderr
    assert task_failed(check)
    assert (
        "Reconciliation failed: the warehouse table airflow-local.dag_run lacks 1 rows that the "
        "source had when it was read; rerun with AIRFLOW_AUDIT_FULL_REFRESH=dag_run to reload."
    ) in output


@pytest.mark.parametrize("major", AIRFLOW)
def test_a_missing_or_wrong_connection_fails_in_one_sentence(
    major, airflow_venvs, own_metadb, tmp_path
):
    _, base = own_metadb(major)
    task = ("airflow", "tasks", "test", EXAMPLE_DAG, "airflow_sync", LOGICAL_DATE)
    missing = run(airflow_venvs[major], *task, env=base)
    assert task_failed(missing)
    assert (
        "The Airflow connection 'raw' does not exist: create it, or name the connection that "
        "holds the warehouse's credentials in service_connection_name."
    ) in missing.stdout + missing.stderr
    wrong = {**base, "AIRFLOW_CONN_RAW": json.dumps({"conn_type": "http", "host": "example.com"})}
    result = run(airflow_venvs[major], *task, env=wrong)
    assert task_failed(result)
    assert (
        "Connection 'raw' is of type 'http', which does not say which warehouse to load: pass "
        "warehouse= (one of duckdb, snowflake, redshift, bigquery)."
    ) in result.stdout + result.stderr


@pytest.mark.slow
def test_a_schedule_dag_runs_its_meltano_job(airflow_venvs, own_metadb, tmp_path):
    """The daily schedule's DAG on Airflow 2: the job with the schedule's env, the warehouse as
    the worker's variables configure it, the source Airflow's own database."""
    url, base = own_metadb("2")
    warehouse = tmp_path / "scheduled.duckdb"
    env = {**base, "AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse)}
    result = run(
        airflow_venvs["2"],
        "airflow",
        "dags",
        "test",
        "airflow-audit-daily-full",
        LOGICAL_DATE,
        env=env,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert (
        "settings passed to Meltano: AIRFLOW_AUDIT_FULL_REFRESH, AIRFLOW_AUDIT_SOURCE_URL" in output
    )
    counts = warehouse_counts(warehouse, "airflow-local")
    assert counts["dag_run"] == source_query(url, "select count(*) from dag_run")[0][0]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute('select count(*) from "airflow-local_marts".fct_dag_runs').fetchone()[0]


class SmtpCollector:
    """A local SMTP server that keeps what it receives (the notifier's target)."""

    def __init__(self) -> None:
        import threading
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import asyncore
            import smtpd

        received = self.received = []

        class Server(smtpd.SMTPServer):
            def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
                received.append((mailfrom, rcpttos, data))

        self.server = Server(("127.0.0.1", 0), None)
        self.port = self.server.socket.getsockname()[1]
        self._loop = asyncore.loop
        threading.Thread(target=self._loop, kwargs={"timeout": 0.1}, daemon=True).start()

    def close(self) -> None:
        self.server.close()


@pytest.mark.parametrize("major", AIRFLOW)
def test_the_notifier_task_sends_the_new_alerts(major, airflow_venvs, own_metadb, tmp_path):
    """The generated hourly DAG, with AIRFLOW_AUDIT_ALERTS_NOTIFIER=smtp, ends with notify_alerts;
    run by Airflow's own `tasks test` after a sync, it sends one e-mail through Airflow's SMTP
    notifier and connection, to a local SMTP server, holding exactly rpt_alerts' new alerts."""
    from email import message_from_bytes, policy

    from tests.support import meltano

    url, base = own_metadb(major)
    warehouse = tmp_path / "alerts.duckdb"
    synced = meltano(
        "run",
        "airflow-audit",
        env={
            "AIRFLOW_AUDIT_SOURCE_URL": url,
            "AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse),
            "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
            "DBT_TARGET_PATH": str(tmp_path / "target"),
            "DBT_LOG_PATH": str(tmp_path / "logs"),
        },
    )
    assert synced.returncode == 0, synced.stderr[-4000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        expected = [
            m
            for (m,) in con.execute(
                'select message from "airflow-local_marts".rpt_alerts where is_new '
                "order by severity_rank, raised_at, alert_key"
            ).fetchall()
        ]
    assert expected, "the filled history raises alerts (failure streaks, stuck work)"

    smtp = SmtpCollector()
    try:
        smtp_connection = {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": smtp.port,
            "extra": {"disable_ssl": True, "disable_tls": True},
        }
        env = {
            **base,
            "AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse),
            "AIRFLOW_AUDIT_ALERTS_NOTIFIER": "smtp",
            "AIRFLOW_AUDIT_ALERTS_TO": "platform@example.org",
            "AIRFLOW_AUDIT_ALERTS_FROM": "airflow-audit@example.org",
            "AIRFLOW_AUDIT_ALERTS_CONN_ID": "audit_smtp",
            "AIRFLOW_CONN_AUDIT_SMTP": json.dumps(smtp_connection),
        }
        result = run(
            airflow_venvs[major],
            *("airflow", "tasks", "test", "airflow-audit-hourly", "notify_alerts", LOGICAL_DATE),
            env=env,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-6000:]
        deadline = time.monotonic() + 10
        while not smtp.received and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        smtp.close()
    assert len(smtp.received) == 1, output[-3000:]
    sender, recipients, data = smtp.received[0]
    assert (sender, recipients) == ("airflow-audit@example.org", ["platform@example.org"])
    email = message_from_bytes(data, policy=policy.default)
    assert (
        email["Subject"] == f"airflow-audit: {len(expected)} new alert(s) from airflow-audit-hourly"
    )
    body = email.get_body(("html",)).get_content()
    import html as html_module

    sent = re.findall(r"<td>([^<]*)</td></tr>", body)
    assert [html_module.unescape(m) for m in sent] == expected
    password = urlsplit(url).password
    assert password and password not in output + body
