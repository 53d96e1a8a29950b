"""Snowflake, Redshift and BigQuery, as far as this machine can take them (none is reachable).

* One SQL, four warehouses: the dbt project is compiled with dbt-snowflake, dbt-redshift and
  dbt-bigquery, without a connection (var airflow_audit_offline_compile), and every compiled model
  must be SQL of that warehouse: it parses in sqlglot's dialect, calls no function sqlglot does not
  know there (DuckDB's epoch_ms, Snowflake's iff ...), and uses no construct the warehouse lacks
  (`::` on BigQuery, IS DISTINCT FROM on Redshift).  The checker itself is shown to catch such SQL.
  The same for a partial build (every run after the first), whose SQL the macros write only once
  dbt has asked the warehouse what the marts hold: compiled with test-only macros that answer for
  it, every model and every hook's statement.
* Snowflake end to end on fakesnow (Snowflake SQL executed by DuckDB): the real tap, the resolved
  Meltano configuration, the shim with the real target-airflow-audit-snowflake, then dbt-snowflake's `dbt build`.
  fakesnow patches the Snowflake driver in-process, and Meltano strips PYTHONPATH from plugin
  processes, so the plugin executables are run directly with the configuration `meltano config
  print` resolves.  Mirror, archive and an interrupted full read are checked row by row.
* BigQuery: the shim runs the real target-airflow-audit-bigquery's code in its venv up to the first network call:
  the hooks it overrides and the full-read SQL (parsed in BigQuery's dialect).
* Redshift has the project's own loader, tested end to end on PostgreSQL and an S3 server in
  tests/load/test_redshift.py; here only its dbt side (compile and dialect) is checked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel
from sqlglot.tokens import TokenType

from airflow_audit_loader.bigquery.target import latest_stamp_sql
from tests.fixtures.airflow_history import NON_SECRET_MARKERS, PLANTED_SECRETS
from tests.support import BIN, ROOT, encoded_forms, meltano, source_query
from tests.support.sync import until_second_activate_version

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration

WAREHOUSES = ("snowflake", "redshift", "bigquery")
# Warehouses loaded by a shim around a third-party target (Redshift's loader is the project's own).
LOADERS = ("snowflake", "bigquery")
PLUGINS = ROOT / ".meltano"
# The emulator and what it needs, laid over the plugin venvs with PYTHONPATH (never installed in
# them).  fakesnow 0.12 is the first with CREATE FILE FORMAT; its DuckDB file is fakesnow's own.
FAKESNOW = ("fakesnow==0.12.1", "sqlglot==30.22.0", "duckdb==2.0.0", "pyarrow==26.0.1")
DEFAULT_TABLES = ("ab_permission", "ab_role", "ab_user", "dag", "dag_run", "dag_tag")
DEFAULT_TABLES += ("import_error", "job", "task_fail", "task_instance")


def plugin_bin(kind: str, name: str, executable: str) -> Path:
    path = PLUGINS / kind / name / "venv" / "bin" / executable
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make install` (meltano install) first.")
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a plugin process: no AIRFLOW_AUDIT_* from outside, no telemetry."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW_AUDIT_", "AIRFLOW__", "DBT_", "PYTHONPATH", "VIRTUAL_ENV"))
    }
    env.update(DBT_SEND_ANONYMOUS_USAGE_STATS="false", DO_NOT_TRACK="1")
    env.update(extra)
    return env


# ---- portability checker ---------------------------------------------------------------------------

# Constructs sqlglot parses in every dialect but a warehouse does not have.
MISSING_CONSTRUCTS: dict[str, dict[type[exp.Expression], str]] = {
    "redshift": {
        exp.NullSafeEQ: "IS NOT DISTINCT FROM",
        exp.NullSafeNEQ: "IS DISTINCT FROM",
    },
    "snowflake": {},
    "bigquery": {},
}


def portability_problems(sql: str, dialect: str) -> list[str]:
    """Why `sql` is not `dialect`'s SQL; empty when it is."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect, error_level=ErrorLevel.RAISE)
    except sqlglot.errors.SqlglotError as error:
        return [f"does not parse: {str(error).splitlines()[0]}"]
    problems = [f"unknown function {f.name}()" for f in tree.find_all(exp.Anonymous)]
    if dialect == "bigquery":
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
        if any(token.token_type == TokenType.DCOLON for token in tokens):
            problems.append("a `::` cast")
    for construct, name in MISSING_CONSTRUCTS[dialect].items():
        if tree.find(construct):
            problems.append(name)
    return sorted(set(problems))


@pytest.mark.parametrize(
    ("sql", "dialect", "problem"),
    [
        ("select epoch_ms(started_at) from t", "snowflake", "unknown function epoch_ms()"),
        ("select timezone('UTC', started_at) from t", "redshift", "unknown function timezone()"),
        ("select list_value(1, 2) from t", "bigquery", "unknown function list_value()"),
        ("select iff(a > 1, 1, 0) from t", "redshift", "unknown function iff()"),
        ("select iff(a > 1, 1, 0) from t", "bigquery", "unknown function iff()"),
        ("select div0(a, b) from t", "bigquery", "unknown function div0()"),
        ("select getdate()", "bigquery", "unknown function getdate()"),
        ("select started_at::date from t", "bigquery", "a `::` cast"),
        ("select a from t where a is distinct from b", "redshift", "IS DISTINCT FROM"),
        ("select `a` from `p.d.t`", "redshift", "does not parse"),
    ],
)
def test_the_checker_catches_non_portable_sql(sql, dialect, problem):
    assert any(p.startswith(problem) for p in portability_problems(sql, dialect))


@pytest.mark.parametrize("dialect", WAREHOUSES)
def test_the_checker_passes_portable_sql(dialect):
    sql = (
        "with runs as (select dag_id, cast(start_date as timestamp) as started_at from t) "
        "select dag_id, count(*) as n, max(started_at), coalesce(min(dag_id), 'x') from runs "
        "group by dag_id"
    )
    assert portability_problems(sql, dialect) == []


# ---- One SQL, four warehouses: offline compile ---------------------------------------------------------

OFFLINE_INSPECT = """    {%- if var('airflow_audit_offline_compile', false) -%}
        {{- return({'relation': source_relation, 'columns': {}, 'offline': true}) -}}
    {%- endif -%}

"""
OFFLINE_COLUMN = """    {%- if column is none and raw.get('offline') -%}
        {%- set column = airflow_audit_loaded_column(column_name, kind) -%}
    {%- endif -%}
"""


def copy_dbt_project(destination: Path) -> Path:
    """transform/ without its build output, with offline compile support.

    docs/warehouses.md describes the change to macros/airflow_audit_source.sql that makes
    `--vars '{airflow_audit_offline_compile: true}'` take every source table and column as
    present; until the project has it, it is applied to this copy.
    """
    project = destination / "transform"
    shutil.copytree(
        ROOT / "transform", project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    macro = project / "macros" / "airflow_audit_source.sql"
    text = macro.read_text()
    if "airflow_audit_offline_compile" not in text:
        inspect_anchor = "    {%- set found = adapter.get_relation("
        column_anchor = "    {%- set column = raw.columns.get(column_name | lower) -%}\n"
        assert inspect_anchor in text and column_anchor in text, "airflow_audit_source.sql changed"
        text = text.replace(inspect_anchor, OFFLINE_INSPECT + inspect_anchor, 1)
        text = text.replace(column_anchor, column_anchor + OFFLINE_COLUMN, 1)
        macro.write_text(text)
    return project


def dummy_service_account(directory: Path) -> str:
    """A service-account key that google-auth accepts without a network call (it is never used)."""
    key = subprocess.run(
        ["openssl", "genrsa", "2048"], capture_output=True, text=True, check=True
    ).stdout
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "airflow-audit-offline",
            "private_key_id": "0",
            "private_key": key,
            "client_email": "offline@airflow-audit-offline.iam.gserviceaccount.com",
            "client_id": "0",
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    )


OFFLINE_CREDENTIALS = {
    "snowflake": {
        "AIRFLOW_AUDIT_SNOWFLAKE_ACCOUNT": "offline-account",
        "AIRFLOW_AUDIT_SNOWFLAKE_USER": "offline",
        "AIRFLOW_AUDIT_SNOWFLAKE_PASSWORD": "offline",
        "AIRFLOW_AUDIT_SNOWFLAKE_DATABASE": "AIRFLOW_AUDIT",
    },
    "redshift": {
        "AIRFLOW_AUDIT_REDSHIFT_HOST": "offline.invalid",
        "AIRFLOW_AUDIT_REDSHIFT_USER": "offline",
        "AIRFLOW_AUDIT_REDSHIFT_PASSWORD": "offline",
        "AIRFLOW_AUDIT_REDSHIFT_DATABASE": "analytics",
    },
    "bigquery": {"AIRFLOW_AUDIT_BIGQUERY_PROJECT": "airflow-audit-offline"},
}


def offline_compile(
    warehouse: str, workdir: Path, project: Path, variables: dict[str, Any]
) -> dict[str, str]:
    """{model file name: compiled SQL} from `dbt compile` of `project` without a connection."""
    env = clean_env(HOME=str(workdir), **OFFLINE_CREDENTIALS[warehouse])
    # A destination schema that every warehouse's rule leaves as it is (see docs/warehouses.md).
    env["AIRFLOW_AUDIT_DESTINATION_SCHEMA"] = "AIRFLOW_AUDIT_CI"
    if warehouse == "bigquery":
        env["AIRFLOW_AUDIT_BIGQUERY_CREDENTIALS_JSON"] = dummy_service_account(workdir)
    dbt = plugin_bin("transformers", f"dbt-{warehouse}", "dbt")
    result = subprocess.run(
        [
            str(dbt),
            "compile",
            "--no-populate-cache",
            "--select",
            "resource_type:model",
            "--vars",
            json.dumps({"airflow_audit_offline_compile": True, **variables}),
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(ROOT / "transform" / "profiles" / warehouse),
            "--target-path",
            str(workdir / "target"),
            "--log-path",
            str(workdir / "logs"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    models = workdir / "target" / "compiled" / "airflow_audit" / "models"
    return {
        path.name: path.read_text()
        for path in models.rglob("*.sql")
        if not path.parent.name.endswith(".yml")  # compiled data tests live under <file>.yml/
    }


@pytest.fixture(scope="module", params=WAREHOUSES)
def compiled(request, tmp_path_factory) -> tuple[str, dict[str, str]]:
    """warehouse, {model file name: compiled SQL} from an offline `dbt compile`."""
    warehouse = request.param
    workdir = tmp_path_factory.mktemp(f"compile-{warehouse}")
    return warehouse, offline_compile(warehouse, workdir, copy_dbt_project(workdir), {})


def test_every_model_compiles_offline(compiled):
    warehouse, sql = compiled
    expected = {p.name for p in (ROOT / "transform" / "models").rglob("*.sql")}
    assert set(sql) == expected, f"{warehouse}: models missing from the compiled output"


def test_every_compiled_model_is_the_warehouses_sql(compiled):
    warehouse, sql = compiled
    problems = {
        name: found
        for name, text in sql.items()
        if (found := portability_problems(text, warehouse))
    }
    assert problems == {}, f"not {warehouse} SQL: {problems}"


def test_zoned_timestamps_are_converted_to_utc(compiled):
    warehouse, sql = compiled
    staging = sql["stg_airflow__dag_runs.sql"]
    expected = {
        "snowflake": "convert_timezone('UTC', \"START_DATE\")",
        "redshift": "(\"start_date\" at time zone 'UTC')",
        "bigquery": "cast(`start_date` as timestamp)",
    }[warehouse]
    assert expected in staging


# ---- The same for a partial build (what each run after the first executes) ----------------------------

# A partial build's SQL is written by macros at build time, after dbt asked the warehouse what the marts
# hold; no offline compile reaches it. For this compile only, the copy of the project holds these
# instead of the warehouse: every incremental model exists, every count a build asks for is 1 (of
# 1,000,000 rows: small enough for a partial build), nothing is held back; the hooks' SQL is written
# into a model of its own (zz_offline_hooks), between HOOK_MARK lines.
OFFLINE_PARTIAL_MACROS = """
{% macro is_incremental() -%}
    {{- return(model.config.materialized == 'incremental') -}}
{%- endmacro %}

{% macro run_query(sql) -%}
    {{- return({'rows': [[1, 1000000]], 'columns': [{'count': 0}]}) -}}
{%- endmacro %}

{% macro airflow_audit_offline_relation(database, schema, identifier) -%}
    {{- return(api.Relation.create(database=database, schema=schema, identifier=identifier)) -}}
{%- endmacro %}

{% macro airflow_audit_offline_columns(relation) -%}
    {{- return([]) -}}
{%- endmacro %}
"""
HOOK_MARK = "-- airflow-audit offline hook"
WITHOUT_WAREHOUSE = "var('airflow_audit_offline_compile', false))"
PARTIAL_VARS_TABLES = re.compile(r"^      - name: (\w+)$", re.M)


def model_hooks() -> list[str]:
    """The Jinja of every hook the models declare, and of the hooks airflow_audit_partitioned gives."""
    hooks: list[str] = []
    for path in sorted((ROOT / "transform" / "models").rglob("*.sql")):
        text = path.read_text()
        hooks += re.findall(r"""['"](\{\{ airflow_audit_\w+\(.*?\) \}\})['"]""", text)
        for partitions in re.findall(r"airflow_audit_partitioned\(\s*'(\w+)'", text):
            hooks.append(f"{{{{ airflow_audit_delete_partitions({partitions}()) }}}}")
            if "keep_replaced_attempts=true" in text:
                hooks.append(f"{{{{ airflow_audit_keep_replaced_attempts({partitions}()) }}}}")
            for day in re.findall(r"keep_replaced_days='(\w+)'", text):
                hooks.append(
                    f"{{{{ airflow_audit_keep_replaced_dag_days({partitions}(), '{day}') }}}}"
                )
    return list(dict.fromkeys(hooks))


def copy_dbt_project_for_a_partial_build(destination: Path) -> Path:
    """copy_dbt_project, with OFFLINE_PARTIAL_MACROS standing in for the warehouse."""
    project = copy_dbt_project(destination)
    incremental = project / "macros" / "airflow_audit_incremental.sql"
    text = incremental.read_text()
    assert text.count(WITHOUT_WAREHOUSE) == 1, "airflow_audit_without_warehouse changed"
    incremental.write_text(
        text.replace(
            WITHOUT_WAREHOUSE,
            "(var('airflow_audit_offline_compile', false) "
            "and not var('airflow_audit_offline_partial', false)))",
        )
    )
    for path in [
        *project.joinpath("macros").rglob("*.sql"),
        *project.joinpath("models").rglob("*.sql"),
    ]:
        text = path.read_text()
        text = text.replace("adapter.get_relation(", "airflow_audit_offline_relation(")
        text = text.replace("adapter.get_columns_in_relation(", "airflow_audit_offline_columns(")
        path.write_text(text)
    (project / "macros" / "zz_offline_partial.sql").write_text(OFFLINE_PARTIAL_MACROS)
    hooks = "".join(f"\n{HOOK_MARK}\n{hook}\n" for hook in model_hooks())
    (project / "models" / "zz_offline_hooks.sql").write_text(
        "{{ config(materialized='incremental') }}\nselect 1 as offline_hooks\n" + hooks
    )
    return project


@pytest.fixture(scope="module", params=WAREHOUSES)
def compiled_partial(request, tmp_path_factory) -> tuple[str, dict[str, str]]:
    """warehouse, {model file name: compiled SQL} of a partial build after every raw table changed,
    the hooks as zz_offline_hooks.sql."""
    warehouse = request.param
    workdir = tmp_path_factory.mktemp(f"compile-partial-{warehouse}")
    project = copy_dbt_project_for_a_partial_build(workdir)
    sources = (ROOT / "transform/models/staging/airflow/_airflow__sources.yml").read_text()
    changed = {"loaded_after": "2026-01-01 00:00:00", "deleted_after": "2026-01-01 00:00:00"}
    since = {table: changed for table in PARTIAL_VARS_TABLES.findall(sources)}
    assert {"task_instance", "dag_run", "log"} <= set(since)
    variables = {"airflow_audit_offline_partial": True, "airflow_audit_since": since}
    return warehouse, offline_compile(warehouse, workdir, project, variables)


def test_a_partial_build_compiles_to_the_warehouses_sql(compiled_partial):
    """Every model (the incremental marts' bodies filtered to what changed) and each hook's statement,
    as a partial build writes them."""
    warehouse, sql = compiled_partial
    statements = {name: text for name, text in sql.items() if name != "zz_offline_hooks.sql"}
    hooks = [h.strip() for h in sql["zz_offline_hooks.sql"].split(HOOK_MARK)[1:]]
    statements.update({f"hook {i}: {h[:60]}": h for i, h in enumerate(hooks) if h})
    problems = {
        name: found
        for name, text in statements.items()
        if (found := portability_problems(text, warehouse))
    }
    assert problems == {}, f"not {warehouse} SQL: {problems}"
    # the compile is a partial build's: the touched task instances are looked for, and deleted
    partial = sql["fct_task_instances.sql"]
    assert "loaded_at > cast('2026-01-01 00:00:00'" in partial.replace('"', "").replace("`", "")
    assert len(hooks) == len(model_hooks()) >= 16, hooks
    # every hook writes a statement, but the one that sets a DuckDB setting under a memory limit
    # (airflow_audit_out_of_core): nothing on these warehouses
    duckdb_only = [bool(re.match(r"\{\{ airflow_audit_out_of_core\(", h)) for h in model_hooks()]
    assert sum(duckdb_only) == 2
    assert [bool(hook) for hook in hooks] == [not only for only in duckdb_only], hooks
    # one delete per partitions macro (task instance, DAG run, DAG run by its work, audit-log row, DAG,
    # DAG day, DAG due day, pool hour), the two anomaly marts', and the two reports' of what
    # fct_task_attempts (and fct_dag_runs) replaced
    assert sum(h.startswith("delete from") for h in hooks) == 12, hooks
    # what fct_task_attempts replaced and the attempts still running, kept for the pool report, and
    # the days of what it and fct_dag_runs replaced, for the daily health report
    assert sum(h.startswith("insert into") for h in hooks) == 4, hooks


# ---- Snowflake end to end on fakesnow ------------------------------------------------------------------

SITECUSTOMIZE = r'''
"""Test-only (tests/load/test_warehouses.py): Snowflake clients talk to fakesnow."""

import atexit
import gzip
import json
import os
import re
import shutil
import threading
import uuid

_DB = os.environ.get("AIRFLOW_AUDIT_FAKESNOW_DB")


def _install() -> None:
    try:
        import snowflake.connector  # noqa: F401
    except ImportError:
        return
    import fakesnow
    import fakesnow.cursor as fake_cursor

    try:
        from snowflake.sqlalchemy.snowdialect import SnowflakeDialect
    except ImportError:
        pass
    else:
        # fakesnow answers CURRENT_VERSION() with DuckDB's "v1.x", which the dialect cannot parse.
        SnowflakeDialect._get_server_version_info = lambda self, connection: (9, 0, 0)

    # target-airflow-audit-snowflake PUTs batch files to the user stage (@~) and MERGEs from a SELECT on the
    # staged files; fakesnow has neither.  Emulated: the files a PUT names are remembered, and the
    # MERGE reads them through a table filled with DuckDB's JSON reader.  The rest is fakesnow's.
    staged = {}
    lock = threading.Lock()
    serial = threading.RLock()
    merge_from_stage = re.compile(
        r"^merge into (?P<table>\S+) d using \(select (?P<select>.*?) from "
        r"'@~/(?P<path>[^']*)'\(file_format => [^)]*\) (?P<dedup>QUALIFY .*?)\) s (?P<rest>on .*)$",
        re.S | re.I,
    )
    delete_using_stage = re.compile(
        r"^delete from (?P<table>\S+) d using \(select distinct (?P<select>.*?) from "
        r"'@~/(?P<path>[^']*)'\(file_format => [^)]*\)\) s (?P<rest>where .*)$",
        re.S | re.I,
    )
    original = fake_cursor.FakeSnowflakeCursor.execute

    def execute(self, command, params=None, *args, **kwargs):
        # The target drains streams in parallel threads; fakesnow shares one DuckDB connection.
        with serial:
            return emulated(self, command, params, *args, **kwargs)

    def emulated(self, command, params=None, *args, **kwargs):
        # AUTOINCREMENT on the key: fakesnow needs a current schema for its sequence.
        text = re.sub(r"\s+AUTOINCREMENT\b", "", command).strip()
        # dbt-snowflake stages a snapshot's changes in a temporary table named in the snapshot's
        # schema; fakesnow's DuckDB allows temporary tables only in its "temp" catalog.  A plain
        # table instead, on the emulator only (the temporary table stays unverified).
        text = re.sub(
            r"^create\s+(or\s+replace\s+)?temporary\s+table\b", r"create \1table", text, flags=re.I
        )
        # dbt-snowflake's snapshot MERGE (close changed versions, insert new ones): fakesnow's MERGE
        # writes its own bookkeeping database inside dbt's transaction, which DuckDB refuses.  The
        # same two steps as an UPDATE and an INSERT, on the emulator only (the MERGE stays
        # unverified).
        snapshot_merge = re.match(
            r"^merge into (?P<dest>\S+) as DBT_INTERNAL_DEST\s+using (?P<src>\S+) as "
            r"DBT_INTERNAL_SOURCE\s+on DBT_INTERNAL_SOURCE\.dbt_scd_id = DBT_INTERNAL_DEST\.dbt_scd_id"
            r".*?then update\s+set dbt_valid_to = DBT_INTERNAL_SOURCE\.dbt_valid_to"
            r".*?then insert\s*\((?P<cols>[^)]*)\)",
            text,
            re.I | re.S,
        )
        if snapshot_merge:
            dest, src, cols = snapshot_merge["dest"], snapshot_merge["src"], snapshot_merge["cols"]
            original(
                self,
                f"update {dest} set dbt_valid_to = s.dbt_valid_to from {src} s "
                f"where s.dbt_scd_id = {dest}.dbt_scd_id and {dest}.dbt_valid_to is null "
                "and s.dbt_change_type in ('update', 'delete')",
            )
            return original(
                self,
                f"insert into {dest} ({cols}) select {cols} from {src} s "
                "where s.dbt_change_type = 'insert' "
                f"and s.dbt_scd_id not in (select dbt_scd_id from {dest})",
            )
        put = re.match(r"^put\s+%\(file_uri\)s\s+'@~/([^']*)'$", text, re.I)
        if put and isinstance(params, dict):
            with lock:
                staged.setdefault(put[1], []).append(params["file_uri"].removeprefix("file://"))
            return original(self, "SELECT 'UPLOADED' AS status")
        if re.match(r"^(create or replace|drop) file format\b", text, re.I):
            return original(self, "SELECT 'OK' AS status")
        if re.match(r"^remove\s+'@~/", text, re.I):
            return original(self, "SELECT 'OK' AS status")
        delete = delete_using_stage.match(text)
        if delete:
            # the loader's replacement of rows stored under an old key (snowflake/rekey.py)
            batch = stage_table(self, delete["path"], delete["select"], only_selected=True)
            names = ", ".join(a for _, a in re.findall(r"::(\S+) as (\S+?)(?:,|$)", delete["select"]))
            result = original(
                self,
                f"delete from {delete['table']} d using (select distinct {names} from {batch}) s "
                f"{delete['rest']}",
            )
            self._duck_conn.execute(f"DROP TABLE IF EXISTS {batch}")
            return result
        match = merge_from_stage.match(text)
        if not match:
            return original(self, text, params, *args, **kwargs)
        batch = stage_table(self, match["path"], match["select"])
        dedup = match["dedup"].replace("ORDER BY SEQ8() DESC", "ORDER BY FS_SEQ DESC")
        assert "FS_SEQ" in dedup, dedup
        merge = f"merge into {match['table']} d using (select * from {batch} {dedup}) s {match['rest']}"
        result = original(self, merge, None, *args, **kwargs)
        self._duck_conn.execute(f"DROP TABLE IF EXISTS {batch}")
        return result

    def stage_table(self, stage_path, select, only_selected=False):
        """The files staged under `stage_path` in a table, typed as `select` casts them."""
        database = self._conn.database
        batch = f"{database}.PUBLIC.FS_BATCH_{uuid.uuid4().hex}"
        columns = re.findall(r"::(\S+) as (\S+?)(?:,|$)", select)
        original(self, f"CREATE SCHEMA IF NOT EXISTS {database}.PUBLIC")
        original(self, f"CREATE TABLE {batch} (" + ", ".join(f"{a} {t}" for t, a in columns) + ")")
        with lock:
            files = list(staged.get(stage_path, []))
        # SEQ8(): the order rows were read in, files in PUT order, lines in file order.  Each
        # line gets its number here, so "ORDER BY SEQ8() DESC" keeps the last record of a key.
        original(self, f"ALTER TABLE {batch} ADD COLUMN FS_SEQ BIGINT")
        seq = 0
        for path in files:
            opener = gzip.open if path.endswith(".gz") else open
            numbered = path + ".seq.jsonl"
            with opener(path, "rt") as lines, open(numbered, "w") as out:
                for line in lines:
                    if line.strip():
                        seq += 1
                        out.write(json.dumps({**json.loads(line), "FS_SEQ": seq}) + "\n")
            picked = "*"
            if only_selected:
                picked = ", ".join(
                    f'"{name}" AS {alias}'
                    for name, _, alias in re.findall(r"\$1:(\S+?)::(\S+) as (\S+?)(?:,|$)", select)
                ) + ", FS_SEQ"
            self._duck_conn.execute(
                f"INSERT INTO {batch} BY NAME SELECT {picked} FROM read_json_auto('{numbered}')"
            )
            os.remove(numbered)
        return batch

    fake_cursor.FakeSnowflakeCursor.execute = execute
    # fakesnow makes a stage directory in /tmp for every process that imports it: removed at exit,
    # after the patch below ends (atexit runs the last registered first)
    try:
        from fakesnow.transforms import stage as fake_stage

        atexit.register(shutil.rmtree, fake_stage.LOCAL_BUCKET_PATH, True)
    except (ImportError, AttributeError):
        pass
    patch = fakesnow.patch(db_path=_DB)
    patch.__enter__()
    atexit.register(patch.__exit__, None, None, None)


if _DB:
    _install()
'''

SNOWFLAKE_ENV = {
    "AIRFLOW_AUDIT_SNOWFLAKE_ACCOUNT": "fakesnow",
    "AIRFLOW_AUDIT_SNOWFLAKE_USER": "airflow_audit_loader",
    "AIRFLOW_AUDIT_SNOWFLAKE_PASSWORD": "not-a-secret",
    "AIRFLOW_AUDIT_SNOWFLAKE_ROLE": "LOADER",
    "AIRFLOW_AUDIT_SNOWFLAKE_WAREHOUSE": "LOAD_WH",
    "AIRFLOW_AUDIT_SNOWFLAKE_DATABASE": "AIRFLOW_AUDIT",
    # Until transform/ has the Snowflake schema rule (docs/warehouses.md), dbt and the loader meet
    # on a destination schema that both rules leave as it is.
    "AIRFLOW_AUDIT_DESTINATION_SCHEMA": "AIRFLOW_LOCAL",
}
RAW = "AIRFLOW_LOCAL"


class FakeSnowflake:
    """A fakesnow database on disk, and the emulator overlay for the plugin venvs."""

    def __init__(self, root: Path, overlay: Path) -> None:
        self.db = root / "fakesnow"
        self.db.mkdir()
        self.overlay = overlay
        self.python = plugin_bin("loaders", "target-airflow-audit-snowflake", "python")

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(
            AIRFLOW_AUDIT_FAKESNOW_DB=str(self.db), PYTHONPATH=str(self.overlay), **extra
        )

    def _run(self, script: str, *args: str, stdin: str | None = None) -> Any:
        """Run `script` in the loader venv's python (fakesnow's DuckDB), return its JSON output."""
        result = subprocess.run(
            [str(self.python), "-c", script, *args],
            input=stdin,
            env=clean_env(PYTHONPATH=str(self.overlay)),
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return json.loads(result.stdout)

    def query(self, sql: str) -> list[list]:
        script = (
            "import duckdb, json, sys\n"
            f"con = duckdb.connect({str(self.db / 'AIRFLOW_AUDIT.db')!r}, read_only=True)\n"
            "print(json.dumps(con.execute(sys.argv[1]).fetchall(), default=str))\n"
        )
        return self._run(script, sql)

    def hunt(self, needles: set[str]) -> dict[str, list[str]]:
        """needle -> the tables (raw and marts) where it appears in any column, rendered as text.

        Tables only: dbt's views there read fakesnow's emulation schemas, which exist only inside a
        fakesnow session, and hold nothing their tables do not.
        """
        script = (
            "import duckdb, json, sys\n"
            f"con = duckdb.connect({str(self.db / 'AIRFLOW_AUDIT.db')!r}, read_only=True)\n"
            "needles = json.loads(sys.stdin.read())\n"
            "hits = {}\n"
            "for schema, table in con.execute('select schema_name, table_name from duckdb_tables()')"
            ".fetchall():\n"
            '    rel = f\'"{schema}"."{table}"\'\n'
            "    for (n,) in con.execute(f'select distinct n.needle from (select cast(__row as varchar) as r "
            "from {rel} __row) x join (select unnest(?::varchar[]) as needle) n on contains(x.r, n.needle)', "
            "[needles]).fetchall():\n"
            "        hits.setdefault(n, []).append(f'{schema}.{table}')\n"
            "print(json.dumps(hits))\n"
        )
        return self._run(script, stdin=json.dumps(sorted(needles)))

    def rows(self, table: str) -> tuple[list[str], list[list]]:
        """The live rows of a raw table (no _SDC_ columns), values rendered as JSON can hold them:
        instants as UTC ISO text, numbers as numbers, VARIANT as its JSON text."""
        script = (
            "import datetime as dt, decimal, duckdb, json, sys\n"
            f"con = duckdb.connect({str(self.db / 'AIRFLOW_AUDIT.db')!r}, read_only=True)\n"
            "table = sys.argv[1]\n"
            "cols = [c for (c,) in con.execute('select column_name from information_schema.columns "
            f"where table_schema = \\'{RAW}\\' and table_name = ? order by ordinal_position', [table])"
            ".fetchall() if not c.startswith('_SDC_')]\n"
            "def render(v):\n"
            "    if isinstance(v, dt.datetime):\n"
            "        v = v if v.tzinfo else v.replace(tzinfo=dt.timezone.utc)\n"
            "        return v.astimezone(dt.timezone.utc).isoformat()\n"
            "    if isinstance(v, decimal.Decimal):\n"
            "        return int(v) if v == v.to_integral_value() else float(v)\n"
            "    if isinstance(v, (bytes, bytearray)):\n"
            "        return bytes(v).hex()\n"
            "    return v if v is None or isinstance(v, (str, int, float, bool)) else str(v)\n"
            "select = ', '.join(chr(34) + c + chr(34) for c in cols)\n"
            f"rows = con.execute(f'select {{select}} from {RAW}.' + chr(34) + table + chr(34) + "
            "' where _SDC_DELETED_AT is null').fetchall()\n"
            "print(json.dumps([cols, [[render(v) for v in r] for r in rows]]))\n"
        )
        cols, rows = self._run(script, table.upper())
        return cols, rows

    def counts(self) -> dict[str, int]:
        tables = self.query(
            "select table_name from information_schema.tables "
            f"where table_catalog = 'AIRFLOW_AUDIT' and table_schema = '{RAW}'"
        )
        return {
            t.lower(): self.query(f'select count(*) from AIRFLOW_AUDIT.{RAW}."{t}"')[0][0]
            for (t,) in tables
            if not t.startswith("_")
        }


@pytest.fixture(scope="module")
def fakesnow_overlay(tmp_path_factory) -> Path:
    """fakesnow and its pinned dependencies in a directory (uv's cache makes this quick)."""
    overlay = tmp_path_factory.mktemp("fakesnow-overlay")
    python = plugin_bin("loaders", "target-airflow-audit-snowflake", "python")
    result = subprocess.run(
        [
            *(str(BIN / "uv"), "pip", "install", "--quiet", "--no-deps"),
            *("--target", str(overlay), "--python", str(python), *FAKESNOW),
        ],
        env={**os.environ, "UV_LINK_MODE": "copy"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"cannot install {FAKESNOW} from PyPI: {result.stderr[-2000:]}"
    (overlay / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return overlay


def extract(url: str, **settings: str) -> str:
    """The tap's messages, as records unless `handoff` says otherwise: tests replay them, and a
    file handed over is removed once loaded."""
    env = {"AIRFLOW_AUDIT_SOURCE_URL": url, "AIRFLOW_AUDIT_HANDOFF": "records"}
    env.update({f"AIRFLOW_AUDIT_{k.upper()}": v for k, v in settings.items()})
    result = meltano("invoke", "tap-airflow-metadb", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def resolved_config(directory: Path, mode: str) -> Path:
    """What Meltano hands target-airflow-audit-snowflake, resolved from the AIRFLOW_AUDIT_* variables."""
    result = meltano(
        "config",
        "--unsafe",
        "print",
        "target-airflow-audit-snowflake",
        env={**SNOWFLAKE_ENV, "AIRFLOW_AUDIT_MODE": mode},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    path = directory / f"target-snowflake-{mode}.json"
    path.write_text(result.stdout)
    return path


def load(fake: FakeSnowflake, config: Path, messages: str) -> subprocess.CompletedProcess:
    shim = plugin_bin("loaders", "target-airflow-audit-snowflake", "target-airflow-audit-snowflake")
    result = subprocess.run(
        [str(shim), "--config", str(config)],
        input=messages,
        env=fake.env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def source_counts(url: str) -> dict[str, int]:
    present = {
        t
        for (t,) in source_query(
            url, "select table_name from information_schema.tables where table_schema = 'public'"
        )
    }
    return {
        t: source_query(url, f'select count(*) from public."{t}"')[0][0]
        for t in DEFAULT_TABLES
        if t in present
    }


def delete_last_dag_run(url: str) -> int:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("delete from dag_run where id = (select max(id) from dag_run) returning id")
        (run_id,) = cur.fetchone()
    conn.close()
    return run_id


@pytest.fixture(scope="module")
def snowflake_run(airflow_db, fakesnow_overlay, tmp_path_factory) -> Iterator[dict]:
    """The whole story on one source: load, interrupted read, mirror, archive, dbt build."""
    root = tmp_path_factory.mktemp("snowflake")
    url = airflow_db("2.10.5", "warehouses_snowflake", dags=3, days=2)
    fake = FakeSnowflake(root, fakesnow_overlay)
    mirror, archive = resolved_config(root, "mirror"), resolved_config(root, "archive")
    story: dict = {"url": url, "fake": fake}

    load(fake, mirror, extract(url))
    story["first_counts"] = fake.counts()
    story["first_source_counts"] = source_counts(url)

    gone = delete_last_dag_run(url)
    messages = extract(url)
    cut = until_second_activate_version(messages, "public-dag_run")
    story["interrupted_rows"] = sum(
        1
        for line in cut.splitlines()
        if '"RECORD"' in line and json.loads(line)["stream"] == "public-dag_run"
    )
    interrupted = load(fake, mirror, cut)
    # a tap that fails once it has opened dag_run's read, before its first row
    opened = [
        line
        for line in messages.splitlines(keepends=True)
        if json.loads(line).get("stream") == "public-dag_run"
        and json.loads(line)["type"] in ("SCHEMA", "ACTIVATE_VERSION")
    ][:2]
    story["opened_only_log"] = load(fake, mirror, "".join(opened)).stderr
    story["after_interruption"] = fake.query(
        f"select count(*) from {RAW}.DAG_RUN where ID = {gone}"
    )
    story["interruption_log"] = interrupted.stderr
    load(fake, mirror, messages)
    story["after_mirror"] = fake.query(f"select count(*) from {RAW}.DAG_RUN where ID = {gone}")
    story["mirror_counts"] = (fake.counts(), source_counts(url))

    archived = delete_last_dag_run(url)
    load(fake, archive, extract(url))
    story["archived"] = archived
    story["after_archive"] = fake.query(
        f"select ID, _SDC_DELETED_AT is not null from {RAW}.DAG_RUN "
        f"where ID = {archived} or _SDC_DELETED_AT is not null"
    )

    # every table, for the secret hunt (after the counts above, which are of the default tables)
    load(fake, archive, extract(url, tables="[]"))

    project = copy_dbt_project(root)
    dbt = plugin_bin("transformers", "dbt-snowflake", "dbt")
    build = subprocess.run(
        [
            *(str(dbt), "build", "--threads", "1", "--exclude", "test_type:unit"),
            *("--project-dir", str(project), "--profiles-dir", str(project / "profiles/snowflake")),
            *("--target-path", str(root / "target"), "--log-path", str(root / "logs")),
        ],
        env=fake.env(HOME=str(root), **SNOWFLAKE_ENV),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    story["dbt"] = build
    story["project"] = project
    forms = {form: s for s in PLANTED_SECRETS for form in encoded_forms(s)}
    story["secret_hits"] = {forms[n]: where for n, where in fake.hunt(set(forms)).items()}
    story["non_secret_hits"] = fake.hunt(set(NON_SECRET_MARKERS))
    yield story


def test_snowflake_no_planted_secret_arrives(snowflake_run):
    """Every table (AIRFLOW_AUDIT_TABLES='[]') and the marts built on them: no planted secret in any
    relation, in plain, hex or base64 form; the non-secret parts of the same rows are there."""
    assert snowflake_run["secret_hits"] == {}
    assert set(snowflake_run["non_secret_hits"]) == set(NON_SECRET_MARKERS)


def test_snowflake_loads_every_row(snowflake_run):
    assert snowflake_run["first_counts"] == snowflake_run["first_source_counts"]
    assert sum(snowflake_run["first_counts"].values()) > 500


def test_snowflake_raw_tables_keep_types_and_metadata(snowflake_run):
    fake = snowflake_run["fake"]
    columns = dict(
        fake.query(
            "select column_name, data_type from information_schema.columns "
            f"where table_schema = '{RAW}' and table_name = 'DAG_RUN'"
        )
    )
    assert columns["START_DATE"] == "TIMESTAMP WITH TIME ZONE"
    for column in ("_SDC_EXTRACTED_AT", "_SDC_BATCHED_AT", "_SDC_DELETED_AT", "_SDC_TABLE_VERSION"):
        assert column in columns
    # The same instant as at the source.
    (utc,) = fake.query(
        f"select cast(timezone('UTC', START_DATE) as varchar) from {RAW}.DAG_RUN "
        "where START_DATE is not null order by ID limit 1"
    )[0]
    (expected,) = source_query(
        snowflake_run["url"],
        "select to_char(start_date at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') from dag_run "
        "where start_date is not null order by id limit 1",
    )[0]
    assert utc.startswith(expected.rstrip("0").rstrip("."))


def test_snowflake_an_interrupted_full_read_removes_nothing(snowflake_run):
    assert snowflake_run["after_interruption"] == [[1]]
    # what arrived of the read, upserted, and said so
    rows = snowflake_run["interrupted_rows"]
    assert rows == snowflake_run["first_source_counts"]["dag_run"] - 1
    assert (
        f"public-dag_run: the full read did not finish: {rows:,} of its rows were upserted, and "
        "rows deleted at the source are kept until a complete run."
    ) in snowflake_run["interruption_log"]
    assert (
        "public-dag_run: the full read did not finish: none of its rows were loaded; the next "
        "run reads it again."
    ) in snowflake_run["opened_only_log"]


def test_snowflake_mirror_removes_rows_deleted_at_the_source(snowflake_run):
    assert snowflake_run["after_mirror"] == [[0]]
    warehouse, source = snowflake_run["mirror_counts"]
    assert warehouse == source


def test_snowflake_archive_marks_rows_deleted_at_the_source(snowflake_run):
    assert snowflake_run["after_archive"] == [[snowflake_run["archived"], True]]


def test_snowflake_dbt_build_passes(snowflake_run):
    build = snowflake_run["dbt"]
    assert build.returncode == 0, build.stdout[-6000:]
    assert "Completed successfully" in build.stdout
    fake = snowflake_run["fake"]
    marts = fake.query(
        f"select count(*), count(*) filter (where IS_DELETED_AT_SOURCE) from {RAW}_MARTS.FCT_DAG_RUNS"
    )
    raw = fake.query(f"select count(*) from {RAW}.DAG_RUN")
    assert marts == [[raw[0][0], 1]]


def test_snowflake_report_builds_from_the_marts(snowflake_run, tmp_path):
    """`airflow-audit-report --warehouse snowflake`: the marts read through dbt-snowflake with the
    job's profile (on fakesnow), the same figures as the marts hold."""
    fake, project = snowflake_run["fake"], snowflake_run["project"]
    done = subprocess.run(
        [
            str(plugin_bin("utilities", "airflow-audit-report", "airflow-audit-report")),
            *("--warehouse", "snowflake", "--output", str(tmp_path / "site")),
        ],
        env=fake.env(
            HOME=str(tmp_path),
            MELTANO_PROJECT_ROOT=str(ROOT),
            DBT_PROJECT_DIR=str(project),
            DBT_TARGET_PATH=str(tmp_path / "target"),
            DBT_LOG_PATH=str(tmp_path / "logs"),
            **SNOWFLAKE_ENV,
        ),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    html = (tmp_path / "site" / "index.html").read_text()
    data = json.loads(
        re.search(r'id="report-data" type="application/json">(.*?)</script>', html).group(1)
    )
    (env,) = data["envs"]
    assert env["slug"] == RAW
    fleet = env["data"]["fleet_days"]
    assert "error" not in fleet, fleet
    total = sum(r[fleet["columns"].index("run_count")] for r in fleet["rows"])
    assert total == fake.query(f"select count(*) from {RAW}_MARTS.FCT_DAG_RUNS")[0][0] > 0
    synced = env["data"]["synced"]
    assert "error" not in synced, synced
    assert synced["rows"][0][0], "the header's last sync comes from the raw schema's extracts"


def test_snowflake_keeps_the_last_record_of_a_key_within_a_batch(snowflake_run, tmp_path):
    """Two records of one key in one batch: the MERGE keeps the one sent last (target-snowflake's
    `QUALIFY ... ORDER BY SEQ8() DESC`), in either order, so a row changed twice between two
    reads of the tap lands in its latest form."""
    fake, url = snowflake_run["fake"], snowflake_run["url"]
    pools = extract(url, tables='["slot_pool"]')
    messages = [json.loads(line) for line in pools.splitlines() if line.strip()]
    schema = next(
        m for m in messages if m["type"] == "SCHEMA" and m["stream"] == "public-slot_pool"
    )
    record = next(
        m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == "public-slot_pool"
    )
    config = resolved_config(tmp_path, "mirror")
    landed = []
    for order in (("first", "second"), ("second", "first")):
        batch = [schema] + [
            {"type": "RECORD", "stream": "public-slot_pool", "record": {**record, "description": d}}
            for d in order
        ]
        load(fake, config, "\n".join(json.dumps(m) for m in batch) + "\n")
        landed.append(
            fake.query(f"select DESCRIPTION from {RAW}.SLOT_POOL where ID = {record['id']}")
        )
    # the row as the source has it again, for the row-by-row comparison below
    restore = [schema, {"type": "RECORD", "stream": "public-slot_pool", "record": record}]
    load(fake, config, "\n".join(json.dumps(m) for m in restore) + "\n")
    assert landed == [[["second"]], [["first"]]]


# ---- Snowflake reconciliation (airflow-audit-reconcile snowflake) on fakesnow ---------------


def reconcile_snowflake(story: dict, mode: str) -> subprocess.CompletedProcess:
    """The reconcile utility's own venv and command, against fakesnow, as the job runs it."""
    fake = story["fake"]
    command = plugin_bin("utilities", "airflow-audit-reconcile", "airflow-audit-reconcile")
    return subprocess.run(
        [str(command), "snowflake"],
        env=fake.env(
            **SNOWFLAKE_ENV, AIRFLOW_AUDIT_SOURCE_URL=story["url"], AIRFLOW_AUDIT_MODE=mode
        ),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def sync_archive(story: dict, config: Path, additional: str) -> str:
    """A sync as the Snowflake job runs it, archive mode: the tap's full read of the default tables
    and `additional`, loaded, then reconciled; no traceback.  Returns the loader's output."""
    loaded = load(story["fake"], config, extract(story["url"], additional_tables=additional))
    reconciled = reconcile_snowflake(story, "archive")
    assert reconciled.returncode == 0, reconciled.stderr[-3000:]
    assert "Traceback" not in loaded.stderr + reconciled.stderr
    return loaded.stderr


def fakesnow_write(fake: FakeSnowflake, sql: str) -> None:
    fake._run(
        "import duckdb, json, sys\n"
        f"con = duckdb.connect({str(fake.db / 'AIRFLOW_AUDIT.db')!r})\n"
        "con.execute(sys.argv[1]); print(json.dumps(None))\n",
        sql,
    )


@pytest.fixture(scope="module")
def snowflake_reconciled(snowflake_run, tmp_path_factory) -> dict:
    """After the story's last load: rows deleted at the source are found by reconciliation
    (mirror deletes them, archive marks them), and a row the warehouse lost fails the run."""
    url, fake = snowflake_run["url"], snowflake_run["fake"]
    out: dict = {}

    def delete_logs(n: int) -> list[int]:
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute(
                "delete from log where id in (select id from log order by id desc limit %s) "
                "returning id",
                [n],
            )
            ids = sorted(i for (i,) in cur.fetchall())
        conn.close()
        return ids

    out["mirror_ids"] = delete_logs(2)
    out["mirror"] = reconcile_snowflake(snowflake_run, "mirror")
    listed = ", ".join(map(str, out["mirror_ids"]))
    out["mirror_left"] = fake.query(f"select count(*) from {RAW}.LOG where ID in ({listed})")
    out["log_counts"] = (
        fake.query(f"select count(*) from {RAW}.LOG where _SDC_DELETED_AT is null")[0][0],
        source_query(url, "select count(*) from log")[0][0],
    )
    out["archive_ids"] = delete_logs(1)
    out["archive"] = reconcile_snowflake(snowflake_run, "archive")
    out["archive_marked"] = fake.query(
        f"select ID, _SDC_DELETED_AT is not null from {RAW}.LOG where ID = {out['archive_ids'][0]}"
    )
    out["audit"] = fake.query(
        f"select TABLE_NAME, MODE, OUTCOME, DELETED_AT_SOURCE from {RAW}._SYNC_AUDIT "
        "where TABLE_NAME = 'log' order by ENDED_AT"
    )
    (lost,) = fake.query(f"select max(ID) from {RAW}.DAG_RUN where _SDC_DELETED_AT is null")[0]
    fakesnow_write(fake, f"delete from {RAW}.DAG_RUN where ID = {lost}")
    out["lost"] = reconcile_snowflake(snowflake_run, "archive")
    # as the failure advises: a full read of dag_run brings the lost row back (the row-by-row
    # comparison below needs the warehouse whole again)
    load(
        fake,
        resolved_config(tmp_path_factory.mktemp("reload"), "archive"),
        extract(url, tables='["dag_run"]', full_refresh="dag_run"),
    )
    out["after_reload"] = reconcile_snowflake(snowflake_run, "archive")
    return out


def test_snowflake_reconcile_mirror_deletes_what_the_source_deleted(snowflake_reconciled):
    result = snowflake_reconciled["mirror"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert "log: source" in result.stderr and "2 deleted at the source" in result.stderr
    assert snowflake_reconciled["mirror_left"] == [[0]]
    warehouse, source = snowflake_reconciled["log_counts"]
    assert warehouse == source


def test_snowflake_reconcile_archive_marks_what_the_source_deleted(snowflake_reconciled):
    result = snowflake_reconciled["archive"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert snowflake_reconciled["archive_marked"] == [
        [snowflake_reconciled["archive_ids"][0], True]
    ]
    assert snowflake_reconciled["audit"][-2:] == [
        ["log", "mirror", "ok", 2],
        ["log", "archive", "ok", 1],
    ]


def test_snowflake_reconcile_fails_in_one_sentence_when_the_warehouse_lost_a_row(
    snowflake_reconciled,
):
    result = snowflake_reconciled["lost"]
    assert result.returncode == 2, result.stderr[-3000:]
    (last,) = result.stderr.strip().splitlines()[-1:]
    assert last.startswith("airflow-audit-reconcile: Reconciliation failed: the warehouse table ")
    assert "dag_run lacks 1 rows" in last and "AIRFLOW_AUDIT_FULL_REFRESH=dag_run" in last
    assert "Traceback" not in result.stderr
    reloaded = snowflake_reconciled["after_reload"]
    assert reloaded.returncode == 0, reloaded.stderr[-3000:]


# ---- BigQuery: the real target's code, up to the network -----------------------------------


def run_probe(warehouse: str, script: str) -> dict:
    python = plugin_bin("loaders", f"target-airflow-audit-{warehouse}", "python")
    result = subprocess.run(
        [str(python), "-c", script],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


BIGQUERY_PROBE = r"""
import json
from airflow_audit_loader.bigquery.target import full_read_statements, target_class
Target = target_class()
print(json.dumps({
    "methods": [m for m in ("_process_endofpipe", "_process_schema_message", "get_sink_class",
                            "_process_record_message", "_process_activate_version_message")
                if any(m in vars(c) for c in Target.__mro__[2:])],
    "statements": full_read_statements("acme", "airflow_qwe123", {"dag_run": 7, "dag": 7}, "archive"),
}))
"""


def test_bigquery_shim_fits_the_real_target():
    probe = run_probe("bigquery", BIGQUERY_PROBE)
    # The hooks the shim overrides exist in z3-target-bigquery's SDK.
    assert len(probe["methods"]) == 5
    for sql, version in probe["statements"]:
        assert version == 7
        assert sql.startswith("UPDATE `acme.airflow_qwe123.dag")
        assert portability_problems(sql.replace("@", ""), "bigquery") == []


# In New York's time zone, where the SDK z3-target-bigquery pins stamps local time without a zone
# (BigQuery reads it as UTC: five hours behind).  The batches go through the SDK's own path
# (BatchSink._get_context, start_batch, _add_sdc_metadata_to_record) on the shim's sink class;
# only the table's latest stamp, a query to BigQuery, is given.
BIGQUERY_STAMP_PROBE = r"""
import datetime as dt, json, sys
from target_bigquery.batch_job import BigQueryBatchJobDenormalizedSink
from airflow_audit_loader.bigquery.target import stamped_sink_class
cls = stamped_sink_class(BigQueryBatchJobDenormalizedSink)
def batches(latest, n):
    sink = object.__new__(cls)
    sink.latest_stamp = lambda: latest
    out = []
    for _ in range(n):
        sink._pending_batch = None
        record = {}
        sink._add_sdc_metadata_to_record(record, {}, sink._get_context(record))
        out.append(record)
    return out
utc = dt.timezone.utc
before = dt.datetime.now(utc)
ahead = before + dt.timedelta(hours=1)
print(json.dumps({
    "same_class": stamped_sink_class(BigQueryBatchJobDenormalizedSink) is cls,
    "before": before.isoformat(),
    "behind": batches(ahead, 2),
    "fresh": batches(None, 1),
    "after": dt.datetime.now(utc).isoformat(),
    "ahead": ahead.isoformat(),
}))
"""


def test_bigquery_batches_are_stamped_in_utc_after_the_tables_latest_stamp():
    python = plugin_bin("loaders", "target-airflow-audit-bigquery", "python")
    result = subprocess.run(
        [str(python), "-c", BIGQUERY_STAMP_PROBE],
        env=clean_env(TZ="America/New_York"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    at = datetime.fromisoformat
    assert probe["same_class"]
    before, after, ahead = at(probe["before"]), at(probe["after"]), at(probe["ahead"])
    # a table whose rows a host an hour ahead stamped: each batch a microsecond after the last
    step = timedelta(microseconds=1)
    assert [at(r["_sdc_batched_at"]) for r in probe["behind"]] == [ahead + step, ahead + 2 * step]
    # a table without rows: now, in UTC; received now, in UTC, whatever the host's zone
    (fresh,) = probe["fresh"]
    assert before <= at(fresh["_sdc_batched_at"]) <= after
    for record in probe["behind"] + probe["fresh"]:
        assert before <= at(record["_sdc_received_at"]) <= after


def test_the_bigquery_latest_stamp_query_is_bigquerys_sql():
    sql = latest_stamp_sql("`acme`.`airflow_qwe123`.`dag_run`")
    assert portability_problems(sql, "bigquery") == []


REDSHIFT_AUTH = {
    "password": (
        {"AIRFLOW_AUDIT_REDSHIFT_PASSWORD": "offline"},
        {"method": "database", "cluster_id": "", "is_serverless": "False"},
    ),
    "iam-cluster": (
        {
            "AIRFLOW_AUDIT_REDSHIFT_CLUSTER_IDENTIFIER": "audit-1",
            "AIRFLOW_AUDIT_REDSHIFT_S3_REGION": "eu-west-1",
        },
        {"method": "iam", "cluster_id": "audit-1", "is_serverless": "False", "region": "eu-west-1"},
    ),
    "iam-serverless": (
        {
            "AIRFLOW_AUDIT_REDSHIFT_WORKGROUP": "audit-wg",
            "AIRFLOW_AUDIT_REDSHIFT_S3_REGION": "eu-west-1",
        },
        {"method": "iam", "is_serverless": "True", "serverless_work_group": "audit-wg"},
    ),
}


@pytest.mark.parametrize("auth", REDSHIFT_AUTH)
def test_dbt_redshift_authenticates_like_the_loader(auth, tmp_path):
    """The dbt-redshift profile picks password or IAM from the loader's variables (dbt debug prints it)."""
    variables, expected = REDSHIFT_AUTH[auth]
    env = clean_env(
        HOME=str(tmp_path),
        DBT_TARGET_PATH=str(tmp_path / "target"),
        AIRFLOW_AUDIT_REDSHIFT_HOST="offline.invalid",
        AIRFLOW_AUDIT_REDSHIFT_USER="loader",
        AIRFLOW_AUDIT_REDSHIFT_DATABASE="analytics",
        **variables,
    )
    dbt = plugin_bin("transformers", "dbt-redshift", "dbt")
    result = subprocess.run(
        [str(dbt), "debug", "--project-dir", str(ROOT / "transform"), "--profiles-dir",
         str(ROOT / "transform" / "profiles" / "redshift"), "--log-path", str(tmp_path / "logs")],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    shown = dict(re.findall(r"^\S*\s+(\w+): (.*)$", result.stdout, flags=re.M))
    assert "profiles.yml file [" in result.stdout and "OK found and valid" in result.stdout
    assert {key: shown.get(key, "<absent>").strip() for key in expected} == expected


@pytest.mark.parametrize("warehouse", LOADERS)
def test_each_shim_runs_its_real_target(warehouse):
    shim = plugin_bin(
        "loaders", f"target-airflow-audit-{warehouse}", f"target-airflow-audit-{warehouse}"
    )
    result = subprocess.run(
        [str(shim), "--about"], env=clean_env(), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    about = json.loads(result.stdout.strip().splitlines()[-1])
    assert about["wraps"] == f"target-{warehouse}"


@pytest.mark.parametrize("warehouse", LOADERS)
def test_a_bad_setting_ends_in_one_sentence(warehouse, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"env_slug": "Not A Slug"}))
    shim = plugin_bin(
        "loaders", f"target-airflow-audit-{warehouse}", f"target-airflow-audit-{warehouse}"
    )
    result = subprocess.run(
        [str(shim), "--config", str(config)],
        input="",
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    (line,) = [
        line
        for line in result.stderr.splitlines()
        if line.startswith(f"target-airflow-audit-{warehouse}: ")
    ]
    assert "cannot make a schema name" in line or "needs AIRFLOW_AUDIT_" in line


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


def _snowflake_comparable(value: object, is_json: bool, *, decoded: bool = False) -> object:
    """A value of either side as the comparison sees it; JSON as sorted JSON text (psycopg2 has
    `decoded` it already; Snowflake's VARIANT arrives as JSON text)."""
    import datetime as dt
    import decimal

    if value is None:
        return None
    if is_json:
        return json.dumps(value if decoded else json.loads(value), sort_keys=True)
    if isinstance(value, dt.datetime):
        value = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc).isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, memoryview | bytes):
        return bytes(value).hex()
    return value


def snowflake_and_source_rows(
    fake: FakeSnowflake, url: str, table: str, keep: Callable[[str, dict[str, str]], bool]
) -> tuple[list[str], dict[str, str], list[tuple], list[tuple]]:
    """The live rows of a raw table and the source's rows, on the warehouse's columns `keep`
    accepts (given the source's column types), as comparable tuples: (columns, source types,
    expected, got)."""
    columns, got_rows = fake.rows(table)
    columns = [c.lower() for c in columns]
    types = dict(
        source_query(
            url,
            "select column_name, data_type from information_schema.columns "
            f"where table_schema = 'public' and table_name = '{table}'",
        )
    )
    data = [c for c in columns if keep(c, types)]
    json_columns = {c for c in data if types.get(c) in ("json", "jsonb")}
    index = [columns.index(c) for c in data]
    got = [
        tuple(
            _snowflake_comparable(row[i], c in json_columns)
            for i, c in zip(index, data, strict=True)
        )
        for row in got_rows
    ]
    select = ", ".join(f'"{c}"' for c in data)
    expected = [
        tuple(
            _snowflake_comparable(v, c in json_columns, decoded=True)
            for v, c in zip(row, data, strict=True)
        )
        for row in source_query(url, f"select {select} from public.{table}")
    ]
    return data, types, expected, got


def test_snowflake_rows_equal_the_source_row_by_row(snowflake_run):
    """After the mirror and archive loads, every live row of every default table equals a source row,
    column by column, and the warehouse holds exactly the columns the secrets policy lets leave."""
    from tap_airflow_metadb import policy
    from tests.support import assert_rows_equal

    url = snowflake_run["url"]
    for table in DEFAULT_TABLES:
        data, types, expected, got = snowflake_and_source_rows(
            snowflake_run["fake"], url, table, lambda c, _: c not in ("has_password", "has_extra")
        )
        assert set(data) == set(policy.plan_table(table, types).read), table
        assert len(expected) > 0 or table == "task_fail", table
        assert_rows_equal(table, data, expected, got)
