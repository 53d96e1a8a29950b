"""The md5 keys the dbt unit tests expect are worked out here from their given rows, with Python's
hashlib and the surrogate-key rule (transform/macros/airflow_audit_surrogate_key.sql: each part cast
to text, `~` written `~~` and `-` written `~-`, NULL as `~n`, parts joined by `-`), never copied from a
model's output: an expected key that no given row hashes to fails."""

from __future__ import annotations

import hashlib
import itertools
import re
from typing import Any

import duckdb
import pytest
import yaml

from tests.support import ROOT

FILES = (
    ROOT / "transform/models/staging/airflow/_airflow__models.yml",
    ROOT / "transform/models/marts/audit/_audit__models.yml",
)
NULL = "~n"
HEX32 = re.compile(r"^[0-9a-f]{32}$")

# key column -> the natural key it hashes, in order (the models' airflow_audit_surrogate_key calls)
KEYS = {
    "dag_run_key": ("dag_id", "run_id"),
    "task_instance_key": ("dag_id", "task_id", "run_id", "map_index"),
    "task_attempt_key": ("dag_id", "task_id", "run_id", "map_index", "try_label"),
}


def surrogate_key(parts: tuple[Any, ...]) -> str:
    text = "-".join(NULL if p is None else escaped(text_of(p)) for p in parts)
    return hashlib.md5(text.encode()).hexdigest()


def escaped(text: str) -> str:
    return text.replace("~", "~~").replace("-", "~-")


def text_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def given_rows(test: dict) -> list[dict]:
    rows: list[dict] = []
    for given in test.get("given", []):
        if given.get("format") == "sql":
            relation = duckdb.sql(given["rows"])
            rows += [dict(zip(relation.columns, r, strict=True)) for r in relation.fetchall()]
        else:
            rows += list(given.get("rows") or [])
    return rows


def candidates(key: str, given: list[dict], expected: dict) -> set[str]:
    parts = KEYS[key]
    found = set()
    for row in given:
        values = {**row}
        if "try_label" not in parts:
            if all(p in values for p in parts):
                found.add(surrogate_key(tuple(values[p] for p in parts)))
            continue
        base = parts[:-1]
        if not all(p in values for p in base):
            continue
        labels = {
            text_of(r["try_number"]) for r in (*given, expected) if r.get("try_number") is not None
        }
        labels |= {
            f"task_fail-{r[c]}"
            for r in (*given, expected)
            for c in ("task_fail_id", "id")
            if r.get(c) is not None
        }
        for label in labels:
            found.add(surrogate_key((*(values[p] for p in base), label)))
    return found


def unit_tests() -> list[tuple[str, dict]]:
    tests = []
    for path in FILES:
        for test in yaml.safe_load(path.read_text()).get("unit_tests", []):
            tests.append((test["name"], test))
    return tests


TESTS = [
    (name, test)
    for name, test in unit_tests()
    if any(
        HEX32.match(str(row.get(k, "")))
        for row in test.get("expect", {}).get("rows") or []
        for k in KEYS
    )
]


def test_some_unit_tests_expect_keys():
    assert len(TESTS) >= 5, [name for name, _ in TESTS]


@pytest.mark.parametrize(("name", "test"), TESTS, ids=[name for name, _ in TESTS])
def test_every_expected_key_hashes_a_given_row(name, test):
    given = given_rows(test)
    unexplained = []
    for row, key in itertools.product(test["expect"]["rows"], KEYS):
        value = str(row.get(key, ""))
        if HEX32.match(value) and value not in candidates(key, given, row):
            unexplained.append(f"{key}={value} in {row}")
    assert unexplained == []
