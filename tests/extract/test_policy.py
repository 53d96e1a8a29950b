"""The secrets policy is an allowlist that fails closed, on the real Airflow schemas."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from airflow_audit_core.errors import UserError
from tap_airflow_metadb.catalog import apply_policy
from tap_airflow_metadb.policy import (
    FREE_TEXT,
    LOG_EXTRA,
    OPT_IN_COLUMNS,
    REDACTED_COLUMNS,
    SECRET_COLUMNS,
    SECRET_FLAGS,
    archived_table,
    known_columns,
    parse_allowed_columns,
    plan_table,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "airflow"
VERSIONS = sorted(p.name for p in FIXTURES.iterdir() if (p / "columns.csv").exists())
REVIEWED = Path(__file__).with_name("reviewed_text_columns.txt")
TEXT_LIKE = re.compile(r"text|character|json|bytea|ARRAY|USER-DEFINED")

# The columns the secrets issues name, with their Airflow 3 equivalents: each must never leave.
MUST_NEVER_LEAVE = {
    ("ab_user", "password"),
    ("ab_register_user", "password"),
    ("ab_register_user", "registration_hash"),
    ("connection", "password"),
    ("connection", "extra"),
    ("variable", "val"),
    ("session", "data"),
    ("session", "session_id"),
    ("xcom", "value"),
    ("rendered_task_instance_fields", "rendered_fields"),
    ("rendered_task_instance_fields", "k8s_pod_yaml"),
    ("trigger", "kwargs"),
    ("dag_run", "conf"),
    ("backfill", "dag_run_conf"),
    ("callback_request", "callback_data"),
    ("callback", "data"),
    ("callback", "output"),
    ("deadline_alert", "callback_def"),
    ("connection_test_request", "password"),
    ("connection_test_request", "extra"),
    ("connection_test_request", "token"),
    ("task_instance", "executor_config"),
    ("task_instance", "next_kwargs"),
    ("task_instance_history", "next_kwargs"),
    ("dag_pickle", "pickle"),
    ("hitl_detail", "body"),
    ("hitl_detail", "params_input"),
}
LEFT_OUT_BY_DEFAULT = {
    ("serialized_dag", "data"),
    ("serialized_dag", "data_compressed"),
    ("dag_code", "source_code"),
}


def fixture_columns(version: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    with (FIXTURES / version / "columns.csv").open() as f:
        for row in csv.DictReader(f):
            out.setdefault(row["table_name"], {})[row["column_name"]] = row["data_type"]
    return out


def test_the_inventory_is_the_real_schemas():
    """The tap's inventory is exactly the union of the captured releases' columns."""
    from scripts import update_airflow_inventory

    inventory = (
        ROOT / "extract/tap-airflow-metadb/tap_airflow_metadb/airflow_columns.csv"
    ).read_text()
    assert inventory == update_airflow_inventory.render(), (
        "run .venv/bin/python scripts/update_airflow_inventory.py"
    )
    union = {(t, c) for v in VERSIONS for t, cols in fixture_columns(v).items() for c in cols}
    assert {(t, c) for t, cols in known_columns().items() for c in cols} == union


@pytest.mark.parametrize("version", VERSIONS)
def test_no_named_secret_column_is_read_on_any_release(version):
    for table, columns in fixture_columns(version).items():
        plan = plan_table(table, columns)
        read = {(table, c) for c in plan.read}
        assert not read & MUST_NEVER_LEAVE
        assert not read & LEFT_OUT_BY_DEFAULT
        for column in columns:
            if (table, column) in MUST_NEVER_LEAVE | LEFT_OUT_BY_DEFAULT:
                assert column in dict(plan.left_out)


def test_every_policy_entry_is_a_real_column():
    """A typo in the policy would silently protect nothing."""
    known = known_columns()
    for listing in (SECRET_COLUMNS, OPT_IN_COLUMNS, REDACTED_COLUMNS):
        for table, columns in listing.items():
            assert set(columns) <= known.get(table, frozenset()), table
    for table, flags in SECRET_FLAGS.items():
        for flag, source in flags.items():
            assert source in SECRET_COLUMNS[table]
            assert flag not in known[table]


def test_every_text_column_that_leaves_was_reviewed():
    """Fail closed for new releases: a text-like column the policy lets leave unmasked must be in
    reviewed_text_columns.txt; a release that adds one fails here until someone classifies it
    (secret, opt-in, redacted, or reviewed as safe)."""
    lines = REVIEWED.read_text().splitlines()
    reviewed = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    leaving = set()
    for version in VERSIONS:
        for table, columns in fixture_columns(version).items():
            plan = plan_table(table, columns)
            for column in plan.read:
                if TEXT_LIKE.search(columns[column]) and column not in plan.redact:
                    leaving.add(f"{table}.{column}")
    assert leaving - reviewed == set(), "classify these columns in policy.py"
    assert reviewed - leaving == set(), "remove these from reviewed_text_columns.txt"


def test_unknown_columns_are_left_out_unless_allowed():
    columns = {"id": "integer", "dag_id": "character varying", "api_secret_v2": "text"}
    plan = plan_table("dag_run", columns)
    assert "api_secret_v2" not in plan.read
    assert dict(plan.left_out)["api_secret_v2"].startswith("a column no Airflow release")
    plan = plan_table("dag_run", columns, ["dag_run.api_secret_v2"])
    assert "api_secret_v2" in plan.read


def test_opt_in_columns_arrive_only_when_named():
    columns = {"dag_id": "character varying", "source_code": "text", "fileloc": "text"}
    assert "source_code" not in plan_table("dag_code", columns).read
    assert "source_code" in plan_table("dag_code", columns, ["dag_code.source_code"]).read


def test_a_secret_column_cannot_be_opted_in():
    for name in (
        "connection.password",
        "variable.val",
        "_airflow_deleted__xcom__20250101000000.value",
    ):
        with pytest.raises(UserError) as err:
            parse_allowed_columns([name])
        assert "never leaves" in str(err.value)
    with pytest.raises(UserError):
        parse_allowed_columns(["password"])


def test_archives_follow_the_table_they_archive():
    assert archived_table("_airflow_deleted__log__20250102030405") == "log"
    assert archived_table("_airflow_deleted__task_instance__20250102030405") == "task_instance"
    assert archived_table("_xcom_archive") == "xcom"
    assert archived_table("log") is None
    log = fixture_columns("2.10.5")["log"]
    plan = plan_table("_airflow_deleted__log__20250102030405", log)
    assert plan.read == list(log) and plan.redact == {"extra": LOG_EXTRA}
    xcom = fixture_columns("3.3.2")["xcom"]
    plan = plan_table("_xcom_archive", xcom)
    assert "value" not in plan.read and "key" in plan.read
    conn = fixture_columns("2.10.5")["connection"]
    plan = plan_table("_airflow_deleted__connection__20250102030405", conn)
    assert {"password", "extra"}.isdisjoint(plan.read)
    assert plan.flags == {"has_password": "password", "has_extra": "extra"}


def test_unknown_tables_keep_only_columns_that_cannot_hold_text():
    celery = {
        "id": "integer",
        "task_id": "character varying(155)",
        "status": "character varying(50)",
        "result": "bytea",
        "date_done": "timestamp without time zone",
        "traceback": "text",
        "retries": "integer",
    }
    plan = plan_table("celery_taskmeta", celery)
    assert plan.read == ["id", "date_done", "retries"]
    plan = plan_table("celery_taskmeta", celery, ["celery_taskmeta.status"])
    assert plan.read == ["id", "status", "date_done", "retries"]


def test_free_text_columns_are_masked():
    plan = plan_table("import_error", fixture_columns("2.10.5")["import_error"])
    assert plan.redact == {"stacktrace": FREE_TEXT}
    plan = plan_table("connection", fixture_columns("3.3.2")["connection"])
    assert plan.redact["host"] == FREE_TEXT


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


def test_the_catalog_holds_no_secret_and_the_flags():
    types = {
        "id": "integer",
        "conn_id": "text",
        "password": "text",
        "extra": "text",
        "host": "text",
    }
    catalog = {
        "streams": [
            _stream("connection", list(types)),
            _stream("variable", ["id", "key", "val"]),
            _stream("log", ["id", "event"]),
        ]
    }
    plans = {
        "connection": plan_table("connection", types),
        "variable": plan_table("variable", {"id": "integer", "key": "text", "val": "text"}),
    }
    shaped = apply_policy(catalog, "public", plans)
    by_table = {s["table_name"]: s for s in shaped["streams"]}
    assert set(by_table) == {"connection", "variable"}
    conn = by_table["connection"]
    sent = {
        "id",
        "conn_id",
        "host",
        "has_password",
        "has_extra",
        "password_fingerprint",
        "extra_fingerprint",
    }
    assert set(conn["schema"]["properties"]) == sent
    crumbs = {m["breadcrumb"][-1] for m in conn["metadata"] if m["breadcrumb"]}
    assert crumbs == sent
    assert set(by_table["variable"]["schema"]["properties"]) == {"id", "key", "val_fingerprint"}


def test_a_new_fingerprint_key_reads_the_table_again():
    types = fixture_columns("2.10.5")["variable"]
    plan = plan_table("variable", types)
    assert plan.fingerprints == {"val_fingerprint": "val"} and "val" not in plan.read
    before = plan.fingerprint
    plan.fingerprint_key_id = "a"
    keyed = plan.fingerprint
    plan.fingerprint_key_id = "b"
    assert len({before, keyed, plan.fingerprint}) == 3
    # a table without fingerprints keeps the fingerprint it had before keys existed
    log = plan_table("log", fixture_columns("2.10.5")["log"])
    unkeyed = log.fingerprint
    log.fingerprint_key_id = "a"
    assert log.fingerprint == unkeyed


def test_the_natural_key_is_sent_only_where_airflow_3_rekeyed_the_table():
    columns = {c: "character varying" for c in ("id", "dag_id", "task_id", "run_id")}
    columns["map_index"] = "integer"
    two = plan_table(
        "task_instance", columns, primary_key=("dag_id", "task_id", "run_id", "map_index")
    )
    three = plan_table("task_instance", columns, primary_key=("id",))
    assert two.natural_key == []
    assert three.natural_key == ["dag_id", "task_id", "run_id", "map_index"]
    assert three.to_config()["natural_key"] == three.natural_key
