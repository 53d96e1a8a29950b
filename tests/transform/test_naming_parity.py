"""dbt's raw-schema macro names the schema exactly as the loader does (naming.py), on every warehouse.

The macro (transform/macros/airflow_audit_raw_schema.sql) is rendered with Jinja directly, with dbt's
`env_var`, `target` and `return` stood in for; tests/transform/test_naming_parity_dbt.py renders it once
through the real dbt, which proves this stand-in renders it as dbt does.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from airflow_audit_core.naming import destination_schema

MACRO = (
    Path(__file__).resolve().parents[2] / "transform" / "macros" / "airflow_audit_raw_schema.sql"
)


class _Returned(Exception):
    def __init__(self, value: str) -> None:
        self.value = value


def render(slug: str, override: str, warehouse: str) -> str:
    environ = {"AIRFLOW_AUDIT_ENV_SLUG": slug, "AIRFLOW_AUDIT_DESTINATION_SCHEMA": override}

    def returned(value: str) -> str:
        raise _Returned(value)

    env = jinja2.Environment(extensions=["jinja2.ext.do"])
    template = env.from_string(MACRO.read_text() + "{{ airflow_audit_raw_schema() }}")
    try:
        return template.render(
            env_var=lambda name, default="": environ.get(name, default),
            target={"type": warehouse},
            **{"return": returned},
        ).strip()
    except _Returned as done:
        return done.value


@pytest.mark.parametrize("warehouse", ["duckdb", "snowflake", "bigquery", "redshift"])
@pytest.mark.parametrize(
    ("slug", "override"),
    [
        ("", ""),
        ("qwe123", ""),
        ("prod-eu_1", ""),
        ("qwe123", "airflow_tables"),
        ("", " raw-x "),
        (" spaced ", ""),
    ],
)
def test_dbt_names_the_raw_schema_as_the_loader_does(slug, override, warehouse):
    assert render(slug, override, warehouse) == destination_schema(slug, override, warehouse)
