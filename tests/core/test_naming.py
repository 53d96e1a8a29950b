"""Slug to schema naming, per warehouse, and refusal of names no warehouse takes."""

from __future__ import annotations

import pytest

from airflow_audit_core.errors import UserError
from airflow_audit_core.naming import MAX_SCHEMA_LENGTH, destination_schema


@pytest.mark.parametrize(
    ("slug", "override", "warehouse", "expected"),
    [
        (None, None, "duckdb", "airflow-local"),
        ("", "", "duckdb", "airflow-local"),
        ("qwe123", None, "duckdb", "airflow-qwe123"),
        ("qwe123", None, "snowflake", "AIRFLOW_QWE123"),
        ("qwe123", "raw-airflow", "snowflake", "RAW_AIRFLOW"),
        ("qwe123", None, "redshift", "airflow-qwe123"),
        ("qwe123", None, "bigquery", "airflow_qwe123"),
        ("prod-eu_1", None, "bigquery", "airflow_prod_eu_1"),
        ("qwe123", "raw_airflow", "duckdb", "raw_airflow"),
        ("qwe123", "airflow-tables", "duckdb", "airflow-tables"),
        ("qwe123", "airflow-tables", "bigquery", "airflow_tables"),
    ],
)
def test_destination_schema(slug, override, warehouse, expected):
    assert destination_schema(slug, override, warehouse) == expected


@pytest.mark.parametrize(
    "slug",
    ["QWE123", "qwe 123", "qwe.123", "-qwe", "qwe-", "qwe;drop", 'q"x', "é", "x" * 60],
)
def test_bad_slug_is_refused_in_one_sentence(slug):
    with pytest.raises(UserError) as err:
        destination_schema(slug, None, "duckdb")
    message = str(err.value)
    assert repr(slug) in message
    assert "\n" not in message


@pytest.mark.parametrize("override", ["1abc", "a b", 'x"y', "a.b", "x" * (MAX_SCHEMA_LENGTH + 1)])
def test_bad_override_is_refused(override):
    with pytest.raises(UserError, match="not a usable schema name"):
        destination_schema("local", override, "duckdb")


def test_longest_slug_that_fits():
    slug = "a" * (MAX_SCHEMA_LENGTH - len("airflow-"))
    assert len(destination_schema(slug, None, "duckdb")) == MAX_SCHEMA_LENGTH


def test_unknown_warehouse():
    with pytest.raises(UserError, match="Unknown warehouse"):
        destination_schema("local", None, "oracle")
