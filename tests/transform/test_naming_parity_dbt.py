"""dbt and the loader name the raw schema alike, as the real dbt renders it.

Every case and warehouse is checked by rendering each profile's rule with Jinja
(tests/load/test_warehouse_config.py); here the real dbt renders the DuckDB profile and the macro
that reads it (target.schema) for two cases, which proves that stand-in renders as dbt does.
"""

from __future__ import annotations

import pytest

from airflow_audit_core.naming import destination_schema
from tests.support import dbt_renders

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
    rendered = dbt_renders("{{ airflow_audit_raw_schema() }}", env)
    assert rendered == destination_schema(slug, override, "duckdb")
