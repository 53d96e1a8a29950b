"""`meltano run airflow-audit` end to end: real PostgreSQL, real meltano and dbt, real DuckDB.

For each Airflow schema, on the session's one full job of that version (sync_helpers.full_job:
EVERY table, AIRFLOW_AUDIT_TABLES='[]', so the secrets policy meets every secret column there is;
archive mode; shared with test_marts): counts, secrets, marts, and a second, incremental
extract-load-reconcile that must change no count.
"""

from __future__ import annotations

import duckdb
import pytest

from tests.fixtures.airflow_history import NON_SECRET_MARKERS, PLANTED_SECRETS
from tests.support import encoded_forms, meltano, source_query, warehouse_hits
from tests.support.sync import (
    ALL_VERSIONS,
    MARTS,
    RAW,
    full_job,
    raw_counts,
)

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=ALL_VERSIONS)
def synced(request, airflow_db, tmp_path_factory):
    """The session's one full job of the version (shared with test_marts), then a second
    extract-load-reconcile on it, incremental, with nothing changed at the source."""
    job = full_job(request.param, airflow_db, tmp_path_factory)
    before = raw_counts(job["warehouse"])
    again = meltano(
        "run",
        "tap-airflow-metadb",
        "target-airflow-audit-duckdb",
        "airflow-audit-reconcile:duckdb",
        env={**job["env"], "MELTANO_DATABASE_URI": job["system_db"]},
    )
    assert again.returncode == 0, again.stderr[-4000:]
    return {
        "version": request.param,
        "url": job["url"],
        "warehouse": job["warehouse"],
        "first_counts": job["warehouse_counts"],
        "source_counts": job["source_counts"],
        "before_second": before,
        "second_counts": raw_counts(job["warehouse"]),
        "second_log": again.stderr,
        "log": job["log"],
    }


# Airflow tables that never leave whole: revoked_token's primary key (jti, a token id) is secret.
NOT_COPIED = {"revoked_token"}


def test_every_table_count_equals_the_source(synced):
    expected = {t: n for t, n in synced["source_counts"].items() if t not in NOT_COPIED}
    assert synced["first_counts"] == expected
    assert sum(expected.values()) > 1000, "the fixture should hold real history"


def test_a_second_run_leaves_identical_counts(synced):
    assert "tap-airflow-metadb: task_instance: reading changes only" in synced["second_log"]
    assert synced["second_counts"] == synced["before_second"]
    assert sum(synced["second_counts"].values()) > 1000


def test_no_planted_secret_reaches_the_warehouse(synced):
    needles = {form for secret in PLANTED_SECRETS for form in encoded_forms(secret)}
    with duckdb.connect(str(synced["warehouse"]), read_only=True) as con:
        assert warehouse_hits(con, needles) == {}


def test_the_secret_hunt_finds_what_is_there(synced):
    """Proof the hunt above could fail: non-secret values from the same rows are found."""
    with duckdb.connect(str(synced["warehouse"]), read_only=True) as con:
        hits = warehouse_hits(con, set(NON_SECRET_MARKERS))
    assert set(hits) == set(NON_SECRET_MARKERS)


def test_secret_columns_are_absent_and_flags_present(synced):
    from tap_airflow_metadb.policy import SECRET_COLUMNS

    with duckdb.connect(str(synced["warehouse"]), read_only=True) as con:
        columns = set(
            con.execute(
                "select table_name, column_name from information_schema.columns "
                "where table_schema = ?",
                [RAW],
            ).fetchall()
        )
        flags = con.execute(
            f'select count(*) filter (where has_password), count(*) from "{RAW}".connection'
        ).fetchone()
    leaked = {(t, c) for t, cols in SECRET_COLUMNS.items() for c in cols} & columns
    assert leaked == set()
    assert ("connection", "has_password") in columns
    assert 0 < flags[0] <= flags[1]


# The shared job of the older schemas may have seen test_marts' `airflow db clean` (archive mode keeps
# the deleted rows, flagged): the marts' rows still at the source are compared with the source now.
def test_dag_runs_by_state_equal_the_source(synced):
    expected = source_query(
        synced["url"], "select dag_id, state, count(*) from dag_run group by 1, 2 order by 1, 2"
    )
    with duckdb.connect(str(synced["warehouse"]), read_only=True) as con:
        got = con.execute(
            f'select dag_id, state, count(*) from "{MARTS}".fct_dag_runs '
            "where not is_deleted_at_source group by 1, 2 order by 1, 2"
        ).fetchall()
    assert got == expected
    assert len({state for _, state, _ in expected}) >= 3


def test_failed_task_instances_per_dag_equal_the_source(synced):
    expected = source_query(
        synced["url"],
        "select dag_id, count(*) from task_instance where state = 'failed' group by 1 order by 1",
    )
    with duckdb.connect(str(synced["warehouse"]), read_only=True) as con:
        got = con.execute(
            f'select dag_id, count(*) from "{MARTS}".fct_task_instances '
            "where state = 'failed' and not is_deleted_at_source group by 1 order by 1"
        ).fetchall()
        total = con.execute(
            f'select count(*) from "{MARTS}".fct_task_instances where not is_deleted_at_source'
        ).fetchone()[0]
    assert got == expected
    assert expected, "the fixture should hold failed task instances"
    assert total == source_query(synced["url"], "select count(*) from task_instance")[0][0]


def test_the_tap_recognises_the_schema_and_supports_it(synced):
    """The tap's version check (alembic revision -> release, supported from 2.4) passes every schema,
    and names the release whose migrations left that revision."""
    from tap_airflow_metadb import airflow_versions

    (revision,) = source_query(synced["url"], "select version_num from alembic_version")[0]
    schema_version = airflow_versions.airflow_version_for(revision)
    assert schema_version is not None, f"{revision} unknown to the tap"
    assert airflow_versions.is_supported(schema_version)
    # the revision is that of the release itself or of an earlier one of the same minor line
    assert schema_version.split(".")[:2] == synced["version"].split(".")[:2]
    assert f"holds the Airflow {schema_version} schema" in synced["log"]
