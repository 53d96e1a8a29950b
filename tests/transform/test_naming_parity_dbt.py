"""dbt's sources and the loader must name the raw schema alike: the Jinja twin of naming.py.

Every case and warehouse is checked by rendering the macro with Jinja directly
(tests/transform/test_naming_parity.py); here the real dbt renders two of them, which proves that
stand-in renders the macro as dbt does.
"""

from __future__ import annotations

import re

import pytest

from airflow_audit_core.naming import destination_schema
from tests.support import meltano

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("slug", "override"),
    [("prod-eu_1", ""), ("", " raw-x ")],
)
def test_dbt_names_the_raw_schema_as_the_loader_does(tmp_path, slug, override):
    env = {
        "AIRFLOW_AUDIT_ENV_SLUG": slug,
        "AIRFLOW_AUDIT_DESTINATION_SCHEMA": override,
        "AIRFLOW_AUDIT_DUCKDB_PATH": str(tmp_path / "parity.duckdb"),
    }
    done = meltano(
        "invoke",
        "dbt-duckdb",
        "compile",
        "--quiet",
        "--inline",
        "select '[{{ airflow_audit_raw_schema() }}]' as name",
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = re.findall(r"\[([^\]\s]*)\]", done.stdout + done.stderr)
    assert found, done.stdout[-2000:]
    assert found[-1] == destination_schema(slug, override, "duckdb")
