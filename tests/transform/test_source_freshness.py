"""`dbt source freshness` says whether the loader keeps every table current.

Freshness is read from `_airflow_audit_extracts`, the row the extractor writes per table per sync, so a
table that Airflow leaves untouched (roles, import errors) is fresh while the loader runs, a table the
loader does not read follows the loader's latest sync, and a table whose reads stopped goes stale: warn
after a day, error after three (transform/models/staging/airflow/_airflow__sources.yml).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.support import meltano
from tests.support.sync import sync

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration

SLUG = "fresh"
SCHEMA = f"airflow-{SLUG}"


@pytest.fixture(scope="module")
def synced(airflow_db, tmp_path_factory) -> Path:
    url = airflow_db("2.10.5", "freshness", dags=2, days=1)
    path = tmp_path_factory.mktemp("freshness") / "warehouse.duckdb"
    result = sync(url, path, SLUG)
    assert result.returncode == 0, result.stderr[-3000:]
    return path


@pytest.fixture
def warehouse(synced: Path, tmp_path: Path) -> Path:
    """A copy of the synced warehouse for each test: no test sees another's changes, in any order."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(synced, copy)
    return copy


def freshness(warehouse: Path) -> tuple[int, dict[str, str]]:
    """Exit code and each source table's status (PASS, WARN, ERROR STALE, ERROR)."""
    result = meltano(
        "invoke",
        "dbt-duckdb:source-freshness",
        env={"AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse), "AIRFLOW_AUDIT_ENV_SLUG": SLUG},
        timeout=300,
    )
    output = result.stdout + result.stderr
    statuses = dict(
        (table, status)
        for status, table in re.findall(
            r"\b(PASS|WARN|ERROR STALE|ERROR) freshness of airflow\.(\w+)", output
        )
    )
    assert statuses, output[-3000:]
    return result.returncode, statuses


def age_extract(warehouse: Path, table: str, days: float) -> None:
    with duckdb.connect(str(warehouse)) as con:
        updated = con.execute(
            f'UPDATE "{SCHEMA}"._airflow_audit_extracts '
            f"SET extracted_at = now() - INTERVAL {int(days * 24)} HOUR WHERE table_name = ?",
            [table],
        ).fetchall()
        assert updated[0][0] == 1, f"no extract row for {table}"


def test_every_table_is_fresh_after_a_sync(warehouse: Path) -> None:
    code, statuses = freshness(warehouse)
    assert code == 0
    # Every declared source table has a freshness check: read ones and not-selected ones alike.
    assert {"task_instance", "ab_role", "import_error", "log", "sla_miss", "deadline"} <= set(
        statuses
    )
    assert set(statuses.values()) == {"PASS"}, statuses


def test_a_table_the_loader_stopped_reading_goes_stale(warehouse: Path) -> None:
    age_extract(warehouse, "ab_role", days=2)
    code, statuses = freshness(warehouse)
    assert statuses["ab_role"] == "WARN" and code == 0
    assert {t for t, s in statuses.items() if s != "PASS"} == {"ab_role"}

    age_extract(warehouse, "task_instance", days=4)
    code, statuses = freshness(warehouse)
    assert statuses["task_instance"] == "ERROR STALE"
    assert code != 0
    assert {t for t, s in statuses.items() if s != "PASS"} == {"ab_role", "task_instance"}
