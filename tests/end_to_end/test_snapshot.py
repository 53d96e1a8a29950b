"""One instant per sync: every table of a sync is read in one snapshot of the Airflow database.

The sync is held by its own output, not by timing: the tap's messages (records handoff) go to a pipe
the test reads, and the test stops reading in the middle of the `job` table (read after dag_run and
before task_instance), so the tap blocks writing. While it is blocked, a writer does what the
scheduler does, in one transaction: a new DAG run created with its task instances, a finished run and
its task instances moved to failed. Then the test reads on, and the messages are loaded. Read table by
table in snapshots of their own, the warehouse would now hold the new run's task instances without the
run, and the moved task states beside the run's old state. Read in the sync's one snapshot, it holds
neither; the next sync brings both.

Then the timeouts: a read that waits longer than AIRFLOW_AUDIT_LOCK_TIMEOUT for a lock (as behind an
`airflow db migrate`) stops the run in one sentence, writing nothing of that table.
"""

from __future__ import annotations

import json
import os
import subprocess

import duckdb
import psycopg2
import pytest

from tests.support import BIN, ROOT
from tests.support.sync import ADDITIONAL, copy_rows_sql, execute, scalar, sync

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration


def meltano_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_AUDIT_", "AIRFLOW__"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env.update({f"AIRFLOW_AUDIT_{k.upper()}": v for k, v in settings.items()})
    return env


def scheduler_writes(url: str, moved_run: int, dag_id: str, run_id: str) -> None:
    """One transaction: a new run with its task instances; a finished run's states moved."""
    execute(
        url,
        copy_rows_sql(
            url,
            "dag_run",
            f"id = {moved_run}",
            {
                "run_id": "'manual__instant'",
                "run_type": "'manual'",
                "state": "'running'",
                "execution_date": "execution_date + interval '17 seconds'",
            },
        ),
        copy_rows_sql(
            url,
            "task_instance",
            f"dag_id = '{dag_id}' and run_id = '{run_id}'",
            {"run_id": "'manual__instant'", "state": "'running'"},
        ),
        f"update dag_run set state = 'failed' where id = {moved_run}",
        f"update task_instance set state = 'failed' where dag_id = '{dag_id}' and run_id = '{run_id}'",
    )


def test_a_sync_reads_every_table_at_one_instant(airflow_db, tmp_path):
    url = airflow_db("2.10.5", "one_instant", dags=4, days=3)
    warehouse, slug = tmp_path / "w.duckdb", "instant"
    schema = f"airflow-{slug}"
    assert sync(url, warehouse, slug).returncode == 0
    moved_run = scalar(
        url, "select id from dag_run where state = 'success' order by id desc limit 1"
    )
    dag_id, run_id = scalar(
        url, f"select array[dag_id, run_id] from dag_run where id = {moved_run}"
    )
    states_before = scalar(
        url,
        f"select array_agg(distinct state) from task_instance where dag_id = '{dag_id}' "
        f"and run_id = '{run_id}'",
    )
    env = meltano_env(
        source_url=url,
        duckdb_path=str(warehouse),
        env_slug=slug,
        handoff="records",
        additional_tables=ADDITIONAL,
    )
    tap = subprocess.Popen(
        [str(BIN / "meltano"), "invoke", "tap-airflow-metadb"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    messages, streams_seen, jobs = [], [], 0
    try:
        for line in tap.stdout:
            messages.append(line)
            stream = json.loads(line).get("stream")
            if stream and stream not in streams_seen:
                streams_seen.append(stream)
            jobs += stream == "public-job"
            if jobs == 10:
                # mid-`job`: the tap is blocked writing once the pipe is full
                scheduler_writes(url, moved_run, dag_id, run_id)
        assert tap.wait(timeout=600) == 0
    finally:
        if tap.poll() is None:
            tap.kill()
    order = [
        s for s in streams_seen if s in ("public-dag_run", "public-job", "public-task_instance")
    ]
    assert order == ["public-dag_run", "public-job", "public-task_instance"], streams_seen
    after_job = sum(
        1 for m in messages[messages.index(next(m for m in messages if b"public-job" in m)) :]
    )
    assert after_job > 500, "the tap should have had to wait for the pipe mid-job"
    loaded = subprocess.run(
        [str(BIN / "meltano"), "invoke", "target-airflow-audit-duckdb"],
        cwd=ROOT,
        env=env,
        input=b"".join(messages),
        capture_output=True,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]

    def warehouse_query(sql: str) -> list[tuple]:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute(sql).fetchall()

    orphans = warehouse_query(
        f'select count(*) from "{schema}".task_instance ti where not exists (select 1 from '
        f'"{schema}".dag_run r where r.dag_id = ti.dag_id and r.run_id = ti.run_id)'
    )
    assert orphans == [(0,)], "a task instance arrived without its DAG run"
    assert sorted(
        s
        for (s,) in warehouse_query(
            f"select distinct state from \"{schema}\".task_instance where dag_id = '{dag_id}' "
            f"and run_id = '{run_id}'"
        )
    ) == sorted(states_before), "task states newer than the run's"
    assert warehouse_query(f'select state from "{schema}".dag_run where id = {moved_run}') == [
        ("success",)
    ]
    # one instant, recorded with every table's extract
    taken = warehouse_query(
        "select count(distinct snapshot_taken_at), count(distinct snapshot_xmin), "
        f'bool_and(snapshot_shared), count(*) from "{schema}"._airflow_audit_extracts'
    )
    assert taken == [(1, 1, True, 14)], taken

    # the next sync brings what was committed meanwhile, together
    assert sync(url, warehouse, slug).returncode == 0
    assert warehouse_query(
        f"select count(*) from \"{schema}\".task_instance where run_id = 'manual__instant'"
    ) == [(scalar(url, "select count(*) from task_instance where run_id = 'manual__instant'"),)]
    assert warehouse_query(f'select state from "{schema}".dag_run where id = {moved_run}') == [
        ("failed",)
    ]


def test_a_read_waiting_longer_than_the_lock_timeout_stops_in_one_sentence(airflow_db, tmp_path):
    url = airflow_db("2.10.5", "lock_timeout", dags=2, days=1)
    warehouse, slug = tmp_path / "w.duckdb", "locked"
    assert sync(url, warehouse, slug).returncode == 0
    execute(url, "update task_instance set priority_weight = priority_weight + 1")
    before = scalar(url, "select sum(priority_weight) from task_instance")
    locker = psycopg2.connect(url)
    try:
        with locker.cursor() as cur:
            cur.execute("lock table task_instance in access exclusive mode")
        done = sync(url, warehouse, slug, lock_timeout="1s")
    finally:
        locker.rollback()
        locker.close()
    assert done.returncode != 0
    # discovery reads the catalog, which the lock also holds up: the first to wait says so
    assert (
        "waited longer than AIRFLOW_AUDIT_LOCK_TIMEOUT for a lock that another session holds on it"
    ) in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    # nothing lost: the next sync reads the change
    assert sync(url, warehouse, slug).returncode == 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        got = con.execute(
            f'select sum(priority_weight) from "airflow-{slug}".task_instance'
        ).fetchone()
    assert got == (before,)


def test_a_bad_timeout_is_refused_in_one_sentence(airflow_db, tmp_path):
    url = airflow_db("2.10.5", "bad_timeout", dags=1, days=1)
    done = sync(url, tmp_path / "w.duckdb", "badtimeout", statement_timeout="soon")
    assert done.returncode != 0
    assert (
        "AIRFLOW_AUDIT_STATEMENT_TIMEOUT is 'soon': use a duration PostgreSQL understands"
        in done.stderr
    )
    assert "Traceback" not in done.stderr
