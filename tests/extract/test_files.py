"""The extractor's COPY into a file (tap_airflow_metadb/files.py), on a real PostgreSQL: a read
that fails part way leaves no file behind. The run fails and the next one reads the table again;
a partial file would only have sat on the host (Airflow's metadata, GBs at 10M task instances)
until a run a day later removed it."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg2
import pytest
import sqlalchemy as sa

from airflow_audit_core.errors import UserError
from tap_airflow_metadb.files import copy_to_file
from tap_airflow_metadb.snapshot import SyncSnapshot, timeouts_in_one_sentence

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration


def test_a_read_failing_part_way_leaves_no_file(postgres, tmp_path):
    url = postgres.create_database("copy_fails_part_way")
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))
    with engine.begin() as conn:
        conn.exec_driver_sql("create table t as select generate_series(1, 20000) as id")
    t = sa.table("t", sa.column("id"))
    path = tmp_path / "t.csv"
    with engine.begin() as conn:
        assert copy_to_file(conn, sa.select(t.c.id), path) == 20000
    assert path.stat().st_size > 0
    # The server fails the COPY at row 15,000, after sending the rows before it (as a lost
    # connection, a statement timeout or a cancelled query would).
    failing = sa.select(t.c.id, (sa.literal(1) / (t.c.id - 15000)).label("x"))
    with pytest.raises(psycopg2.errors.DivisionByZero), engine.begin() as conn:
        copy_to_file(conn, failing, path)
    assert not path.exists()
    engine.dispose()


def _cancelled_or_lost(postgres, tmp_path, name: str, stop: str) -> tuple[str, Path]:
    """A COPY of a query that sleeps 5 s, within the read's translation of errors, stopped after
    0.3 s by `stop` ('timeout': the session's statement_timeout; 'terminate': the backend
    terminated from another session, as a failover or an administrator would). The sentence."""
    url = postgres.create_database(name)
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))
    path = tmp_path / f"{name}.csv"
    killer = None
    # The sync's snapshot, held open in a session of its own: lost too when the server restarts.
    snapshot = SyncSnapshot(engine, []).open()
    try:
        with (
            pytest.raises(UserError) as raised,
            timeouts_in_one_sentence("task_instance"),
            engine.begin() as conn,
        ):
            if stop == "timeout":
                conn.exec_driver_sql("set local statement_timeout = '300ms'")
            else:
                pid = conn.exec_driver_sql("select pg_backend_pid()").scalar()
                killer = threading.Timer(0.3, _terminate, (url, pid))
                killer.start()
            copy_to_file(conn, sa.select(sa.func.pg_sleep(5)), path)
    finally:
        if killer is not None:
            killer.join()
        snapshot.close()  # the sync ends with it, whatever became of its session
        engine.dispose()
    return str(raised.value), path


def _terminate(url: str, pid: int) -> None:
    """Every other session of the database ends, as in a failover or a restart."""
    with psycopg2.connect(url) as other, other.cursor() as cur:
        cur.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where datname = current_database() and pid <> pg_backend_pid()"
        )
    other.close()


def test_a_read_cancelled_by_the_statement_timeout_is_one_sentence(postgres, tmp_path):
    """Before, the driver's own error passed the translation (it looked at SQLAlchemy's only)
    and, resetting the encoding in the aborted transaction, hid under another: a traceback."""
    sentence, path = _cancelled_or_lost(postgres, tmp_path, "copy_timeout", "timeout")
    assert sentence.startswith("task_instance: the read took longer than ")
    assert "AIRFLOW_AUDIT_STATEMENT_TIMEOUT" in sentence
    assert not path.exists()


def test_a_read_whose_connection_is_lost_is_one_sentence(postgres, tmp_path):
    sentence, path = _cancelled_or_lost(postgres, tmp_path, "copy_lost", "terminate")
    assert sentence.startswith("task_instance: the connection to the Airflow database was lost")
    assert "rerun once the database is reachable" in sentence
    assert not path.exists()
