"""The fast path hands tables over as files (PostgreSQL's COPY, Singer BATCH messages): the
warehouse it builds equals, table for table and value for value, the one the records path
(a RECORD message per row, AIRFLOW_AUDIT_HANDOFF=records) builds from the same database.

Both run over every table of a filled Airflow 2.10.5 and 3.3.2 database (their planted secrets
included, so the masked columns go through the file masking; 3.3.2 adds uuid keys, jsonb and
`task_instance.retry_reason`), with values made to trip a CSV reader: an empty
string beside a NULL, quotes, commas, line breaks, a backslash-N, non-ASCII text, JSON with
both.  No file outlives the run.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import duckdb
import pytest

from tests.fixtures.airflow_history import load_schema
from tests.support import meltano
from tests.support.sync import execute

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration

EL = ("run", "tap-airflow-metadb", "target-airflow-audit-duckdb")
# Run metadata, which differs between two runs by nature (the snapshot's xids move whenever the
# server commits anything in between, autovacuum's ANALYZE of the freshly filled tables included).
RUN_COLUMNS = {
    "_sdc_extracted_at",
    "_sdc_batched_at",
    "_sdc_table_version",
    "extracted_at",
    "snapshot_xmin",
    "snapshot_xmax",
    "snapshot_taken_at",
}
AWKWARD = 'a "quoted", comma\nnew line\r\nand \\N, é ✓'


def load(url: str, warehouse: Path, batches: Path, handoff: str, tables: str = "[]") -> str:
    slug = f"handoff-{handoff}-{uuid.uuid4().hex[:6]}"
    done = meltano(
        *EL,
        env={
            "AIRFLOW_AUDIT_SOURCE_URL": url,
            "AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse),
            "AIRFLOW_AUDIT_ENV_SLUG": slug,
            "AIRFLOW_AUDIT_TABLES": tables,
            "AIRFLOW_AUDIT_HANDOFF": handoff,
            "AIRFLOW_AUDIT_BATCH_DIR": str(batches),
        },
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return f"airflow-{slug}"


@pytest.mark.parametrize("version", ["2.10.5", "3.3.2"])
def test_files_and_records_build_the_same_warehouse(airflow_db, tmp_path, version):
    url = airflow_db(version, f"handoff_{version.replace('.', '_')}")
    execute(
        url,
        "update dag set description = '' where dag_id = (select min(dag_id) from dag)",
        "update dag set description = null where dag_id = (select max(dag_id) from dag)",
        f"update dag_tag set name = {sql(AWKWARD)} where ctid = (select min(ctid) from dag_tag)",
        "update task_instance set hostname = '', operator = null "
        "where ctid = (select min(ctid) from task_instance)",
        "insert into log (dttm, dag_id, event, owner, extra) values "
        f"(now(), 'awkward', 'cli_task_run', {sql(AWKWARD)}, {sql(json.dumps({'host_name': AWKWARD}))}), "
        "(now(), 'empty', '', '', '')",
    )
    batches = tmp_path / "batches"
    files_db, records_db = tmp_path / "files.duckdb", tmp_path / "records.duckdb"
    files = load(url, files_db, batches, "files")
    records = load(url, records_db, batches, "records")

    with duckdb.connect() as con:
        con.execute(f"attach '{files_db}' as f (read_only)")
        con.execute(f"attach '{records_db}' as r (read_only)")
        tables = sorted(
            t
            for (t,) in con.execute(
                "select table_name from information_schema.tables "
                "where table_catalog = 'f' and table_schema = ?",
                [files],
            ).fetchall()
        )
        assert len(tables) > 40
        for table in tables:
            columns = [
                c
                for (c,) in con.execute(
                    "select column_name from information_schema.columns where table_catalog = 'f' "
                    "and table_schema = ? and table_name = ? order by ordinal_position",
                    [files, table],
                ).fetchall()
                if c not in RUN_COLUMNS
            ]
            listed = ", ".join(f'"{c}"' for c in columns)
            by_files = con.execute(f'select {listed} from f."{files}"."{table}"').fetchall()
            by_records = con.execute(f'select {listed} from r."{records}"."{table}"').fetchall()
            assert sorted(by_files, key=repr) == sorted(by_records, key=repr), table
        descriptions = {
            d for (d,) in con.execute(f'select description from f."{files}".dag').fetchall()
        }
        assert {"", None} <= descriptions
        assert con.execute(
            f'select count(*) from f."{files}".dag_tag where name = ?', [AWKWARD]
        ).fetchone() == (1,)
        assert con.execute(
            f"select owner, extra ->> 'host_name' from f.\"{files}\".log where dag_id = 'awkward'"
        ).fetchone() == (AWKWARD, AWKWARD)
        assert con.execute(
            f"select event, owner, extra from f.\"{files}\".log where dag_id = 'empty'"
        ).fetchone() == ("", "", "")
        # the file path carried the versions of the full reads, as records do
        assert (
            con.execute(
                f'select count(*), count(_sdc_table_version) from f."{files}".dag'
            ).fetchone()[1]
            > 0
        )
    assert list(batches.rglob("*")) == [], "the loader removes every file it loaded"


def test_an_unknown_handoff_is_refused_in_one_sentence(airflow_db, tmp_path):
    url = airflow_db("2.10.5", "handoff_unknown", filled=False)
    done = meltano(
        *EL,
        env={
            "AIRFLOW_AUDIT_SOURCE_URL": url,
            "AIRFLOW_AUDIT_DUCKDB_PATH": str(tmp_path / "w.duckdb"),
            "AIRFLOW_AUDIT_HANDOFF": "parquet",
        },
    )
    assert done.returncode != 0
    assert "AIRFLOW_AUDIT_HANDOFF is 'parquet': use 'files'" in done.stderr
    assert "Traceback" not in done.stderr.split("AIRFLOW_AUDIT_HANDOFF is")[0][-2000:]


def files_left(batches: Path, wait: float) -> list[str]:
    """What is under `batches`, once it is empty or after `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        left = sorted(str(p.relative_to(batches)) for p in batches.rglob("*"))
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def test_an_unwritable_batch_directory_is_one_sentence(airflow_db, tmp_path):
    url = airflow_db("2.10.5", "handoff_unwritable", filled=False)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    done = meltano(
        *EL,
        env={
            "AIRFLOW_AUDIT_SOURCE_URL": url,
            "AIRFLOW_AUDIT_DUCKDB_PATH": str(tmp_path / "w.duckdb"),
            "AIRFLOW_AUDIT_BATCH_DIR": str(blocker / "batches"),
        },
    )
    assert done.returncode != 0
    assert f"Cannot write the sync's files to {blocker / 'batches'}" in done.stderr
    assert "point AIRFLOW_AUDIT_BATCH_DIR at a directory only this user can write to" in done.stderr
    tap_lines = [line for line in done.stderr.splitlines() if "tap-airflow-metadb" in line]
    assert not any("Traceback" in line for line in tap_lines)


def test_a_database_in_another_encoding_arrives_as_utf8(postgres, tmp_path):
    """Airflow's database in LATIN1 (older installations): the files are UTF-8 all the same."""
    conn = postgres.connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("drop database if exists handoff_latin1 with (force)")
        cur.execute(
            "create database handoff_latin1 encoding 'LATIN1' template template0 "
            "lc_collate 'C' lc_ctype 'C'"
        )
    conn.close()
    url = postgres.url_for("handoff_latin1")
    load_schema(url, "2.10.5")
    execute(
        url,
        "insert into import_error (timestamp, filename, stacktrace) "
        "values (now(), 'dags/café.py', 'naïve: señal not found')",
    )
    warehouse = tmp_path / "w.duckdb"
    slug = load(url, warehouse, tmp_path / "batches", "files", tables="import_error")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            f'select filename, stacktrace from "{slug}".import_error'
        ).fetchall() == [("dags/café.py", "naïve: señal not found")]


@pytest.mark.parametrize("handoff", ["records", "files"])
def test_a_loader_failing_mid_stream_ends_in_its_sentence_without_a_meltano_traceback(
    airflow_db, tmp_path, handoff
):
    """The loader stops at `dag_run` while the extractor still writes `task_instance`'s rows,
    one RECORD line each: Meltano 4.4 printed a BrokenPipeError traceback for the next line it
    forwarded (meltano/meltano#7047): four runs of this test out of four, before the loader kept
    its input open (airflow_audit_loader/input_drain.py). The loader's table keeps its row.

    By file, no file of the extractor's outlives the failed run, whether the extractor had
    finished writing them or was stopped: the next run reads their rows again."""
    url = airflow_db("2.10.5", f"handoff_loader_fails_{handoff}", target_task_instances=20_000)
    slug = f"fails-{uuid.uuid4().hex[:6]}"
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f'create schema "airflow-{slug}"')
        con.execute(
            f'create table "airflow-{slug}".dag_run (id bigint primary key, start_date varchar)'
        )
        con.execute(f"insert into \"airflow-{slug}\".dag_run values (1, 'kept')")
    done = meltano(
        *EL,
        env={
            "AIRFLOW_AUDIT_SOURCE_URL": url,
            "AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse),
            "AIRFLOW_AUDIT_ENV_SLUG": slug,
            "AIRFLOW_AUDIT_HANDOFF": handoff,
            "AIRFLOW_AUDIT_BATCH_DIR": str(tmp_path / "batches"),
        },
    )
    assert done.returncode != 0
    assert "Column dag_run.start_date changed type in the source" in done.stderr
    # The loader's child removes the last of them once Meltano closes the pipe: soon after.
    assert files_left(tmp_path / "batches", wait=15) == [], "the failed run left files behind"
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    # Meltano runs plugins with PYTHONWARNINGS=once: nothing the loader leaves running warns.
    assert "Warning" not in done.stderr, done.stderr[-4000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        kept = f'select id, start_date from "airflow-{slug}".dag_run'
        assert con.execute(kept).fetchall() == [(1, "kept")]
