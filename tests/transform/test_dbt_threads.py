"""How many models dbt builds at once: AIRFLOW_AUDIT_DBT_THREADS, else 4, else 1 under a DuckDB
memory limit (every model shares DuckDB's one limit: four at once ran out of 512MB at 1M task
instances where one at a time fits in 384MB; README "How fast").  The real dbt renders the
profile; a bad value stops the job's dbt step in one sentence before dbt starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
