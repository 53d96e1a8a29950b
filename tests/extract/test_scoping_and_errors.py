"""Table scoping, schema naming and bad input, through `meltano run` against real databases."""

from __future__ import annotations

import re

import duckdb
import psycopg2
import pytest

from tap_airflow_metadb.airflow_versions import REVISIONS
from tap_airflow_metadb.policy import DEFAULT_TABLES
from tests.support import meltano

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration

EL = ("run", "tap-airflow-metadb", "target-airflow-audit-duckdb")


@pytest.fixture(scope="module")
def af2(airflow_db) -> str:
    return airflow_db("2.10.5", "scoping_2_10_5")


@pytest.fixture(scope="module")
def af3_without_fab(airflow_db) -> str:
    url = airflow_db("3.3.2", "scoping_3_3_2_nofab")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "select string_agg(format('%I', table_name), ', ') from information_schema.tables "
            "where table_schema = 'public' and (table_name like 'ab\\_%' or table_name in "
            "('session', 'alembic_version_fab'))"
        )
        cur.execute(f"drop table {cur.fetchone()[0]} cascade")
    conn.close()
    return url


def tables_in(path, schema: str = "airflow-local") -> set[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            t
            for (t,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = ? "
                "and not starts_with(table_name, '_')",
                [schema],
            ).fetchall()
        }


def run(url: str, warehouse, **settings: str):
    env = {"AIRFLOW_AUDIT_SOURCE_URL": url, "AIRFLOW_AUDIT_DUCKDB_PATH": str(warehouse)}
    env.update({f"AIRFLOW_AUDIT_{k.upper()}": v for k, v in settings.items()})
    return meltano(*EL, env=env)


def one_sentence(output: str, pattern: str) -> str:
    """The plugin's error line: present once, a single sentence, no traceback."""
    lines = [line for line in output.splitlines() if re.search(pattern, line)]
    assert lines, output[-3000:]
    assert "Traceback" not in output
    return lines[0]


def test_default_set(af2, tmp_path):
    done = run(af2, tmp_path / "wh.duckdb")
    assert done.returncode == 0, done.stderr[-3000:]
    assert tables_in(tmp_path / "wh.duckdb") == set(DEFAULT_TABLES)


def test_default_tables_missing_in_this_version_are_skipped_with_a_notice(
    af3_without_fab, tmp_path
):
    done = run(af3_without_fab, tmp_path / "wh.duckdb")
    assert done.returncode == 0, done.stderr[-3000:]
    assert tables_in(tmp_path / "wh.duckdb") == set(DEFAULT_TABLES) - {
        "task_fail",
        "ab_permission",
        "ab_role",
        "ab_user",
    }
    assert "skipping default table task_fail" in done.stderr
    assert "skipping default table ab_user" in done.stderr


def test_override_replaces_the_default_set(af2, tmp_path):
    done = run(af2, tmp_path / "wh.duckdb", tables="dag,log")
    assert done.returncode == 0, done.stderr[-3000:]
    assert tables_in(tmp_path / "wh.duckdb") == {"dag", "log"}


def test_additional_tables_as_json(af2, tmp_path):
    done = run(af2, tmp_path / "wh.duckdb", additional_tables='["log","log_template"]')
    assert done.returncode == 0, done.stderr[-3000:]
    assert tables_in(tmp_path / "wh.duckdb") == {*DEFAULT_TABLES, "log", "log_template"}


def test_unknown_table_ends_in_one_sentence_naming_it_and_the_version(af2, tmp_path):
    done = run(af2, tmp_path / "wh.duckdb", additional_tables="logz")
    assert done.returncode != 0
    line = one_sentence(done.stderr, r"Table logz not found")
    assert "Airflow 2.10.3 schema" in line


def test_slug_names_the_schema(af2, tmp_path):
    done = run(af2, tmp_path / "wh.duckdb", tables="dag", env_slug="qwe123")
    assert done.returncode == 0, done.stderr[-3000:]
    assert tables_in(tmp_path / "wh.duckdb", "airflow-qwe123") == {"dag"}
    done = run(af2, tmp_path / "wh.duckdb", tables="dag", destination_schema="airflow_tables")
    assert done.returncode == 0, done.stderr[-3000:]
    assert tables_in(tmp_path / "wh.duckdb", "airflow_tables") == {"dag"}


def test_bad_slug_is_refused_and_loses_nothing(af2, tmp_path):
    warehouse = tmp_path / "wh.duckdb"
    assert run(af2, warehouse, tables="dag").returncode == 0
    done = run(af2, warehouse, tables="dag", env_slug="Prod EU")
    assert done.returncode != 0
    one_sentence(done.stderr, r"slug 'Prod EU' cannot make a schema name")
    assert tables_in(warehouse) == {"dag"}


def test_a_batch_dir_other_users_can_write_to_is_refused_and_loses_nothing(af2, tmp_path):
    """The extractor's files hold Airflow's metadata: never in a directory where another user
    could replace them (a shared /data/tmp, say) before the loader reads them."""
    warehouse = tmp_path / "wh.duckdb"
    assert run(af2, warehouse, tables="dag").returncode == 0
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    done = run(af2, warehouse, tables="dag,dag_run", batch_dir=str(shared))
    assert done.returncode != 0
    line = one_sentence(done.stderr, r"Will not write the sync's files")
    assert "which other users can write to" in line and "AIRFLOW_AUDIT_BATCH_DIR" in line
    assert list(shared.iterdir()) == []
    assert tables_in(warehouse) == {"dag"}


@pytest.mark.parametrize(
    ("mangle", "pattern"),
    [
        (lambda url: re.sub(r"(//[^:/@]+:)[^@]*@", r"\1wrong@", url), r"refused the password"),
        (lambda url: re.sub(r":\d+/", ":1/", url), r"Cannot reach the Airflow database"),
        (lambda url: url.rsplit("/", 1)[0] + "/no_such_db", r"has no database 'no_such_db'"),
        (lambda url: url.rsplit("/", 1)[0] + "/postgres", r"has no Airflow metadata"),
        (lambda url: url.replace("postgresql://", "mysql://"), r"PostgreSQL only"),
    ],
)
def test_bad_source_ends_in_one_sentence(af2, tmp_path, mangle, pattern):
    done = run(mangle(af2), tmp_path / "wh.duckdb")
    assert done.returncode != 0
    one_sentence(done.stderr, pattern)


def test_airflow_older_than_2_4_is_refused(airflow_db, tmp_path):
    url = airflow_db("2.10.5", "too_old", filled=False)
    old = next(rev for rev, version in REVISIONS.items() if version.startswith("2.3."))
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("update alembic_version set version_num = %s", [old])
    conn.close()
    done = run(url, tmp_path / "wh.duckdb")
    assert done.returncode != 0
    one_sentence(done.stderr, r"which airflow-audit does not support")


def test_airflow_sql_alchemy_conn_is_the_fallback_source(af2, tmp_path):
    """On an Airflow worker: no AIRFLOW_AUDIT_SOURCE_URL, Airflow's own setting, psycopg2 form."""
    env = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": af2.replace(
            "postgresql://", "postgresql+psycopg2://"
        ),
        "AIRFLOW_AUDIT_DUCKDB_PATH": str(tmp_path / "wh.duckdb"),
        "AIRFLOW_AUDIT_TABLES": "dag",
    }
    done = meltano(*EL, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert tables_in(tmp_path / "wh.duckdb") == {"dag"}
