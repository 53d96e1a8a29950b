"""How many models dbt builds at once: AIRFLOW_AUDIT_DBT_THREADS, else 4, else 1 under a DuckDB
memory limit (every model shares DuckDB's one limit: four at once ran out of 512MB at 1M task
instances where one at a time fits in 384MB; README "How fast").  The real dbt renders the
profile; a bad value stops the job's dbt step in one sentence before dbt starts.  Models built at
once see every raw table the warehouse holds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.support import ROOT, dbt_renders

# Meltano and dbt: not in `make test-unit`.
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    """One DuckDB file for the four renders: dbt's profile then stays the same (threads are not part
    of what dbt compares), so the three after the first reuse its parse instead of parsing the
    project again."""
    return tmp_path_factory.mktemp("threads") / "threads.duckdb"


@pytest.mark.parametrize(
    ("env", "threads"),
    [
        ({}, 4),
        ({"AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT": "384MB"}, 1),
        ({"AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT": "384MB", "AIRFLOW_AUDIT_DBT_THREADS": " 3 "}, 3),
        ({"AIRFLOW_AUDIT_DBT_THREADS": "2"}, 2),
    ],
)
def test_dbt_builds_one_model_at_a_time_under_a_duckdb_memory_limit(warehouse, env, threads):
    env = {
        "AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT": "",
        "AIRFLOW_AUDIT_DBT_THREADS": "",
        **env,
        "AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse),
    }
    assert int(dbt_renders("{{ target.threads }}", env)) == threads


@pytest.mark.parametrize("value", ["0", "abc", "2.5", "-1"])
def test_a_bad_thread_count_stops_the_dbt_step_in_one_sentence(value):
    done = subprocess.run(
        [sys.executable, str(ROOT / "transform/build_changed.py")],
        env={"PATH": "/usr/bin:/bin", "AIRFLOW_AUDIT_DBT_THREADS": value},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"AIRFLOW_AUDIT_DBT_THREADS is {value!r}" in lines[0]
    assert "nothing was built" in lines[0]


# Loaded by dbt's Python (PYTHONPATH) in the test below: dbt's relation-cache race, on every run
# rather than now and then. A model's thread that lists the raw schema into dbt's cache (a cache
# miss) adds its first table, then waits (3 s at most) while the models on the other threads look
# their raw tables up, before it adds the others; it writes how many did to the file
# AIRFLOW_AUDIT_TEST_RACE_MARK. Lookups by dbt's main thread are left alone.
RACE = r'''
"""Test-only (tests/transform/test_dbt_threads.py): dbt's relation-cache race, every run."""

import os
import threading

try:
    from dbt.adapters.base.impl import BaseAdapter
    from dbt.adapters.cache import RelationsCache
except ImportError:
    BaseAdapter = None

if BaseAdapter is not None and hasattr(BaseAdapter, "_schema_is_cached"):
    RAW = os.environ["AIRFLOW_AUDIT_TEST_RACE_SCHEMA"].lower()
    LOCK = threading.Lock()
    FILLER = []
    FIRST_ADDED = threading.Event()
    LOOKED = threading.Semaphore(0)
    cached, add = BaseAdapter._schema_is_cached, RelationsCache.add

    def is_cached(self, database, schema):
        if (schema or "").lower() != RAW or threading.current_thread() is threading.main_thread():
            return cached(self, database, schema)
        with LOCK:
            answer = cached(self, database, schema)
            if answer or FILLER:
                filler = FILLER[0] if FILLER else None
            else:
                FILLER.append(threading.get_ident())
                return answer
        if filler not in (None, threading.get_ident()) and not FIRST_ADDED.is_set():
            FIRST_ADDED.wait(3)
            answer = cached(self, database, schema)
        LOOKED.release()
        return answer

    def slow_add(self, relation):
        add(self, relation)
        if (
            (relation.schema or "").lower() == RAW
            and FILLER == [threading.get_ident()]
            and not FIRST_ADDED.is_set()
        ):
            FIRST_ADDED.set()
            looked = 0
            for _ in range(8):
                if not LOOKED.acquire(timeout=3):
                    break
                looked += 1
            # how many lookups read the half-filled listing: the test knows the race happened
            with open(os.environ["AIRFLOW_AUDIT_TEST_RACE_MARK"], "a") as mark:
                mark.write(f"{looked}\n")

    BaseAdapter._schema_is_cached = is_cached
    RelationsCache.add = slow_add
'''

# The raw tables a sync wrote, two rows each: every table a staging model reads, but for two that some
# Airflow releases lack (deadline before 3.1, sla_miss in 3.x).
ABSENT = {"deadline", "sla_miss"}


def raw_tables() -> dict[str, str]:
    """raw table -> its staging view (each staging model reads one source table)."""
    found = {}
    for model in sorted((ROOT / "transform/models/staging/airflow").glob("stg_*.sql")):
        (table,) = set(re.findall(r"source\('airflow', '(\w+)'\)", model.read_text()))
        found[table] = model.stem
    return found


def raw_warehouse(warehouse: Path, schema: str, tables) -> None:
    """A DuckDB file whose raw schema holds `tables`, two rows each, as a sync writes them (the
    staging models read the columns a table has, and nulls for the others)."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f'create schema "{schema}"')
        for table in tables:
            con.execute(
                f"create table \"{schema}\".{table} as select 'd' || i as dag_id, "
                "timestamp '2025-06-02 09:00' as _sdc_extracted_at, "
                "timestamp '2025-06-02 09:00' as _sdc_batched_at, "
                "cast(null as timestamp) as _sdc_deleted_at from range(2) as t(i)"
            )


def run_dbt(
    tmp_path: Path, warehouse: Path, *args: str, command: str = "build", **env: str
) -> subprocess.CompletedProcess:
    """The project's dbt (its DuckDB plugin's): `dbt build` of models (or `dbt <command>`) on
    `warehouse`, whose raw schema is `airflow-race`. Not through Meltano, which drops PYTHONPATH."""
    dbt = ROOT / ".meltano/transformers/dbt-duckdb/venv/bin/dbt"
    return subprocess.run(
        [str(dbt), command, *(["--resource-type", "model"] if command == "build" else []), *args],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_AUDIT_", "DBT_"))},
            "AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse),
            "AIRFLOW_AUDIT_ENV_SLUG": "race",
            "DBT_PROFILES_DIR": str(ROOT / "transform/profiles/duckdb"),
            "DBT_TARGET_PATH": str(tmp_path / "target"),
            "DBT_LOG_PATH": str(tmp_path / "logs"),
            **env,
        },
        cwd=ROOT / "transform",
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


RACE_SCHEMA = "airflow-race"


def staging_under_the_race(tmp_path: Path, command: str):
    """`dbt <command>` of the staging models, with dbt's relation-cache race forced (RACE), on a
    warehouse whose raw schema holds every table but ABSENT. Returns the warehouse, the views of
    the tables it holds, the threads that listed the raw schema, the tables dbt said were missing,
    and how many lookups read a half-filled listing of the raw schema."""
    warehouse = tmp_path / "race.duckdb"
    views = {table: view for table, view in raw_tables().items() if table not in ABSENT}
    raw_warehouse(warehouse, RACE_SCHEMA, views)
    (tmp_path / "race").mkdir()
    (tmp_path / "race" / "sitecustomize.py").write_text(RACE)
    mark = tmp_path / "race" / "raced"
    done = run_dbt(
        tmp_path,
        warehouse,
        "--select",
        "staging",
        command=command,
        AIRFLOW_AUDIT_TEST_RACE_SCHEMA=RACE_SCHEMA,
        AIRFLOW_AUDIT_TEST_RACE_MARK=str(mark),
        PYTHONPATH=str(tmp_path / "race"),
    )
    assert done.returncode == 0, done.stdout[-4000:]
    log = (tmp_path / "logs" / "dbt.log").read_text()
    listers = re.findall(
        rf"\[([^\]]+)\]: While listing relations in database=\w+, schema={RACE_SCHEMA},", log
    )
    said_missing = set(re.findall(rf'"{RACE_SCHEMA}"\."(\w+)" does not exist', done.stdout))
    raced = sum(int(n) for n in mark.read_text().split()) if mark.exists() else 0
    return warehouse, views, listers, said_missing, raced


def test_models_built_at_once_see_every_raw_table(tmp_path):
    """dbt lists the raw schema before its threads start: no model takes a table the warehouse
    holds for a missing one. Before, a model that looked its raw table up while a model on another
    thread was filling dbt's cache with the raw schema found the schema listed and the table not
    (once in a CI run: stg_airflow__task_instance_histories built empty, and the partial build
    deleted those attempts from fct_task_attempts)."""
    warehouse, views, listers, said_missing, raced = staging_under_the_race(tmp_path, "build")
    # the tables the warehouse does not hold are said to be missing, and none it holds
    assert said_missing == ABSENT, sorted(said_missing)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        staged = {
            table: con.execute(f'select count(*) from "{RACE_SCHEMA}_staging".{view}').fetchone()[0]
            for table, view in views.items()
        }
    assert staged == dict.fromkeys(views, 2)
    # the raw schema was listed once, by dbt's main thread, before the models' threads started:
    # no model's thread ever read it half-filled
    assert listers == ["MainThread"], listers
    assert raced == 0


def test_models_compiled_at_once_see_every_raw_table(tmp_path):
    """`dbt compile` and `dbt docs generate` run no on-run-start hook, so dbt's model threads list
    the raw schema themselves, and the race above happens in them (forced here on every run). A
    table dbt's cache does not hold is looked for in the warehouse's own listing before it is taken
    for missing: no model is compiled to its empty form for a table the warehouse holds."""
    _, views, listers, said_missing, raced = staging_under_the_race(tmp_path, "compile")
    # the race happened: a model's thread listed the raw schema, and others read it half-filled
    assert listers and "MainThread" not in listers, listers
    assert raced > 0
    assert said_missing == ABSENT, sorted(said_missing)
    compiled = {
        path.stem: path.read_text()
        for path in (tmp_path / "target/compiled").rglob("stg_airflow__*.sql")
    }
    assert sorted(compiled) == sorted({*views.values(), *(raw_tables()[t] for t in ABSENT)})
    # a present table's view reads it; an absent one's is the empty form
    for table, view in raw_tables().items():
        reads = f'"{RACE_SCHEMA}"."{table}"' in compiled[view]
        assert reads == (table not in ABSENT), (view, compiled[view][-600:])


def test_a_raw_table_that_held_rows_when_the_build_started_is_never_built_empty(tmp_path):
    """The state build-changed reads before a build (the var airflow_audit_since) saw
    task_instance_history with rows; dbt does not find it: its staging model fails in one sentence
    rather than being built empty (a partial build on it would delete the attempts it holds), and a
    table the state saw without rows is built empty as before."""
    warehouse = tmp_path / "held.duckdb"
    raw_warehouse(warehouse, RACE_SCHEMA, ["task_instance"])
    view = "stg_airflow__task_instance_histories"
    since = '{airflow_audit_since: {task_instance_history: {loaded_after: "2025-06-02 09:00:00"}}}'
    held = run_dbt(tmp_path, warehouse, "--select", view, "--vars", since)
    assert held.returncode == 1, held.stdout[-3000:]
    assert (
        'The raw table "held"."airflow-race"."task_instance_history" held rows when this build '
        f"started, but dbt does not find it now: {view} was not built"
    ) in held.stdout, held.stdout[-3000:]
    assert "Traceback" not in held.stdout + held.stderr
    with duckdb.connect(str(warehouse), read_only=True) as con:
        built = con.execute(
            "select count(*) from duckdb_views() where view_name = ?", [view]
        ).fetchone()[0]
    assert built == 0
    absent = "{airflow_audit_since: {task_instance_history: absent}}"
    empty = run_dbt(tmp_path, warehouse, "--select", view, "--vars", absent)
    assert empty.returncode == 0, empty.stdout[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(f'select count(*) from "airflow-race_staging".{view}').fetchone() == (0,)


def test_a_missing_raw_schema_stops_the_build_in_one_sentence(tmp_path):
    """No raw schema at all (the extract/load never ran, or the slug or file is wrong): the build
    stops in one sentence that says what to check, and builds nothing; with the var that allows it,
    the staging models are built empty. (A raw schema that lacks some tables only is no such error:
    the tests above.)"""
    warehouse = tmp_path / "none.duckdb"
    raw_warehouse(warehouse, "airflow-elsewhere", ["dag"])
    view = "stg_airflow__dags"
    stopped = run_dbt(tmp_path, warehouse, "--select", view)
    assert stopped.returncode == 1, stopped.stdout[-3000:]
    assert (
        f"The raw schema {RACE_SCHEMA} does not exist in database none (target duckdb): run the "
        "extract/load first, or check AIRFLOW_AUDIT_ENV_SLUG"
    ) in stopped.stdout, stopped.stdout[-3000:]
    assert "Traceback" not in stopped.stdout + stopped.stderr
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from duckdb_views() where not internal").fetchone() == (
            0,
        )
    allowed = run_dbt(
        tmp_path,
        warehouse,
        "--select",
        view,
        "--vars",
        "{airflow_audit_allow_missing_raw_schema: true}",
    )
    assert allowed.returncode == 0, allowed.stdout[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(f'select count(*) from "{RACE_SCHEMA}_staging".{view}').fetchone() == (
            0,
        )
