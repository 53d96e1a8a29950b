"""dbt's generic data tests as the project runs them on DuckDB (macros/airflow_audit_data_tests.sql):
`unique` in two passes, which must find exactly what dbt's own finds.  The real dbt, in the dbt
plugin's venv, with the project and the DuckDB profile, runs both on the same rows."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections import Counter

import pytest

from tests.support import ROOT

# dbt in its plugin's venv: not in `make test-unit`.
pytestmark = pytest.mark.integration

DBT_PYTHON = ROOT / ".meltano/transformers/dbt-duckdb/venv/bin/python"

# 20,000 rows: unique hashes like the project's keys, values held exactly twice, values held about a
# hundred times, nulls (which `unique` ignores), and a value differing from a held one only in case and
# in trailing space.  value_of is the same rule in Python.
ROWS = """(
    select case
        when i % 97 = 0 then null
        when i between 100 and 139 then 'pair-' || (i % 20)
        when i % 10 < 3 then 'held-' || (i % 61)
        when i = 5 then 'Held-1 '
        else md5(cast(i as varchar))
    end as k
    from range(20000) as t (i)
) as rows_under_test"""


def value_of(i: int) -> str | None:
    if i % 97 == 0:
        return None
    if 100 <= i <= 139:
        return f"pair-{i % 20}"
    if i % 10 < 3:
        return f"held-{i % 61}"
    return "Held-1 " if i == 5 else hashlib.md5(str(i).encode()).hexdigest()


# Runs `dbt show` (the real dbt, the project's profile) on each Jinja query and prints the compiled
# SQL and the rows, as JSON.
SHOW = """
import json, sys
from dbt.cli.main import dbtRunner
out = {}
for name, query in json.loads(sys.argv[1]).items():
    done = dbtRunner().invoke(["show", "--quiet", "--inline", query, "--limit", "-1"])
    assert done.success, done.exception
    node = done.result.results[0]
    out[name] = {"sql": node.node.compiled_code,
                 "rows": sorted([list(r) for r in node.agate_table.rows], key=str)}
print(json.dumps(out, default=str))
"""


def dbt_show(queries: dict[str, str], tmp_path) -> dict[str, dict]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_AUDIT_", "DBT_"))},
        "MELTANO_PROJECT_ROOT": str(ROOT),
        "DBT_PROJECT_DIR": str(ROOT / "transform"),
        "DBT_PROFILES_DIR": str(ROOT / "transform/profiles/duckdb"),
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
        "AIRFLOW_AUDIT_DUCKDB_PATH": str(tmp_path / "data_tests.duckdb"),
    }
    done = subprocess.run(
        [str(DBT_PYTHON), "-c", SHOW, json.dumps(queries)],
        cwd=ROOT / "transform",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_unique_on_duckdb_is_the_two_pass_test_and_finds_what_dbts_own_finds(tmp_path):
    shown = dbt_show(
        {
            "project": f"{{{{ adapter.dispatch('test_unique', 'dbt')({ROWS!r}, 'k') }}}}",
            "dbt": f"{{{{ dbt.default__test_unique({ROWS!r}, 'k') }}}}",
        },
        tmp_path,
    )
    # dbt dispatches its `unique` test on DuckDB to the project's macro
    assert "colliding_hashes" in shown["project"]["sql"]
    assert "colliding_hashes" not in shown["dbt"]["sql"]
    found = {value: count for value, count in shown["project"]["rows"]}
    assert shown["project"]["rows"] == shown["dbt"]["rows"]
    # what both find: every value held more than once, with its count, nothing else
    held = Counter(v for v in map(value_of, range(20000)) if v is not None)
    assert found == {value: count for value, count in held.items() if count > 1}
    assert len(found) == 81 and found["pair-0"] == 2


# 1,000 rows, three columns: `a` null every 7th row, `b` never, `c` in rows 500 to 509.
NULLS = """(
    select
        case when i % 7 = 0 then null else i end as a,
        i as b,
        case when i between 500 and 509 then null else 'x' end as c
    from range(1000) as t (i)
) as rows_under_test"""


def test_not_null_columns_finds_per_column_what_dbts_not_null_finds(tmp_path):
    shown = dbt_show(
        {
            "project": f"{{{{ test_not_null_columns({NULLS!r}, ['a', 'b', 'c']) }}}}",
            **{
                column: f"{{{{ dbt.default__test_not_null({NULLS!r}, {column!r}) }}}}"
                for column in ("a", "b", "c")
            },
        },
        tmp_path,
    )
    # one row per column holding nulls, with how many: the rows dbt's own test returns for it
    found = {column: int(count) for column, count in shown["project"]["rows"]}
    assert found == {
        column: len(shown[column]["rows"]) for column in ("a", "b", "c") if shown[column]["rows"]
    }
    assert found == {"a": 143, "c": 10}
