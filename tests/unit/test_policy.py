"""The secrets policy covers every secret column of the real Airflow schemas."""

from __future__ import annotations

import csv
from pathlib import Path

from tap_airflow_metadb.catalog import apply_policy, secret_stream_maps
from tap_airflow_metadb.policy import SECRET_COLUMNS, SECRET_FLAGS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "airflow"
VERSIONS = ["2.10.5", "3.3.2"]
# The columns the issue names, with their Airflow 3 equivalents: each must be in the policy.
MUST_NEVER_LEAVE = {
    ("ab_user", "password"),
    ("ab_register_user", "password"),
    ("connection", "password"),
    ("connection", "extra"),
    ("variable", "val"),
    ("session", "data"),
    ("xcom", "value"),
    ("rendered_task_instance_fields", "rendered_fields"),
    ("trigger", "kwargs"),
    ("dag_run", "conf"),
    ("callback_request", "callback_data"),
    ("callback", "data"),
    ("connection_test_request", "password"),
    ("connection_test_request", "extra"),
}


def columns(version: str) -> set[tuple[str, str]]:
    with (FIXTURES / version / "columns.csv").open() as f:
        return {(row["table_name"], row["column_name"]) for row in csv.DictReader(f)}


def test_policy_lists_every_named_secret():
    listed = {(t, c) for t, cols in SECRET_COLUMNS.items() for c in cols}
    assert listed >= MUST_NEVER_LEAVE


def test_every_policy_column_is_real():
    """A typo in the policy would silently protect nothing: each entry exists in a real schema."""
    real = columns("2.10.5") | columns("3.3.2")
    listed = {(t, c) for t, cols in SECRET_COLUMNS.items() for c in cols}
    assert listed - real == set()


def test_flags_name_secret_columns():
    for table, flags in SECRET_FLAGS.items():
        for column in flags.values():
            assert column in SECRET_COLUMNS[table]


def _stream(table: str, cols: list[str]) -> dict:
    return {
        "tap_stream_id": f"public-{table}",
        "table_name": table,
        "schema": {"properties": {c: {"type": ["string", "null"]} for c in cols}},
        "metadata": [
            {"breadcrumb": [], "metadata": {"schema-name": "public", "selected": False}},
            *(
                {"breadcrumb": ["properties", c], "metadata": {"inclusion": "available"}}
                for c in cols
            ),
        ],
    }


def test_apply_policy_removes_secrets_and_keeps_flag_sources():
    catalog = {
        "streams": [
            _stream("connection", ["id", "conn_id", "password", "extra", "host"]),
            _stream("variable", ["id", "key", "val"]),
            _stream("log", ["id", "event"]),
        ]
    }
    shaped = apply_policy(catalog, "public", ["connection", "variable"])
    by_table = {s["table_name"]: s for s in shaped["streams"]}
    assert set(by_table) == {"connection", "variable"}
    assert "val" not in by_table["variable"]["schema"]["properties"]
    assert all(m["breadcrumb"][-1:] != ["val"] for m in by_table["variable"]["metadata"])
    # password/extra stay in the catalog only so the tap can compute has_password/has_extra ...
    assert {"password", "extra"} <= set(by_table["connection"]["schema"]["properties"])
    # ... and the stream map removes them from every record.
    maps = secret_stream_maps("public", ["connection", "variable"])
    assert maps == {
        "public-connection": {
            "has_password": "bool(password)",
            "has_extra": "bool(extra)",
            "password": None,
            "extra": None,
        }
    }
