"""Hourly runs cost what changed: the job's dbt step (`dbt-duckdb:build-changed`) builds only when
something the marts read changed, and the loader leaves rows a read brings back unchanged alone.

One database, one warehouse, four runs of `meltano run airflow-audit` (mirror mode):
1. the first builds and records the build;
2. nothing changed at the source, reached by another spelling of its URL (what a rotated password
   or a new host name looks like to the job): the loader rewrites no row (`_sdc_batched_at` of the
   tables read in full stays put), the dbt step says the marts are current and builds nothing, told
   without starting dbt (its log gains no run); then a column the warehouse table gains (what the state
   query kept from the last dbt run cannot know) sends it through dbt, which builds what reads that
   table;
3. a DAG run changes state at the source: only that row gets a new `_sdc_batched_at`; the state is
   read with the query the run before kept, without dbt; the build runs for what reads dag_run only (not
   the users' and roles' marts) and the mart shows the new state;
   (with another AIRFLOW_AUDIT_PARTIAL_BUILD_LIMIT: how a build runs, not what it builds);
4. a task instance is deleted at the source (reconciliation deletes it, mirror mode): a run with a
   partial-build limit that is not a share stops before dbt builds anything, in one sentence; the next
   one builds what reads task_instance and the mart no longer has the task instance.
"""

from __future__ import annotations

import re
import uuid

import duckdb
import psycopg2
import pytest

from tests.support import meltano
from tests.support.sync import dbt_paths

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration

CURRENT = "build-changed: nothing the marts read changed since the last passing build"
FIRST = "build-changed: building everything from scratch (a first build"
CHANGED = "build-changed: building what depends on the tables that changed: "
WITHOUT_DBT = "(told without starting dbt)"


def test_the_dbt_step_builds_only_when_something_changed(airflow_db, tmp_path):
    url = airflow_db("2.10.5", "build_changed", dags=4, days=2)
    slug = f"changed-{uuid.uuid4().hex[:6]}"
    raw, marts = f"airflow-{slug}", f"airflow-{slug}_marts"
    warehouse = tmp_path / "w.duckdb"
    env = {
        "AIRFLOW_AUDIT_SOURCE_URL": url,
        "AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse),
        "AIRFLOW_AUDIT_ENV_SLUG": slug,
        **dbt_paths(tmp_path),
    }

    def job(**extra: str) -> str:
        done = meltano("run", "airflow-audit", env={**env, **extra})
        assert done.returncode == 0, done.stderr[-4000:]
        # No plugin's warning in the job's output (dbt's unclosed log files printed one at each
        # dbt invocation after the first: "ResourceWarning: unclosed file ... dbt.log").
        assert not re.search(r"\w+Warning: ", done.stderr), done.stderr[-4000:]
        return done.stderr

    def query(sql: str, params: list | None = None):
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    first = job()
    assert FIRST in first and "Done. PASS=" in first and "ERROR=0" in first
    batched = query(f'select dag_id, _sdc_batched_at from "{raw}".dag order by 1')
    runs = query(f'select count(*) from "{marts}".fct_dag_runs')
    assert query(f'select count(*) from "{marts}"._airflow_audit_builds') == [(1,)]

    dbt_log = tmp_path / "logs" / "dbt.log"
    dbt_runs = dbt_log.read_text().count("Running with dbt=")
    second = job(AIRFLOW_AUDIT_SOURCE_URL=url + ("&" if "?" in url else "?") + "connect_timeout=30")
    assert CURRENT in second and WITHOUT_DBT in second
    assert "Done. PASS=" not in second, "nothing changed: dbt builds nothing"
    assert dbt_log.read_text().count("Running with dbt=") == dbt_runs, "dbt was not started"
    assert query(f'select dag_id, _sdc_batched_at from "{raw}".dag order by 1') == batched
    assert query(f'select count(*) from "{marts}".fct_dag_runs') == runs
    assert query(f'select count(*) from "{marts}"._airflow_audit_builds') == [(1,)]

    with duckdb.connect(str(warehouse)) as con:
        con.execute(f'alter table "{raw}".dag add column audit_probe integer')
    widened = job()
    assert WITHOUT_DBT not in widened and f"{CHANGED}dag." in widened, widened[-3000:]
    assert "Done. PASS=" in widened and "ERROR=0" in widened
    # each build that passed is recorded (transform/build_changed.py), and only they
    assert query(f'select count(*) from "{marts}"._airflow_audit_builds') == [(2,)]

    dag_id, run_id = execute_returning(
        url,
        "update dag_run set state = 'failed' where id = (select min(id) from dag_run "
        "where state = 'success') returning dag_id, run_id",
    )
    kept = tmp_path / "target" / "airflow_audit_build_state.json"
    kept_at = kept.stat().st_mtime_ns
    # a new partial-build limit changes how a build runs, not what it builds: no rebuild of everything
    third = job(AIRFLOW_AUDIT_PARTIAL_BUILD_LIMIT="0.5")
    assert f"{CHANGED}dag_run." in third and "Done. PASS=" in third
    assert query(f'select count(*) from "{marts}"._airflow_audit_builds') == [(3,)]
    # the state was read with the query the run before kept, without dbt (which keeps it anew)
    assert kept.stat().st_mtime_ns == kept_at
    # only what reads dag_run: not the users' and roles' marts
    assert "fct_dag_runs" in third and "dim_role_permissions" not in third
    assert query(
        f'select state from "{marts}".fct_dag_runs where dag_id = ? and run_id = ?',
        [dag_id, run_id],
    ) == [("failed",)]
    changed = query(
        f'select count(*) from "{raw}".dag_run where _sdc_batched_at > '
        f'(select min(_sdc_batched_at) from "{raw}".dag_run)'
    )
    assert changed == [(1,)], "only the changed DAG run was rewritten"

    (key,) = execute_returning(
        url,
        "delete from task_instance where ctid = (select min(ctid) from task_instance) "
        "returning dag_id || '|' || task_id || '|' || run_id || '|' || map_index",
    )
    # a limit that is not a share stops the build before it starts, in one sentence, building nothing;
    # the next run builds what changed
    refused = meltano(
        "run", "airflow-audit", env={**env, "AIRFLOW_AUDIT_PARTIAL_BUILD_LIMIT": "50%"}
    )
    assert refused.returncode != 0
    assert (
        "var airflow_audit_partial_build_limit (AIRFLOW_AUDIT_PARTIAL_BUILD_LIMIT) is '50%': give a "
        "share of a mart's rows from 0 to 1, such as 0.35." in refused.stderr
    ), refused.stderr[-3000:]
    assert "Traceback" not in refused.stderr
    refused = meltano(
        "invoke", "dbt-duckdb:build-changed", env={**env, "AIRFLOW_AUDIT_IN_PLACE_LIMIT": "1e5"}
    )
    assert refused.returncode != 0
    assert (
        "var airflow_audit_in_place_limit (AIRFLOW_AUDIT_IN_PLACE_LIMIT) is '1e5': give a whole "
        "number of rows, such as 100000." in refused.stdout + refused.stderr
    ), refused.stderr[-3000:]
    assert "Traceback" not in refused.stdout + refused.stderr
    assert query(
        f'select count(*) from "{marts}".fct_task_instances '
        "where dag_id || '|' || task_id || '|' || run_id || '|' || map_index = ?",
        [key],
    ) == [(1,)], "the refused build changed no mart"
    assert query(f'select count(*) from "{marts}"._airflow_audit_builds') == [(3,)], (
        "a refused build is not recorded"
    )
    fourth = job()
    assert f"{CHANGED}task_instance." in fourth and "Done. PASS=" in fourth
    left = query(
        f'select count(*) from "{marts}".fct_task_instances '
        "where dag_id || '|' || task_id || '|' || run_id || '|' || map_index = ?",
        [key],
    )
    assert left == [(0,)]


def execute_returning(url: str, statement: str) -> tuple:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchone()
    finally:
        conn.close()
