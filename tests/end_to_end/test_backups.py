"""Backups: `airflow-audit-backup take` and `verify`, and syncing from a backup file.

Every fixture release (2.4.3 to 3.3.2), with the real `pg_dump`/`pg_restore`/`psql`:
* `take` dumps the source with the project's connection settings and verifies it: the right
  Airflow version, usable, every connection (id, type, host without credentials) and variable key
  of the source listed, and no planted secret anywhere in what it prints, plain or JSON;
* `AIRFLOW_AUDIT_SOURCE_DUMP=<that dump> meltano run airflow-audit` gives the same raw tables and
  marts as a live sync of the database it came from;
* the scratch database is gone afterwards, on the project's own scratch server and on an existing
  one (AIRFLOW_AUDIT_SCRATCH_URL), also when the run is killed.
Damaged backups (truncated, not Airflow's, another version than expected, older than 2.4, stuck
runs, orphan task instances, a sequence behind its table) are each reported as such, with the exit
status the command documents, in one sentence where it cannot verify at all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import duckdb
import psycopg2
import pytest
from sqlalchemy.engine import make_url

from tap_airflow_metadb import airflow_versions
from tap_airflow_metadb.backup import DATABASE_PREFIX, SESSIONS_DIR, client_program
from tests.fixtures.airflow_history import PLANTED_SECRETS
from tests.fixtures.airflow_secret_carriers import NON_SECRETS
from tests.support import BIN, ROOT, airflow_cli, airflow_db_migrate, encoded_forms, meltano
from tests.support.sync import ALL_VERSIONS, copy_rows_sql, dbt_paths, execute, scalar

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration

SYNC = (
    "run",
    "tap-airflow-metadb",
    "target-airflow-audit-duckdb",
    "airflow-audit-reconcile:duckdb",
)
# What describes the run rather than the data: Singer's and the pipeline's own columns and tables, and
# when a build wrote a mart's row.
RUN_COLUMNS = ("_sdc_", "_airflow_audit_", "airflow_audit_built_at")
# ... and the marts' columns measured from the moment of the sync (the extraction's clock)
SYNC_CLOCK_COLUMNS = {"extracted_at", "heartbeat_age_s", "as_of", "age_s"}
# ... and the history's and the alerts' clock: when the build saw a version or an alert (dbt
# snapshots date versions by the build, and name them by key and date); an alert's sentence says
# ages measured at the sync
SYNC_CLOCK_COLUMNS |= {
    "first_seen_at",
    "valid_from",
    "valid_to",
    "changed_at",
    "previous_version_at",
    "dag_version_key",
    "access_change_key",
    "connection_change_key",
    "variable_change_key",
    "message",
}


def needles() -> dict[str, str]:
    return {form: s for s in PLANTED_SECRETS for form in encoded_forms(s)}


def leaked(text: str) -> set[str]:
    return {secret for form, secret in needles().items() if form in text}


def restores_on(server_url: str) -> list[str]:
    """The scratch databases left on a server."""
    conn = psycopg2.connect(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select datname from pg_database where starts_with(datname, %s)",
                (DATABASE_PREFIX,),
            )
            return [d for (d,) in cur.fetchall()]
    finally:
        conn.close()


def restores_gone(server_url: str, timeout: float = 30) -> bool:
    """Whether the scratch databases are gone within `timeout`: a run's restore is dropped by its
    watchdog, which notices the run's end within half a second."""
    deadline = time.monotonic() + timeout
    while restores_on(server_url) and time.monotonic() < deadline:
        time.sleep(0.2)
    return restores_on(server_url) == []


def restores_of(dump: Path) -> list[dict]:
    """The restores of `dump` still recorded (other runs on the machine may have their own)."""
    found = []
    for path in SESSIONS_DIR.glob("*.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if record.get("dump") == str(dump):
            found.append(record)
    return found


def pg_dump(url: str, path: Path, fmt: str = "custom") -> Path:
    done = subprocess.run(
        [client_program("pg_dump"), f"--format={fmt}", "--file", str(path), url],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return path


def backup_cli(*args: str, **settings: str) -> subprocess.CompletedProcess:
    env = {f"AIRFLOW_AUDIT_{k.upper()}": v for k, v in settings.items()}
    return meltano("invoke", "airflow-audit-backup", *args, env=env, timeout=600)


def one_sentence(done: subprocess.CompletedProcess) -> str:
    """The command's own error line (meltano's log lines around it left out)."""
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    mine = [ln for ln in done.stderr.splitlines() if "airflow-audit-backup: " in ln]
    assert len(mine) == 1, done.stderr[-3000:]
    return mine[0].split("airflow-audit-backup: ", 1)[1]


@pytest.fixture(scope="module")
def sources(airflow_db) -> dict[str, str]:
    return {v: airflow_db(v, f"backup_{v.replace('.', '_')}") for v in ALL_VERSIONS}


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_take_verifies_the_backup_of_every_release(sources, postgres, tmp_path, version):
    url = sources[version]
    dump = tmp_path / "airflow.dump"
    # the odd releases restore into the tests' server as an existing one, the others into a
    # scratch server the project starts itself
    external = ALL_VERSIONS.index(version) % 2 == 1
    scratch = {"scratch_url": postgres.url} if external else {}
    done = backup_cli(
        "take", str(dump), "--expect-version", version, "--json", source_url=url, **scratch
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["airflow_version"] == version
    assert report["usable"] is True, report["problems"]
    assert report["problems"] == []

    connections = scalar(
        url,
        "select json_agg(json_build_array(conn_id, conn_type, host) order by conn_id) from connection",
    )
    assert [(c["conn_id"], c["conn_type"]) for c in report["connections"]] == [
        (c, t) for c, t, _h in connections
    ]
    for listed, (_c, _t, host) in zip(report["connections"], connections, strict=True):
        if host and "@" not in host:
            assert listed["host"] == host
        elif host:  # URL credentials dropped, the host itself kept
            assert "@" not in listed["host"] and NON_SECRETS["host_name"] in listed["host"]
    assert report["variables"] == scalar(url, "select json_agg(key order by key) from variable")
    if scalar(url, "select to_regclass('ab_user') is not null"):
        assert sorted(u["username"] for u in report["users"]) == sorted(
            scalar(url, "select json_agg(username) from ab_user")
        )
    rows = {t["table"]: t["rows"] for t in report["tables"]}
    assert rows["task_instance"] == scalar(url, "select count(*) from task_instance")
    clean = report["db_clean"]
    assert clean["rows"]["log"] == scalar(
        url, f"select count(*) from log where dttm < '{clean['clean_before']}'"
    )

    plain = backup_cli("verify", str(dump), source_url=url, **scratch)
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert "USABLE" in plain.stdout
    for c, _t, _h in connections:
        assert c in plain.stdout
    for text in (done.stdout, done.stderr, plain.stdout, plain.stderr):
        assert leaked(text) == set(), "a planted secret is in the backup report"

    if external:
        assert restores_on(postgres.url) == []
    assert restores_of(dump) == []


@pytest.mark.parametrize("version", ["2.10.5", "3.3.2"])
def test_verify_a_database_airflow_itself_made(postgres, tmp_path, version):
    """Not the generator's idea of Airflow: a database made by that release's own `airflow db
    migrate` (3.3.2 without the FAB provider), with a connection and a variable written by its CLI."""
    url = postgres.create_database(f"backup_real_{version.replace('.', '_')}")
    home = tmp_path / "airflow-home"
    home.mkdir()
    airflow_db_migrate(url, version, home)
    secrets = ["ZqRealConnPw7Wx", "ZqRealHostPw7Wx", "ZqRealPw2Wx", "ZqRealVarValue7Wx"]
    airflow_cli(
        version, url, home, "connections", "add", "warehouse_pg",
        "--conn-uri", f"postgres://loader:{secrets[0]}@db.internal.example:5432/wh",
    )  # fmt: skip
    airflow_cli(
        version, url, home, "connections", "add", "partner", "--conn-type", "http",
        "--conn-host", f"https://feed:{secrets[1]}@api.example.org", "--conn-password", secrets[2],
    )  # fmt: skip
    airflow_cli(version, url, home, "variables", "set", "api_token", secrets[3])
    done = backup_cli(
        "take", str(tmp_path / "a.dump"), "--expect-version", version, "--json", source_url=url
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert (report["airflow_version"], report["usable"], report["problems"]) == (version, True, [])
    assert [(c["conn_id"], c["host"]) for c in report["connections"]] == [
        ("partner", "https://api.example.org"),
        ("warehouse_pg", "db.internal.example"),
    ]
    assert report["variables"] == ["api_token"]
    assert [s for s in secrets if s in done.stdout + done.stderr] == []


def comparable(warehouse: Path, schema: str) -> dict[str, list[tuple]]:
    """table -> its rows, sorted, without the columns that describe the run."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [
            t
            for (t,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = ? "
                "and not starts_with(table_name, '_')",
                [schema],
            ).fetchall()
        ]
        found = {}
        for table in tables:
            columns = [
                c
                for (c,) in con.execute(
                    "select column_name from duckdb_columns() where schema_name = ? and "
                    "table_name = ? order by column_index",
                    [schema, table],
                ).fetchall()
                if not c.startswith(RUN_COLUMNS) and c not in SYNC_CLOCK_COLUMNS
            ]
            select = ", ".join(f'cast("{c}" as varchar)' for c in columns)
            found[table] = sorted(
                con.execute(f'select {select} from "{schema}"."{table}"').fetchall(),
                key=lambda r: tuple("" if v is None else v for v in r),
            )
        return found


# Two whole jobs each: the oldest and the newest schema in `make test`, on an existing server and on
# one the run starts; the releases between in `make test-all`.
DUMP_VERSIONS = [
    v if v in (ALL_VERSIONS[0], ALL_VERSIONS[-1]) else pytest.param(v, marks=pytest.mark.slow)
    for v in ALL_VERSIONS
]


@pytest.mark.parametrize("version", DUMP_VERSIONS)
def test_a_sync_from_a_dump_equals_a_live_sync(sources, postgres, tmp_path, version):
    url = sources[version]
    dump = pg_dump(url, tmp_path / "airflow.dump")
    external = ALL_VERSIONS.index(version) % 2 == 0 and version != ALL_VERSIONS[-1]
    slug = "from-dump"
    warehouses = {}
    for how in ("live", "dump"):
        root = tmp_path / how
        root.mkdir()
        warehouses[how] = root / "w.duckdb"
        env = {
            "AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouses[how]),
            "AIRFLOW_AUDIT_ENV_SLUG": slug,
            "AIRFLOW_AUDIT_TABLES": "[]",
            "MELTANO_DATABASE_URI": f"sqlite:///{root / 'meltano.db'}",
            **dbt_paths(root),
        }
        if how == "live":
            env["AIRFLOW_AUDIT_SOURCE_URL"] = url
        else:
            env["AIRFLOW_AUDIT_SOURCE_DUMP"] = str(dump)
            if external:
                env["AIRFLOW_AUDIT_SCRATCH_URL"] = postgres.url
        done = meltano("run", "airflow-audit", env=env)
        assert done.returncode == 0, done.stderr[-5000:]
        if how == "dump":
            assert "restored " in done.stderr and "scratch database" in done.stderr
            assert "Traceback" not in done.stderr
    live = comparable(warehouses["live"], f"airflow-{slug}")
    assert len(live) >= 20
    assert comparable(warehouses["dump"], f"airflow-{slug}") == live
    marts = comparable(warehouses["live"], f"airflow-{slug}_marts")
    assert all(marts[m] for m in ("fct_dag_runs", "fct_task_instances", "fct_audit_events"))
    assert comparable(warehouses["dump"], f"airflow-{slug}_marts") == marts
    if external:
        assert restores_gone(postgres.url)


@pytest.mark.parametrize("scratch", ["own-server", "existing-server"])
def test_a_killed_run_leaves_no_scratch_database(sources, postgres, tmp_path, scratch):
    dump = pg_dump(sources["2.10.5"], tmp_path / "airflow.dump")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_AUDIT_", "AIRFLOW__"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
        MELTANO_DATABASE_URI=f"sqlite:///{tmp_path / 'meltano.db'}",
        AIRFLOW_AUDIT_SOURCE_DUMP=str(dump),
        AIRFLOW_AUDIT_DUCKDB_PATH=str(tmp_path / "w.duckdb"),
        AIRFLOW_AUDIT_ENV_SLUG="killed",
        AIRFLOW_AUDIT_TABLES="[]",
    )
    if scratch == "existing-server":
        env["AIRFLOW_AUDIT_SCRATCH_URL"] = postgres.url
    run = subprocess.Popen(
        [str(BIN / "meltano"), *SYNC],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    session = None
    deadline = time.monotonic() + 120
    while session is None and time.monotonic() < deadline and run.poll() is None:
        for path in SESSIONS_DIR.glob("*.json"):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if record.get("owner") == run.pid:
                session = (path, record)
        time.sleep(0.02)
    assert session is not None, "the run never restored the dump"
    path, record = session
    os.killpg(run.pid, signal.SIGKILL)  # the run and every plugin it started
    run.wait()
    deadline = time.monotonic() + 60
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not path.exists(), "the restore outlived its killed run"
    if scratch == "existing-server":
        assert record["database"] not in restores_on(postgres.url)
    else:
        data_dir = record["server"]["data_dir"]
        assert not Path(data_dir).exists()
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert data_dir not in ps


@pytest.fixture(scope="module")
def damaged(airflow_db, postgres, tmp_path_factory) -> dict[str, Path]:
    """Backups of one 2.10.5 database as it is, and after each kind of damage."""
    url = airflow_db("2.10.5", "backup_damaged")
    root = tmp_path_factory.mktemp("damaged")
    dumps = {"sound": pg_dump(url, root / "sound.dump")}
    whole = dumps["sound"].read_bytes()
    (root / "truncated.dump").write_bytes(whole[: len(whole) // 2])
    dumps["truncated"] = root / "truncated.dump"
    plain = pg_dump(url, root / "sound.sql", "plain").read_bytes()
    (root / "truncated.sql").write_bytes(plain[: len(plain) // 2])
    dumps["truncated-plain"] = root / "truncated.sql"

    other = postgres.create_database("backup_not_airflow")
    execute(other, "create table orders (id int primary key, total numeric)")
    dumps["not-airflow"] = pg_dump(other, root / "not_airflow.dump")

    stuck = scalar(url, "select count(*) from dag_run where state in ('running', 'queued')")
    execute(
        url,
        "update dag_run set state = 'running' where id in "
        "(select id from dag_run where state = 'success' order by id limit 3)",
    )
    dumps["stuck"] = pg_dump(url, root / "stuck.dump")
    dumps["stuck-count"] = stuck + 3

    execute(
        url,
        "alter table task_instance drop constraint task_instance_dag_run_fkey",
        copy_rows_sql(
            url,
            "task_instance",
            "ctid in (select ctid from task_instance limit 4)",
            {"run_id": "'manual__run_that_was_deleted'"},
        ),
    )
    dumps["orphans"] = pg_dump(url, root / "orphans.dump")

    execute(url, "select setval(pg_get_serial_sequence('log', 'id'), 1, false)")
    dumps["sequence"] = pg_dump(url, root / "sequence.dump")

    older = next(r for r, v in airflow_versions.REVISIONS.items() if v.startswith("2.3"))
    execute(url, f"update alembic_version set version_num = '{older}'")
    dumps["too-old"] = pg_dump(url, root / "too_old.dump")
    return dumps


@pytest.mark.parametrize("kind", ["truncated", "truncated-plain", "not-airflow", "too-old"])
def test_a_backup_that_cannot_be_verified_is_one_sentence(damaged, postgres, kind):
    done = backup_cli("verify", str(damaged[kind]), "--json", scratch_url=postgres.url)
    assert done.returncode == 2
    sentence = one_sentence(done)
    expected = {
        "truncated": "truncated or damaged",
        "truncated-plain": "cut short",
        "not-airflow": "not of an Airflow metadata database",
        "too-old": "older than 2.4.0",
    }[kind]
    assert expected in sentence
    assert json.loads(done.stdout) == {
        "airflow_version": None,
        "usable": False,
        "problems": [sentence],
    }
    assert restores_on(postgres.url) == []


def test_a_version_other_than_expected_is_a_problem(damaged, postgres):
    done = backup_cli(
        "verify",
        str(damaged["sound"]),
        "--expect-version",
        "3.3.2",
        "--json",
        scratch_url=postgres.url,
    )
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["usable"] is False
    assert report["schema_version"] == "2.10.3"
    assert len(report["problems"]) == 1
    assert "not 3.3.2" in report["problems"][0] and "airflow db migrate" in report["problems"][0]
    same = backup_cli(
        "verify", str(damaged["sound"]), "--expect-version", "2.10.5", scratch_url=postgres.url
    )
    assert same.returncode == 0, same.stdout


def test_stuck_runs_are_a_warning_orphans_and_sequences_are_problems(damaged, postgres):
    stuck = backup_cli("verify", str(damaged["stuck"]), "--json", scratch_url=postgres.url)
    assert stuck.returncode == 0
    report = json.loads(stuck.stdout)
    assert report["usable"] and report["problems"] == []
    assert any(
        w.startswith(f"{damaged['stuck-count']} DAG runs were running or queued")
        for w in report["warnings"]
    )

    orphans = backup_cli("verify", str(damaged["orphans"]), "--json", scratch_url=postgres.url)
    assert orphans.returncode == 1
    report = json.loads(orphans.stdout)
    assert not report["usable"]
    assert report["problems"] == [
        "4 task instances have no DAG run (their dag_id and run_id match none): the backup is "
        "inconsistent (taken without its foreign keys, or of a damaged database); Airflow's UI "
        "and scheduler cannot show or schedule them."
    ]

    sequence = backup_cli("verify", str(damaged["sequence"]), scratch_url=postgres.url)
    assert sequence.returncode == 1
    assert "NOT USABLE" in sequence.stdout
    assert "Sequences are behind their tables' largest ids: log.id (next 1, max " in sequence.stdout
    assert restores_on(postgres.url) == []


def test_a_sync_from_a_damaged_dump_stops_in_one_sentence_and_keeps_the_warehouse(
    damaged, postgres, tmp_path
):
    env = {
        "AIRFLOW_AUDIT_DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        "AIRFLOW_AUDIT_ENV_SLUG": "damaged",
        "AIRFLOW_AUDIT_SCRATCH_URL": postgres.url,
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
    }
    good = meltano(*SYNC, env={**env, "AIRFLOW_AUDIT_SOURCE_DUMP": str(damaged["sound"])})
    assert good.returncode == 0, good.stderr[-4000:]
    before = comparable(tmp_path / "w.duckdb", "airflow-damaged")
    bad = meltano(*SYNC, env={**env, "AIRFLOW_AUDIT_SOURCE_DUMP": str(damaged["truncated"])})
    assert bad.returncode != 0
    assert "Traceback" not in bad.stderr
    said = [ln for ln in bad.stderr.splitlines() if "is truncated or damaged" in ln]
    assert len(said) == 1, bad.stderr[-4000:]
    assert comparable(tmp_path / "w.duckdb", "airflow-damaged") == before
    assert restores_gone(postgres.url)


def test_take_refuses_to_overwrite_and_explains_a_wrong_password(sources, tmp_path):
    existing = tmp_path / "there.dump"
    existing.write_text("keep me")
    done = backup_cli("take", str(existing), source_url=sources["2.10.5"])
    assert done.returncode == 2
    assert "exists" in one_sentence(done)
    assert existing.read_text() == "keep me"
    wrong = (
        make_url(sources["2.10.5"])
        .set(password=f"wrong-{uuid.uuid4().hex[:6]}")
        .render_as_string(hide_password=False)
    )
    done = backup_cli("take", str(tmp_path / "new.dump"), source_url=wrong)
    assert done.returncode == 2
    assert "refused the password" in one_sentence(done)
    assert list(tmp_path.iterdir()) == [existing]
