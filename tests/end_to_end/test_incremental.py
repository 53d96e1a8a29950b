"""Issue 4: exact incremental syncs, deletes, archive mode, reconciliation, interruption, concurrency.

Real PostgreSQL holding a real Airflow schema, the real `meltano run`, a real DuckDB warehouse.
After every sync the warehouse is compared with the source row by row, column by column.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import duckdb
import pytest

from tests.support import BIN, ROOT, VERSIONS, own_process
from tests.support.sync import (
    ADDITIONAL,
    DEFAULT,
    SYNC,
    airflow_changes,
    assert_warehouse_equals_source,
    execute,
    extracts,
    scalar,
    sync,
    sync_audit,
    warehouse_rows,
)

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration

# The database the kills and the held loader work on: 10,268 task instances (six of the loader's
# 2,000-row batches, so a kill after the first commit lands mid-table), about 6,000 of them changed
# by the incremental kill's update (more than 4,000: two batches at least). The kills are
# triggered by what the run logs, not by time, so a larger database (these tests used 40 DAGs over
# 40 days, 51,786 task instances) proves nothing more and costs each sync its size.
KILL_FILL = {"dags": 24, "days": 16}


def synced_tables(url: str) -> list[str]:
    present = set(
        scalar(
            url,
            "select array_agg(table_name::text) from information_schema.tables where table_schema = 'public'",
        )
    )
    return [t for t in [*DEFAULT, *ADDITIONAL.split(",")] if t in present]


def ok(done) -> None:
    assert done.returncode == 0, done.stderr[-4000:]


@pytest.mark.parametrize("version", VERSIONS)
def test_incremental_syncs_are_exact_after_airflow_changes(airflow_db, tmp_path, version):
    url = airflow_db(version, f"incr_{version.replace('.', '_')}")
    warehouse, slug = tmp_path / "wh.duckdb", "incr"
    schema, tables = f"airflow-{slug}", synced_tables(url)

    ok(sync(url, warehouse, slug))
    assert all(full for full, _, _ in extracts(warehouse, schema).values())
    assert_warehouse_equals_source(url, warehouse, schema, tables)

    airflow_changes(url)
    done = sync(url, warehouse, slug)
    ok(done)
    read = extracts(warehouse, schema)
    assert not read["task_instance"][0], "task_instance should have been read incrementally"
    assert 0 < read["task_instance"][1] < read["task_instance"][2] / 2
    assert_warehouse_equals_source(url, warehouse, schema, tables)
    assert "deleted at the source" in done.stderr

    # Nothing changed: nothing but the small tables is read again, and nothing moves.
    ok(sync(url, warehouse, slug))
    read = extracts(warehouse, schema)
    assert read["task_instance"][1] == 0 and read["dag_run"][1] == 0 and read["log"][1] == 0
    assert_warehouse_equals_source(url, warehouse, schema, tables)
    assert {row[4] for row in sync_audit(warehouse, schema)} == {"ok"}
    # ... and reconciliation proved it by counts for the tables the sync read nothing from,
    # by keys for those read in full.
    how = comparisons(warehouse, schema)
    assert how["task_instance"] == how["dag_run"] == how["log"] == "counts"
    assert how["dag"] == "keys"
    if version != VERSIONS[-1]:
        return  # what follows does not depend on the release: the newest one shows it

    # Rows deleted at the source and nothing else: the counts differ, the keys find them.
    deleted = execute(url, "delete from log where id in (select id from log order by id limit 3)")
    assert deleted == 3
    done = sync(url, warehouse, slug)
    ok(done)
    assert comparisons(warehouse, schema)["log"] == "keys"
    assert "log: source" in done.stderr and "3 deleted at the source" in done.stderr
    assert_warehouse_equals_source(url, warehouse, schema, tables)

    # Rows added and none deleted: the sync reads them, and equal counts prove the table exact
    # (it holds every source row: those checked last time and those read since). The rows as
    # Airflow's CLI logs a command: its event, the OS user, the command line in `extra`.
    cli_log = (
        "insert into log (dttm, event, owner, extra) select now(), 'cli_dags_list', 'airflow', "
        "'{\"host_name\": \"worker\", \"full_command\": \"[''airflow'', ''dags'', ''list'']\"}' "
        "from generate_series(1, %d)"
    )
    assert execute(url, cli_log % 4) == 4
    ok(sync(url, warehouse, slug))
    assert extracts(warehouse, schema)["log"][1] == 4
    assert comparisons(warehouse, schema)["log"] == "counts"
    assert_warehouse_equals_source(url, warehouse, schema, tables)

    # ... with every key once: a row held twice and another lost balance the counts; the keys of
    # the rows written since the last check send it to the keys, which find both. The duplicate
    # as a loader would write it on a host whose clock is 10 minutes behind the checker's (the
    # stamps and the check's `written_through` moved back): stamped just after `written_through`,
    # which finds it where "stamped since the check ended, less 2 minutes" would not.
    with duckdb.connect(str(warehouse)) as con:
        log, audit = f'"{schema}".log', f'"{schema}"._sync_audit'
        (through,) = con.execute(
            f"select written_through = (select max(_sdc_batched_at) from {log}) from {audit} "
            "where table_name = 'log' order by ended_at desc limit 1"
        ).fetchone()
        assert through, "the check did not record the latest stamp it saw"
        con.execute(f"update {log} set _sdc_batched_at = _sdc_batched_at - interval 10 minutes")
        con.execute(
            f"update {audit} set written_through = written_through - interval 10 minutes "
            "where table_name = 'log'"
        )
        con.execute(
            f"insert into {log} select * replace ((select max(_sdc_batched_at) from {log}) + "
            f"interval 1 microsecond as _sdc_batched_at) from {log} "
            f"where id = (select max(id) from {log})"
        )
        con.execute(f"delete from {log} where id = (select min(id) from {log})")
    execute(url, cli_log % 1)
    done = sync(url, warehouse, slug)
    assert done.returncode != 0, "a duplicate and a lost row passed as equal counts"
    assert comparisons(warehouse, schema)["log"] == "keys"
    assert ("log", "mismatch") in {(r[0], r[4]) for r in sync_audit(warehouse, schema)}
    ok(sync(url, warehouse, slug, full_refresh="log"))
    assert_warehouse_equals_source(url, warehouse, schema, tables)

    # The keys are compared at least once a day whatever the counts say.
    ok(sync(url, warehouse, slug))
    assert comparisons(warehouse, schema)["task_instance"] == "counts"
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            f'update "{schema}"._sync_audit set started_at = started_at - interval 25 hours, '
            "ended_at = ended_at - interval 25 hours"
        )
    ok(sync(url, warehouse, slug))
    assert comparisons(warehouse, schema)["task_instance"] == "keys"
    assert_warehouse_equals_source(url, warehouse, schema, tables)


def comparisons(warehouse: Path, schema: str) -> dict[str, str]:
    """table -> how the latest reconciliation compared it (_sync_audit.comparison)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return dict(
            con.execute(
                f'select table_name, arg_max(comparison, ended_at) from "{schema}"._sync_audit '
                "group by 1"
            ).fetchall()
        )


def test_a_sync_after_1_percent_changed_reads_1_percent(airflow_db, tmp_path):
    url = airflow_db("2.10.5", "one_percent", dags=20, days=8)
    warehouse, slug = tmp_path / "wh.duckdb", "pct"
    ok(sync(url, warehouse, slug, tables="task_instance"))
    total = scalar(url, "select count(*) from task_instance")
    changed = execute(
        url,
        "update task_instance set priority_weight = priority_weight + 1 "
        "where abs(hashtext(dag_id || task_id || run_id || map_index::text)) % 100 = 0",
    )
    ok(sync(url, warehouse, slug, tables="task_instance"))
    full_read, sent, source_rows = extracts(warehouse, f"airflow-{slug}")["task_instance"]
    assert not full_read and source_rows == total
    assert 0.005 * total < changed < 0.02 * total
    assert sent == changed, f"read {sent} rows for {changed} changed of {total}"
    assert_warehouse_equals_source(url, warehouse, f"airflow-{slug}", ["task_instance"])


def test_archive_keeps_rows_deleted_by_db_clean(airflow_db, tmp_path):
    url = airflow_db("3.3.2", "archive_3_3_2")
    warehouse, slug = tmp_path / "wh.duckdb", "arch"
    schema = f"airflow-{slug}"
    ok(sync(url, warehouse, slug, mode="archive"))
    before = {
        t: scalar(url, f"select count(*) from {t}") for t in ("dag_run", "task_instance", "log")
    }
    cutoff = "(select percentile_disc(0.3) within group (order by coalesce(start_date, queued_at)) from dag_run)"
    execute(
        url,
        # `airflow db clean --clean-before-timestamp ...`: old runs (task instances cascade), old log
        f"delete from dag_run where coalesce(start_date, queued_at) < {cutoff}",
        "delete from log where dttm < (select percentile_disc(0.3) within group (order by dttm) from log)",
    )
    after = {t: scalar(url, f"select count(*) from {t}") for t in before}
    assert all(after[t] < before[t] for t in before)
    ok(sync(url, warehouse, slug, mode="archive"))
    assert_warehouse_equals_source(url, warehouse, schema, synced_tables(url))
    for table in before:
        _, everything = warehouse_rows(warehouse, schema, table, live=False)
        assert len(everything) == before[table], f"{table}: archive lost rows"
        with duckdb.connect(str(warehouse), read_only=True) as con:
            marked = con.execute(
                f'select count(*) from "{schema}"."{table}" where _sdc_deleted_at is not null'
            ).fetchone()[0]
        assert marked == before[table] - after[table]


def test_reconciliation_catches_a_corrupted_warehouse_table(airflow_db, tmp_path):
    url = airflow_db("2.10.5", "corrupt")
    warehouse, slug = tmp_path / "wh.duckdb", "corrupt"
    schema = f"airflow-{slug}"
    ok(sync(url, warehouse, slug))
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            f'delete from "{schema}".task_instance where rowid in (select rowid from "{schema}".task_instance limit 7)'
        )
    done = sync(url, warehouse, slug)
    assert done.returncode != 0
    assert (
        f"Reconciliation failed: the warehouse table {schema}.task_instance lacks 7 rows that the "
        "source had when it was read; rerun with AIRFLOW_AUDIT_FULL_REFRESH=task_instance to reload."
    ) in done.stderr
    assert ("task_instance", "mismatch") in {(r[0], r[4]) for r in sync_audit(warehouse, schema)}
    # A rerun with nothing changed at the source does not pass by counts after a mismatch.
    done = sync(url, warehouse, slug)
    assert done.returncode != 0 and "lacks 7 rows" in done.stderr
    ok(sync(url, warehouse, slug, full_refresh="task_instance"))
    assert_warehouse_equals_source(url, warehouse, schema, synced_tables(url))

    with duckdb.connect(str(warehouse)) as con:
        con.execute(f'insert into "{schema}".dag_run select * from "{schema}".dag_run limit 1')
    done = sync(url, warehouse, slug)
    assert done.returncode != 0
    assert f"the warehouse table {schema}.dag_run holds 1 keys more than once" in done.stderr
    # ... and the advice repairs it: a full read replaces every row of a key held twice
    ok(sync(url, warehouse, slug, full_refresh="dag_run"))
    assert_warehouse_equals_source(url, warehouse, schema, synced_tables(url))


def _run_and_kill(
    env_settings: dict[str, str], process: str, after_line: str, stop: int = signal.SIGKILL
) -> tuple[int, str]:
    """Start a sync; send `stop` (SIGKILL) to `process` (the tap or the target, or "group": every
    process of the run, as Airflow stops a task) the moment a line matching the regex
    `after_line` is logged: the process this sync started, found in its own process tree, never
    one found by name on the machine. The exit code and the log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_AUDIT_", "AIRFLOW__"))}
    env.update(env_settings)
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    proc = subprocess.Popen(
        [str(BIN / "meltano"), "run", "tap-airflow-metadb", "target-airflow-audit-duckdb"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own
    )
    killed = threading.Event()
    trigger = re.compile(after_line)
    log: list[str] = []

    def watch() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)
            if not killed.is_set() and trigger.search(line):
                if process == "group":
                    os.killpg(proc.pid, stop)
                else:
                    os.kill(own_process(proc.pid, process), stop)
                killed.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    code = proc.wait(timeout=600)
    watcher.join()
    assert killed.is_set(), f"the run ended before {process} could be killed"
    return code, "".join(log)


def _kill_settings(url: str, warehouse: Path, slug: str) -> dict[str, str]:
    """A killed run leaves its files on the host (the product removes them a day later): the
    extractor's and the loader's (its spool, under TMPDIR) go to the test's own directory."""
    return {
        "AIRFLOW_AUDIT_BATCH_DIR": str(warehouse.parent),
        "TMPDIR": str(warehouse.parent),
        "AIRFLOW_AUDIT_SOURCE_URL": url,
        "AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse),
        "AIRFLOW_AUDIT_ENV_SLUG": slug,
        "AIRFLOW_AUDIT_ADDITIONAL_TABLES": ADDITIONAL,
        "TARGET_AIRFLOW_AUDIT_DUCKDB_BATCH_SIZE_ROWS": "2000",
    }


def _live_counts(warehouse: Path, schema: str, tables: list[str]) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        present = {
            t
            for (t,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = ?", [schema]
            ).fetchall()
        }
        return {
            t: con.execute(f'select count(*) from "{schema}"."{t}"').fetchone()[0]
            for t in tables
            if t in present
        }


@pytest.mark.parametrize(
    ("process", "stop"),
    [
        ("bin/tap-airflow-metadb", signal.SIGKILL),
        ("bin/target-airflow-audit-duckdb", signal.SIGKILL),
        # how Airflow stops a task that timed out: the task's process group, or the process
        ("bin/tap-airflow-metadb", signal.SIGTERM),
        ("group", signal.SIGTERM),
    ],
)
def test_sigkill_mid_run_then_rerun_is_exact(airflow_db, tmp_path, process, stop):
    name = f"kill_{int(stop)}_" + process.rsplit("/", 1)[-1].replace("-", "_")
    url = airflow_db("2.10.5", name, **KILL_FILL)
    warehouse, slug = tmp_path / "wh.duckdb", "kill"
    schema = f"airflow-{slug}"
    # the tap while it reads task_instance; the loader once it committed a batch of it
    after = {
        "bin/tap-airflow-metadb": "tap-airflow-metadb: task_instance: reading in full",
        "bin/target-airflow-audit-duckdb": r"target-airflow-audit-duckdb: task_instance: [\d,]+ rows loaded",
        # the loader at work on the tables before
        "group": "tap-airflow-metadb: task_instance: reading in full",
    }[process]
    code, log = _run_and_kill(_kill_settings(url, warehouse, slug), process, after, stop)
    assert code != 0, log[-4000:]
    if stop == signal.SIGTERM:
        # stopped, the extractor says so and removes what it wrote on the host; so does the
        # loader, stopped where it is (also inside a DuckDB query), with no traceback
        assert "tap-airflow-metadb: stopped by SIGTERM before it finished reading" in log
        assert "Traceback" not in log
        assert list(tmp_path.rglob("airflow-audit-run-*")) == []
        if process == "group":
            assert "target-airflow-audit-duckdb: stopped by SIGTERM before it finished" in log
    # The kill landed mid-write: the warehouse holds part of the source, not nothing, not all.
    tables = synced_tables(url)
    partial = _live_counts(warehouse, schema, tables)
    source = {t: scalar(url, f"select count(*) from {t}") for t in tables}
    assert sum(partial.values()) > 0, "the kill came before anything was written"
    assert any(partial.get(t, 0) < n for t, n in source.items()), "the kill came after the end"
    ok(sync(url, warehouse, slug))
    assert_warehouse_equals_source(url, warehouse, schema, tables)


@pytest.mark.parametrize("handoff", ["files", "records"])
def test_sigkill_mid_incremental_run_then_rerun_is_exact(airflow_db, tmp_path, handoff):
    """A run that already has a bookmark, killed while the loader writes the changed rows: by
    records, some batches are committed and others not; by file, the table's file is loaded in
    one transaction, so all or none of it.  Either way the rerun makes the warehouse exact."""
    url = airflow_db("2.10.5", f"kill_incremental_{handoff}", **KILL_FILL)
    warehouse, slug = tmp_path / "wh.duckdb", f"killinc-{handoff}"
    schema = f"airflow-{slug}"
    ok(sync(url, warehouse, slug))
    changed = execute(
        url,
        "update task_instance set queue = 'after_kill' where ctid in "
        "(select ctid from task_instance tablesample bernoulli (60) repeatable (7))",
    )
    assert changed > 4000
    trigger = (
        r"target-airflow-audit-duckdb: task_instance: [\d,]+ rows loaded"
        if handoff == "records"
        else r"tap-airflow-metadb: task_instance: \d+ of \d+ rows read"
    )
    code, _ = _run_and_kill(
        {**_kill_settings(url, warehouse, slug), "AIRFLOW_AUDIT_HANDOFF": handoff},
        "bin/target-airflow-audit-duckdb",
        trigger,
    )
    assert code != 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (arrived,) = con.execute(
            f"select count(*) from \"{schema}\".task_instance where queue = 'after_kill'"
        ).fetchone()
    if handoff == "records":
        assert 0 < arrived < changed, f"{arrived} of {changed} changed rows arrived before the kill"
    else:
        assert arrived in (0, changed), f"{arrived} of {changed}: a file is loaded whole or not"
    ok(sync(url, warehouse, slug))
    assert_warehouse_equals_source(url, warehouse, schema, synced_tables(url))


def _start_sync(url: str, warehouse: Path, slug: str, log: Path) -> subprocess.Popen:
    """`sync`, started in the background with its output in `log`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_AUDIT_", "AIRFLOW__"))}
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "AIRFLOW_AUDIT_SOURCE_URL": url,
            "AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse),
            "AIRFLOW_AUDIT_ENV_SLUG": slug,
            "AIRFLOW_AUDIT_ADDITIONAL_TABLES": ADDITIONAL,
            "TARGET_AIRFLOW_AUDIT_DUCKDB_BATCH_SIZE_ROWS": "2000",
            # batches of records, so that a loader can be held between two commits of a table
            "AIRFLOW_AUDIT_HANDOFF": "records",
        }
    )
    with log.open("w") as out:
        return subprocess.Popen(
            [str(BIN / "meltano"), *SYNC], cwd=ROOT, env=env, stdout=out, stderr=out
        )


def _wait_for_line(log: Path, text: str, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert proc.poll() is None, (
            f"the run ended before it logged {text!r}: {log.read_text()[-3000:]}"
        )
        assert time.monotonic() < deadline, f"no {text!r} in {timeout} s"
        time.sleep(0.05)


def test_concurrent_runs_same_slug_refused_other_slugs_share_the_warehouse(airflow_db, tmp_path):
    """The first run's loader is held inside its transaction (SIGSTOP, by pid, from the run's own
    process tree) while the other runs start, so they overlap by construction, not by timing."""
    url_a = airflow_db("2.10.5", "conc_a", **KILL_FILL)
    url_b = airflow_db("3.3.2", "conc_b")
    warehouse = tmp_path / "wh.duckdb"

    a1_log, b_log = tmp_path / "a1.log", tmp_path / "b.log"
    a1 = _start_sync(url_a, warehouse, "a", a1_log)
    # a's loader has committed part of task_instance: hold it there, inside its run
    _wait_for_line(a1_log, "target-airflow-audit-duckdb: task_instance: 2,000 rows loaded", a1)
    loader_a = own_process(a1.pid, "bin/target-airflow-audit-duckdb")
    os.kill(loader_a, signal.SIGSTOP)  # the barrier: a's loader holds the warehouse, mid-load
    try:
        a2 = sync(url_a, warehouse, "a")  # same slug: refused while the first runs
        b = _start_sync(url_b, warehouse, "b", b_log)  # another slug, same DuckDB file
        own_process(b.pid, "bin/target-airflow-audit-duckdb", timeout=300)
        time.sleep(2)
        held = (a1.poll(), b.poll())
    finally:
        os.kill(loader_a, signal.SIGCONT)
    assert held == (None, None), "both runs should be under way while a's loader is held"
    assert a1.wait(timeout=900) == 0, a1_log.read_text()[-4000:]
    assert b.wait(timeout=900) == 0, b_log.read_text()[-4000:]

    assert a2.returncode != 0
    assert "pipeline is already running" in a2.stderr
    assert_warehouse_equals_source(url_a, warehouse, "airflow-a", synced_tables(url_a))
    assert_warehouse_equals_source(url_b, warehouse, "airflow-b", synced_tables(url_b))
    states = subprocess.run(
        [str(BIN / "meltano"), "state", "list"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert ":a\n" in states + "\n" and ":b\n" in states + "\n"


def test_a_state_meant_for_another_slug_never_skips_rows(airflow_db, tmp_path):
    """Two slugs synced at once from one project share Meltano's run folder, so one sync can be
    handed the other's state. Bookmarks name their destination: such a state means a full read."""
    url = airflow_db("2.10.5", "cross_state", dags=4, days=2)
    ok(sync(url, tmp_path / "a.duckdb", "xa"))
    ids = subprocess.run(
        [str(BIN / "meltano"), "state", "list"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    (state_a,) = [i for i in ids if i.endswith("-to-target-airflow-audit-duckdb:xa")]
    state_b = state_a.removesuffix(":xa") + ":xb"
    # Slug xb is handed slug xa's state, as the race would do.
    copied = subprocess.run(
        [str(BIN / "meltano"), "state", "copy", "--force", state_a, state_b],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert copied.returncode == 0, copied.stderr[-2000:]
    second = sync(url, tmp_path / "b.duckdb", "xb")
    ok(second)
    assert "task_instance: reading changes only" not in second.stderr
    assert "task_instance: the bookmark belongs to another destination" in second.stderr
    assert_warehouse_equals_source(url, tmp_path / "b.duckdb", "airflow-xb", synced_tables(url))
