"""Table scoping: the Datacoves operator's semantics, and one-sentence refusals."""

from __future__ import annotations

import pytest

from airflow_audit_core.errors import UserError
from tap_airflow_metadb.policy import DEFAULT_TABLES
from tap_airflow_metadb.scoping import parse_table_list, resolve_scope

AIRFLOW_2 = set(DEFAULT_TABLES) | {"log", "log_template", "variable", "alembic_version"}
AIRFLOW_3_NO_FAB = (AIRFLOW_2 - {"task_fail", "ab_permission", "ab_role", "ab_user"}) | {
    "dag_version"
}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("[]", []),
        ('["log","log_template"]', ["log", "log_template"]),
        ("log,log_template", ["log", "log_template"]),
        (" log , log_template ,", ["log", "log_template"]),
        ("log,log", ["log"]),
        (["dag"], ["dag"]),
    ],
)
def test_parse_table_list(raw, expected):
    assert parse_table_list(raw, "AIRFLOW_AUDIT_TABLES") == expected


@pytest.mark.parametrize("raw", ['["log"', '{"a": 1}', "[1, 2]", "dag;drop table x", "dag run"])
def test_parse_table_list_refuses_with_one_sentence(raw):
    with pytest.raises(UserError) as err:
        parse_table_list(raw, "AIRFLOW_AUDIT_TABLES")
    message = str(err.value)
    assert "AIRFLOW_AUDIT_TABLES" in message
    assert "\n" not in message


def test_default_set():
    scope = resolve_scope(None, None, AIRFLOW_2, "2.10.3 schema")
    assert scope.tables == list(DEFAULT_TABLES)
    assert scope.skipped == []


def test_override_replaces_the_default_set():
    scope = resolve_scope(["dag", "log"], None, AIRFLOW_2, "2.10.3 schema")
    assert scope.tables == ["dag", "log"]


def test_empty_list_means_every_table_but_alembic():
    scope = resolve_scope([], None, AIRFLOW_2, "2.10.3 schema")
    assert set(scope.tables) == AIRFLOW_2 - {"alembic_version"}


def test_additional_tables_add_to_the_default_set():
    scope = resolve_scope(None, ["log", "log_template"], AIRFLOW_2, "2.10.3 schema")
    assert scope.tables == [*DEFAULT_TABLES, "log", "log_template"]


def test_additional_tables_add_to_an_override():
    scope = resolve_scope(["dag"], ["log"], AIRFLOW_2, "2.10.3 schema")
    assert scope.tables == ["dag", "log"]


def test_unknown_table_names_it_and_the_version():
    with pytest.raises(UserError) as err:
        resolve_scope(None, ["logs"], AIRFLOW_2, "2.10.3 schema")
    assert "logs" in str(err.value)
    assert "2.10.3" in str(err.value)


def test_named_table_missing_in_this_version_is_an_error():
    with pytest.raises(UserError, match="task_fail"):
        resolve_scope(["task_fail"], None, AIRFLOW_3_NO_FAB, "3.3.0 schema")


def test_default_tables_this_version_lacks_are_skipped_with_a_reason():
    scope = resolve_scope(None, None, AIRFLOW_3_NO_FAB, "3.3.0 schema")
    skipped = dict(scope.skipped)
    assert set(skipped) == {"task_fail", "ab_permission", "ab_role", "ab_user"}
    assert "FAB" in skipped["ab_user"]
    assert set(scope.tables) == set(DEFAULT_TABLES) - set(skipped)


def test_a_default_table_no_airflow_lacks_means_a_wrong_database():
    with pytest.raises(UserError, match="complete Airflow metadata database"):
        resolve_scope(None, None, AIRFLOW_2 - {"dag_run"}, "2.10.3 schema")
