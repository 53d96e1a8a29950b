"""The incremental marts on Snowflake's SQL (fakesnow): an incremental build equals a full rebuild.

The Snowflake story of tests/end_to_end/test_incremental_marts.py, on the emulator: the real tap, the
real target-airflow-audit-snowflake and reconciliation (archive mode), then the job's dbt step
(transform/build_changed.py in dbt-snowflake's venv). After Airflow's own changes (cleared and marked
task instances, runs marked failed, a backfill, new audit events, a run deleted) the incremental
build must replace partitions only, and its marts equal a `--full-refresh` of a copy, row for row.
fakesnow runs Snowflake's SQL on DuckDB: Snowflake's own planner and types stay unverified.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.end_to_end.test_incremental_marts import (
    FULL_REBUILD,
    INCREMENTAL,
    PARTIAL,
    change_like_airflow,
)
from tests.load.test_warehouses import (
    RAW,
    SNOWFLAKE_ENV,
    FakeSnowflake,
    copy_dbt_project,
    fakesnow_overlay,  # noqa: F401  (the fixture)
    plugin_bin,
    resolved_config,
    sync_archive,
)
from tests.support.sync import ADDITIONAL

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration


def build_changed(fake: FakeSnowflake, project: Path, root: Path, *args: str) -> str:
    """The job's dbt step, as Meltano runs it: build_changed.py in dbt-snowflake's venv."""
    python = plugin_bin("transformers", "dbt-snowflake", "python")
    done = subprocess.run(
        [str(python), str(project / "build_changed.py"), *args],
        env=fake.env(
            HOME=str(root),
            DBT_PROJECT_DIR=str(project),
            DBT_PROFILES_DIR=str(project / "profiles/snowflake"),
            DBT_TARGET_PATH=str(root / "target"),
            DBT_LOG_PATH=str(root / "logs"),
            # as tests/load/test_warehouses.py builds on fakesnow: no unit tests (fakesnow has no
            # temporary tables in a database)
            DBT_EXCLUDE_RESOURCE_TYPES="unit_test",
            # every build partial however much of a mart its changes reach (the fixture's few rows
            # would often pass the default share), the share still computed in Snowflake's SQL
            AIRFLOW_AUDIT_PARTIAL_BUILD_LIMIT="1",
            # fakesnow: one connection to its DuckDB file at a time (dbt lists schemas on `threads`)
            AIRFLOW_AUDIT_DBT_THREADS="1",
            **SNOWFLAKE_ENV,
        ),
        cwd=project,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    return done.stderr + (root / "logs" / "dbt.log").read_text(errors="replace")


COMPARE = """
import duckdb, json, sys
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute(f"attach '{sys.argv[2]}' as full_rebuild (read_only)")
found = {}
for mart in json.loads(sys.argv[3]):
    ours = f'{sys.argv[4]}.{mart}'
    theirs = f'full_rebuild.{sys.argv[4]}.{mart}'
    # a row's figures, without when the build wrote it (airflow_audit_built_at)
    row = "select * exclude (airflow_audit_built_at) from"
    a = con.execute(f"select count(*) from ({row} {ours} except all {row} {theirs})").fetchone()[0]
    b = con.execute(f"select count(*) from ({row} {theirs} except all {row} {ours})").fetchone()[0]
    n = con.execute(f"select count(*) from {ours}").fetchone()[0]
    found[mart] = [a, b, n]
print(json.dumps(found))
"""


def test_snowflake_incremental_marts_equal_a_full_rebuild(
    airflow_db,
    fakesnow_overlay,  # noqa: F811  (the fixture, imported above)
    tmp_path,
):
    url = airflow_db("2.10.5", "snowflake_incremental_marts", dags=3, days=2)
    fake = FakeSnowflake(tmp_path, fakesnow_overlay)
    archive = resolved_config(tmp_path, "archive")
    project = copy_dbt_project(tmp_path)
    # fakesnow has no temporary views in a schema, which dbt-snowflake stages an append in: a
    # transient table instead, on the emulator only (the temporary view stays unverified)
    settings = project / "dbt_project.yml"
    settings.write_text(
        settings.read_text().replace(
            "      +materialized: table\n",
            "      +materialized: table\n      +tmp_relation_type: transient\n",
        )
    )
    story = {"url": url, "fake": fake}
    home = tmp_path / "airflow-home"
    home.mkdir()

    def sync() -> None:
        sync_archive(story, archive, ADDITIONAL)

    sync()
    build_changed(fake, project, tmp_path / "first")
    change_like_airflow(url, "2.10.5", home, 7)
    sync()
    log = build_changed(fake, project, tmp_path / "second")
    assert PARTIAL in log, [line for line in log.splitlines() if "build-changed" in line]
    statements = log.replace('"', "").lower()
    for mart in INCREMENTAL:
        hook = re.search(
            rf"delete from [\w.]*{RAW.lower()}_marts\.{mart} where (.{{0,12}})", statements
        )
        assert hook and not hook.group(1).startswith("1 = 1"), f"{mart}: not replaced by partition"

    (tmp_path / "full").mkdir()
    copy = FakeSnowflake(tmp_path / "full", fakesnow_overlay)
    shutil.rmtree(copy.db)
    shutil.copytree(fake.db, copy.db)
    build_changed(copy, project, tmp_path / "rebuild", *FULL_REBUILD)
    found = fake._run(
        COMPARE,
        str(fake.db / "AIRFLOW_AUDIT.db"),
        str(copy.db / "AIRFLOW_AUDIT.db"),
        json.dumps([m.upper() for m in INCREMENTAL]),
        f"{RAW}_MARTS",
    )
    assert {m: (a, b) for m, (a, b, _) in found.items() if a or b} == {}
    assert all(n > 0 for _, _, n in found.values()), found
