"""The large marts are incremental, and an incremental build equals a full rebuild row for row.

One source, one DuckDB warehouse, the real hourly job (`meltano run airflow-audit`, whose dbt step is
`build-changed`) run again after each round of changes made the way Airflow makes them:
* Airflow's own code (`clear_task_instances`, `TaskInstance.set_state`, `DagRun.set_state`, run
  with the Airflow release of the schema): cleared task instances (2.10+ writes their try to
  task_instance_history, the run is queued again), failed tries marked success, runs marked failed,
  tries a sync saw running ended (their pool hours, durations and anomaly verdicts then final);
* rows written as the scheduler and API write them (tests/support/sync.py `airflow_changes`):
  updates that do and do not bump updated_at, a backfill's new runs and task instances, new audit
  events, a run deleted in the UI;
* Airflow's own `airflow db clean` of old runs, task instances and log rows.
After each round the incremental marts are compared, row for row, with a `--full-refresh` of a copy
of the same warehouse. The statements dbt ran show that each round replaced only the partitions
touched (archive mode), or everything where rows were deleted outright (mirror mode) or where the
changes reached more than the partial-build limit of a mart that then computes every row, and that a
scoped test still fails on a touched row that duplicates a held one.
"""

from __future__ import annotations

import random
import re
import shutil
import uuid
from pathlib import Path

import duckdb
import pytest

from tests.support import airflow_db_clean, airflow_python, meltano
from tests.support.sync import ADDITIONAL, airflow_changes, dbt_paths, scalar

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration

INCREMENTAL = (
    "fct_task_instances",
    "fct_task_attempts",
    "fct_task_failures",
    "fct_dag_runs",
    "fct_audit_events",
    "rpt_dag_daily_health",
    "fct_task_attempt_duration_anomalies",
    "fct_dag_run_duration_anomalies",
    "rpt_task_reliability",
    "rpt_dag_durations",
    "rpt_failure_streaks",
    "fct_dag_run_lateness",
    "rpt_dag_daily_lateness",
    "rpt_pool_hourly_usage",
)
# A mart's rows, without when the build wrote them (airflow_audit_built_at): a rebuild writes the same
# figures at another time.
ROW = "select * exclude (airflow_audit_built_at) from"
PARTIAL = "build-changed: building what depends on the tables that changed: "
# The duration anomaly marts, whose partial builds start from their first markers.
ANOMALIES = ("fct_task_attempt_duration_anomalies", "fct_dag_run_duration_anomalies")
# The reference: a full rebuild of the incremental marts and what they read, models only (the data
# tests ran in the job; here they would only cost time).
FULL_REBUILD = (
    "--full-refresh",
    "--select",
    *(f"+{m}" for m in INCREMENTAL),
    "--resource-type",
    "model",
)

# A session of Airflow's own models. The DAG lookups of clear_task_instances are answered "not found",
# Airflow's own branch for a DAG no longer parsed: the fixtures' serialized DAGs are not Airflow's
# serializer's output.
AIRFLOW_SESSION = """
import random, sys
import airflow
from airflow.models import dagbag
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance, clear_task_instances
from airflow.utils.session import create_session
from airflow.utils.state import DagRunState, TaskInstanceState

if airflow.__version__.startswith("2."):
    dagbag.DagBag.get_dag = lambda self, dag_id, session=None: None
else:
    dagbag.DBDagBag.get_latest_version_of_dag = lambda self, dag_id, session: None
    dagbag.DBDagBag.get_dag_for_run = lambda self, dag_run, session: None
"""

# Airflow's own writes: clear some finished task instances (their tries recorded in
# task_instance_history, their runs queued again), mark some failed tries success and some finished
# runs failed, end two tries the last sync saw running. Argument: the random seed; prints how many
# running tries ended.
AIRFLOW_WRITES = (
    AIRFLOW_SESSION
    + """
rnd = random.Random(int(sys.argv[1]))
order = (TaskInstance.dag_id, TaskInstance.task_id, TaskInstance.run_id, TaskInstance.map_index)
with create_session() as session:
    done = session.query(TaskInstance).filter(TaskInstance.state.in_(["success", "failed"]))
    done = done.order_by(*order).all()
    clear_task_instances(rnd.sample(done, min(6, len(done))), session)
with create_session() as session:
    failed = session.query(TaskInstance).filter(TaskInstance.state == "failed").order_by(*order).all()
    for ti in rnd.sample(failed, min(3, len(failed))):
        ti.set_state(TaskInstanceState.SUCCESS, session=session)
    runs = session.query(DagRun).filter(DagRun.state == "success").order_by(DagRun.id).all()
    for run in rnd.sample(runs, min(2, len(runs))):
        run.set_state(DagRunState.FAILED)
        session.merge(run)
with create_session() as session:
    # tries the last sync saw running end now (end_date and duration from the clock, as a worker's)
    running = session.query(TaskInstance).filter(TaskInstance.state == "running")
    running = running.order_by(*order).all()
    for ti in rnd.sample(running, min(2, len(running))):
        ti.set_state(TaskInstanceState.SUCCESS, session=session)
    print(min(2, len(running)))
"""
)


class Job:
    def __init__(self, url: str, root: Path, mode: str) -> None:
        self.warehouse = root / "w.duckdb"
        self.root = root
        slug = f"im-{mode}-{uuid.uuid4().hex[:6]}"
        self.marts = f"airflow-{slug}_marts"
        self.env = {
            "AIRFLOW_AUDIT_SOURCE_URL": url,
            "AIRFLOW_AUDIT_DUCKDB_PATH": str(self.warehouse),
            "AIRFLOW_AUDIT_ENV_SLUG": slug,
            "AIRFLOW_AUDIT_MODE": mode,
            "AIRFLOW_AUDIT_ADDITIONAL_TABLES": ADDITIONAL,
            # Histories of 3 successes, so that the few days of the fixture slide the anomaly
            # windows: an incremental build then recomputes only the attempts with a touched one in
            # their window, which a longer history than the fixture's would never show.
            "AIRFLOW_AUDIT_ANOMALY_HISTORY_RUNS": "3",
            # Every build partial, however much of a mart its changes reach (the few rows of the
            # fixture would often pass the default share); the last round sets 0.
            "AIRFLOW_AUDIT_PARTIAL_BUILD_LIMIT": "1",
            **dbt_paths(root),
        }

    def run(self) -> str:
        # this job's statements only (dbt appends to its log, and rotates it)
        for old in (self.root / "logs").glob("dbt.log*"):
            old.unlink()
        done = meltano("run", "airflow-audit", env=self.env)
        assert done.returncode == 0, done.stderr[-6000:]
        assert "ERROR=0" in done.stderr
        # the anomaly marts drop what they kept for the build
        assert self.build_tables() == []
        return done.stderr

    def task_instance_rows(self) -> dict[str, tuple[int, str]]:
        """task_instance_key -> (where fct_task_instances stores the row: its rowid, the row's
        content as text)."""
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            rows = con.execute(
                "select task_instance_key, rowid, "
                "cast(struct_pack(*columns(* exclude (airflow_audit_built_at))) as varchar) "
                f'from "{self.marts}".fct_task_instances'
            ).fetchall()
        return {key: (rowid, content) for key, rowid, content in rows}

    def delete_statements(self) -> dict[str, str]:
        """mart -> the `delete` of its partitions as the latest job ran it (dbt's debug log, up to
        its next line): the pre-hook's, or on DuckDB in a partial build the in-place replacement's
        (get_incremental_airflow_audit_in_place_sql), which deletes the rows that left them."""
        log = (self.root / "logs" / "dbt.log").read_text(errors="replace")
        found = {}
        for mart in INCREMENTAL:
            start = re.search(
                rf'delete from "[^"]+"\."{re.escape(self.marts)}"\."{mart}"\s+where\s+', log
            )
            if start:
                found[mart] = re.split(
                    r"\n\S*\d\d:\d\d:\d\d\.\d+ \[", log[start.end() :], maxsplit=1
                )[0]
        return found

    def replaced(self) -> dict[str, str]:
        """mart -> how the latest job's incremental run replaced it: 'partitions' (the touched
        ones) or 'everything'."""
        return {
            mart: "everything" if where.startswith("1 = 1") else "partitions"
            for mart, where in self.delete_statements().items()
        }

    def markers_written_out(self) -> dict[str, bool]:
        """duration anomaly mart -> whether the latest job's pre-hook joined its window markers as
        the table the build wrote them into once (airflow_audit_fetch_markers) rather than as the
        query that finds them."""
        statements = self.delete_statements()
        return {
            mart: f'"{mart}__window_markers"' in statements[mart]
            and "marker_values(" not in statements[mart]
            and "__held_touched" not in statements[mart]
            for mart in ANOMALIES
            if mart in statements
        }

    def markers_from_touched_rows(self) -> dict[str, bool]:
        """duration anomaly mart -> whether the latest job wrote its window markers into their table
        from the touched rows it wrote once into a table of its own (airflow_audit_write_markers),
        whatever their number, rather than from values or by finding the touched rows again."""
        log = (self.root / "logs" / "dbt.log").read_text(errors="replace")
        return {
            mart: re.search(
                rf'create or replace table \S+"{mart}__window_markers" as with\s+touched as \(\s*'
                rf'select \* from \S+"{mart}__touched_rows"',
                log,
            )
            is not None
            for mart in ANOMALIES
        }

    def build_tables(self) -> list[str]:
        """The tables a build of the marts keeps beside them while it runs (the anomaly marts'
        touched rows, markers and held rows), left in the marts' schema."""
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return [
                name
                for (name,) in con.execute(
                    "select table_name from information_schema.tables where table_schema = $1 "
                    "and regexp_matches(table_name, '__(touched_rows|markers|window_markers|held_touched)$')",
                    [self.marts],
                ).fetchall()
            ]

    def touched_written_out(self) -> dict[str, bool]:
        """duration anomaly mart -> whether the latest job's pre-hook found the touched partitions
        among values written into the statement (airflow_audit_touched_once) rather than by reading
        the staging views again."""
        statements = self.delete_statements()
        return {
            mart: "stg_airflow__" not in statements[mart] and "(values " in statements[mart]
            for mart in ANOMALIES
            if mart in statements
        }

    def tests_scoped(self) -> dict[str, bool]:
        """mart -> whether its `unique` test, as the latest job ran it, read only the partitions
        the build replaced (its SQL as dbt ran it, target/run/)."""
        tests = self.root / "target/run/airflow_audit/models/marts/audit/_audit__models.yml"
        keys = {
            "fct_task_instances": "task_instance_key",
            "fct_task_attempts": "task_attempt_key",
            "fct_dag_runs": "dag_run_key",
            "fct_audit_events": "audit_event_id",
            "rpt_dag_daily_health": "dag_day_key",
            "fct_task_attempt_duration_anomalies": "task_attempt_key",
            "fct_dag_run_duration_anomalies": "dag_run_key",
            "rpt_task_reliability": "dag_task_key",
            "rpt_dag_durations": "dag_id",
            "rpt_failure_streaks": "dag_id",
            "fct_dag_run_lateness": "dag_run_key",
            "rpt_dag_daily_lateness": "dag_due_day_key",
            "rpt_pool_hourly_usage": "pool_hour_key",
        }
        # the scope is the rows with the build's time (airflow_audit_touched_rows)
        return {
            mart: "airflow_audit_built_at = cast("
            in (tests / f"unique_{mart}_{key}.sql").read_text()
            for mart, key in keys.items()
        }

    def stamped(self, before: Path) -> dict[str, tuple[int, int, int]]:
        """mart -> (rows the latest build added or changed without its airflow_audit_built_at, rows with
        it, rows), against `before`, a copy of the warehouse from before that build. Its time is the
        latest of fct_task_instances, where it changed a row (changed_task_instances)."""
        found = {}
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            con.execute(f"attach '{before}' as before (read_only)")
            (latest,) = con.execute(
                f'select max(airflow_audit_built_at) from "{self.marts}".fct_task_instances'
            ).fetchone()
            for mart in INCREMENTAL:
                ours = f'"{self.marts}".{mart}'
                found[mart] = con.execute(
                    f"select (select count(*) from (select * from {ours} "
                    f"where airflow_audit_built_at <> $1 "
                    f'except all select * from before."{self.marts}".{mart})), '
                    f"count(*) filter (where airflow_audit_built_at = $1), count(*) from {ours}",
                    [latest],
                ).fetchone()
        return found

    def lateness_restamped(self) -> tuple[int, int]:
        """(rows of fct_dag_run_lateness the latest build wrote, rows of the DAGs those belong to): a
        build that replaced whole DAGs wrote every row of each."""
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(
                f'with lateness as (select * from "{self.marts}".fct_dag_run_lateness), '
                "latest as (select max(airflow_audit_built_at) as built_at from lateness) "
                "select count(*) filter (where airflow_audit_built_at = (select built_at from latest)), "
                "count(*) from lateness where dag_id in (select dag_id from lateness "
                "where airflow_audit_built_at = (select built_at from latest))"
            ).fetchone()

    def differences_from_a_full_rebuild(self) -> dict[str, tuple[int, int]]:
        """mart -> (rows only in the incremental mart, rows only in the rebuilt one), for the marts
        that differ; the rebuild is a `--full-refresh` of those marts (and what they read) in a copy of
        the warehouse."""
        copy = self.root / "full.duckdb"
        shutil.copy(self.warehouse, copy)
        done = meltano(
            "invoke",
            "dbt-duckdb:build-changed",
            *FULL_REBUILD,
            env={
                **self.env,
                **dbt_paths(self.root / "full-rebuild"),
                "AIRFLOW_AUDIT_DUCKDB_PATH": str(copy),
            },
        )
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        found = {}
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            con.execute(f"attach '{copy}' as full_rebuild (read_only)")
            for mart in INCREMENTAL:
                ours = f'"{self.marts}".{mart}'
                theirs = f'full_rebuild."{self.marts}".{mart}'
                only_ours = con.execute(
                    f"select count(*) from ({ROW} {ours} except all {ROW} {theirs})"
                ).fetchone()[0]
                only_theirs = con.execute(
                    f"select count(*) from ({ROW} {theirs} except all {ROW} {ours})"
                ).fetchone()[0]
                if only_ours or only_theirs:
                    found[mart] = (only_ours, only_theirs)
        copy.unlink()
        return found


def changed_task_instances(before: dict, after: dict) -> set[str]:
    """The task instances fct_task_instances held before a build and holds changed after it
    (Job.task_instance_rows): at least one, or the test shows nothing."""
    changed = {key for key, row in before.items() if key in after and after[key][1] != row[1]}
    assert changed, "Airflow changed no task instance the mart held: the test shows nothing"
    return changed


def change_like_airflow(url: str, version: str, home: Path, seed: int) -> int:
    """Airflow's writes and the scheduler's; how many running tries ended."""
    ended = int(airflow_python(version, url, home, AIRFLOW_WRITES, str(seed)).split()[-1])
    airflow_changes(url)
    return ended


# In the first, series collide: the duration anomaly marts match a series by a 64-bit hash of it
# (airflow_audit_held_history_starts), folded here into two values (AIRFLOW_AUDIT_TEST_SERIES_HASH_BUCKETS),
# so that a row of another series is found, as two series of 2^64 hashes hardly ever would be.
# The first writes the touched rows into the build's SQL as values, as an hourly build does; the second
# queries them in each statement, as a build that touched more than airflow_audit_values_limit() rows
# does (AIRFLOW_AUDIT_TEST_VALUES_LIMIT at 0). Both write the anomaly marts' touched rows and markers
# into tables of the build.
@pytest.mark.parametrize(
    ("version", "mode", "hash_buckets", "written_out"),
    [
        ("2.10.5", "archive", "2", True),
        ("3.3.2", "archive", "", False),
        ("3.3.2", "mirror", "", True),
    ],
    ids=["2.10.5-archive-colliding", "3.3.2-archive-queried", "3.3.2-mirror"],
)
def test_incremental_marts_equal_a_full_rebuild(
    airflow_db, tmp_path, version, mode, hash_buckets, written_out
):
    url = airflow_db(version, f"incr_marts_{version.replace('.', '_')}_{mode}", dags=4, days=3)
    job = Job(url, tmp_path, mode)
    if hash_buckets:
        job.env["AIRFLOW_AUDIT_TEST_SERIES_HASH_BUCKETS"] = hash_buckets
    if not written_out:
        job.env["AIRFLOW_AUDIT_TEST_VALUES_LIMIT"] = "0"
    home = tmp_path / "airflow-home"
    home.mkdir()
    job.run()  # the first build is a full one: nothing to compare yet
    with duckdb.connect(str(job.warehouse), read_only=True) as con:
        slid = con.execute(
            f'select count(*) from "{job.marts}".fct_task_attempt_duration_anomalies '
            "where history_attempt_count = 3 and history_started_at > ("
            "  select min(first.started_at) from "
            f'  "{job.marts}".fct_task_attempt_duration_anomalies as first'
            "  where first.dag_id = fct_task_attempt_duration_anomalies.dag_id"
            "  and first.task_id = fct_task_attempt_duration_anomalies.task_id"
            "  and first.state = 'success')"
        ).fetchone()[0]
        series, hashes = con.execute(
            "select count(distinct (dag_id, task_id)), "
            f"count(distinct hash(dag_id, task_id) % {hash_buckets or 1 << 62}) "
            f'from "{job.marts}".fct_task_attempt_duration_anomalies'
        ).fetchone()
    assert slid > 0, "no anomaly window slid past a task's first attempt: the test shows nothing"
    # folded, series share a hash; not folded, none does
    assert (series > hashes) == bool(hash_buckets), (series, hashes)

    rnd = random.Random(20261122)
    ended = 0
    for round_ in range(2):
        ended += change_like_airflow(url, version, home, rnd.randrange(1 << 30))
        before = job.task_instance_rows()
        shutil.copy(job.warehouse, tmp_path / "before.duckdb")
        log = job.run()
        assert PARTIAL in log, log[-3000:]
        assert job.differences_from_a_full_rebuild() == {}, f"round {round_}"
        if mode == "archive":
            # a task instance Airflow changed is updated where it was stored, not deleted and
            # inserted again (DuckDB keeps a marker for every deleted row)
            after = job.task_instance_rows()
            changed = changed_task_instances(before, after)
            assert {key: after[key][0] for key in changed} == {
                key: before[key][0] for key in changed
            }
            # deletes at the source are marks in archive mode: only touched partitions replaced,
            # and only they tested
            assert job.replaced() == {m: "partitions" for m in INCREMENTAL}
            assert job.markers_written_out() == dict.fromkeys(ANOMALIES, True)
            assert job.markers_from_touched_rows() == dict.fromkeys(ANOMALIES, True)
            assert job.touched_written_out() == dict.fromkeys(ANOMALIES, written_out)
            assert all(job.tests_scoped().values()), job.tests_scoped()
            # the rows the tests read are what the build wrote: every row it added or changed
            # carries its time, and not every row does
            stamped = job.stamped(tmp_path / "before.duckdb")
            assert all(changed == 0 for changed, _, _ in stamped.values()), stamped
            assert 0 < stamped["fct_task_attempts"][1] < stamped["fct_task_attempts"][2], stamped
            # a run's lateness is replaced with its run, not with every run of its DAG
            restamped, of_their_dags = job.lateness_restamped()
            assert 0 < restamped < of_their_dags, (restamped, of_their_dags)
        else:
            # mirror deleted rows outright (a run deleted in the UI): what read them is rebuilt
            assert job.replaced()["fct_task_attempts"] == "everything"
            assert job.replaced()["fct_audit_events"] == "everything"
            assert not any(job.tests_scoped().values()), job.tests_scoped()
    assert ended > 0, "no try the first sync saw running ended: the test shows less than it says"

    # Airflow's own `db clean` of the older half of the history, then one more round of changes.
    cutoff = scalar(
        url,
        "select to_char(percentile_disc(0.5) within group (order by start_date) at time zone 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS+00:00') from dag_run",
    )
    airflow_db_clean(url, version, home, cutoff, "dag_run,task_instance,log")
    change_like_airflow(url, version, home, rnd.randrange(1 << 30))
    log = job.run()
    assert PARTIAL in log, "\n".join(line for line in log.splitlines() if "build-changed" in line)
    assert job.differences_from_a_full_rebuild() == {}
    if mode == "archive":
        assert job.replaced() == {m: "partitions" for m in INCREMENTAL}
        with duckdb.connect(str(job.warehouse), read_only=True) as con:
            marked = con.execute(
                f'select count(*) from "{job.marts}".fct_dag_runs where is_deleted_at_source'
            ).fetchone()[0]
        assert marked > 0, "archive keeps what db clean deleted, marked"
        changes_past_the_partial_build_limit_rebuild_everything(job, url, version, home, rnd)
        the_scoped_unique_test_catches_a_duplicate(job)


# The marts that build every row instead of what changed when that reaches more than the limit.
LIMITED = (
    "fct_task_attempt_duration_anomalies",
    "fct_dag_run_duration_anomalies",
    "rpt_pool_hourly_usage",
)


def changes_past_the_partial_build_limit_rebuild_everything(
    job: Job, url: str, version: str, home: Path, rnd: random.Random
) -> None:
    """With AIRFLOW_AUDIT_PARTIAL_BUILD_LIMIT at 0, any change reaches past it: the duration anomaly
    marts and the pool report compute every row (cheaper than around the gaps when most rows are
    reached), the other marts still replace the touched partitions, and all equal a full rebuild.
    With AIRFLOW_AUDIT_IN_PLACE_LIMIT at 0 too, the marts DuckDB updates in place delete and insert
    their touched partitions instead: a changed task instance moves."""
    change_like_airflow(url, version, home, rnd.randrange(1 << 30))
    job.env["AIRFLOW_AUDIT_PARTIAL_BUILD_LIMIT"] = "0"
    job.env["AIRFLOW_AUDIT_IN_PLACE_LIMIT"] = "0"
    before = job.task_instance_rows()
    assert PARTIAL in job.run()
    assert job.differences_from_a_full_rebuild() == {}
    assert job.replaced() == {
        m: "everything" if m in LIMITED else "partitions" for m in INCREMENTAL
    }
    after = job.task_instance_rows()
    changed = changed_task_instances(before, after)
    assert all(after[key][0] != before[key][0] for key in changed)
    job.env["AIRFLOW_AUDIT_PARTIAL_BUILD_LIMIT"] = "1"
    del job.env["AIRFLOW_AUDIT_IN_PLACE_LIMIT"]


def the_scoped_unique_test_catches_a_duplicate(job: Job) -> None:
    """A tested scope still holds what the test exists for: a row loaded since the last build with
    the natural key of a task instance the warehouse already holds (what a loader defect would
    write) fails staging's `unique` test of task_instance_key, scoped as the hourly build scopes it
    (on DuckDB by the columns the key is hashed from, filtered before the view hashes a key)."""
    raw = f'"{job.marts.removesuffix("_marts")}".task_instance'
    builds = f'select count(*) from "{job.marts}"._airflow_audit_builds'
    with duckdb.connect(str(job.warehouse)) as con:
        (recorded,) = con.execute(builds).fetchone()
        con.execute(
            f"insert into {raw} select * replace ("
            f"  (select max(_sdc_batched_at) from {raw}) + interval 1 second as _sdc_batched_at)"
            f" from {raw} where _sdc_deleted_at is null order by dag_id, task_id, run_id limit 1"
        )
    done = meltano("invoke", "dbt-duckdb:build-changed", env=job.env)
    assert done.returncode != 0, done.stderr[-3000:]
    out = done.stdout + done.stderr
    assert PARTIAL in out, out[-3000:]
    assert re.search(r"FAIL 1 unique_stg_airflow__task_instances_task_instance_key", out), out[
        -3000:
    ]
    ran = (
        job.root
        / "target/run/airflow_audit/models/staging/airflow/_airflow__models.yml"
        / "unique_stg_airflow__task_instances_task_instance_key.sql"
    ).read_text()
    assert (
        "(dag_id, task_id, run_id, map_index) in (select dag_id, task_id, run_id, map_index" in ran
    )
    assert "offset 0" in ran
    # a build whose test failed is not recorded: the next run builds what changed again
    with duckdb.connect(str(job.warehouse), read_only=True) as con:
        assert con.execute(builds).fetchone() == (recorded,)
