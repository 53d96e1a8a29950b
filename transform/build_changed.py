"""`meltano invoke dbt-<warehouse>:build-changed`: `dbt build` of what the latest load changed.

The hourly job's last step.  It asks the warehouse, in one query, for each raw table's figures
(row count; when a row's content last changed, `_sdc_batched_at`, which the loaders leave alone
when a read brings a row back unchanged; when a row was last marked deleted; how many rows mirror
mode deleted outright; its column set), and for the figures the latest passing build started
from (`<schema>_marts._airflow_audit_builds`).  Then:

* nothing changed, same project, last build less than a day old: the marts are current; it says
  so and builds nothing;
* some tables changed: `dbt build --select source:airflow.<table>+ ... int_latest_sync+`, the
  models and tests downstream of those tables, and of the time of the sync (the marts measured
  against it: a try still running holds its pool's slots until the sync), only (the others read
  nothing new);
* a build more than a day old: `dbt build` of everything;
* a first run, another dbt project or dbt version, an unreadable record, a table gone from the
  warehouse: `dbt build --full-refresh`.

The job runs no unit tests (dbt's advice: they check the project's SQL on fixed rows, a matter for
development and CI, `make test`; `meltano invoke dbt-<warehouse>:build` runs them).  Each build
but a full refresh gets the var `airflow_audit_since`: per raw table, what changed since
the recorded build (macros/airflow_audit_incremental.sql), so that the incremental marts replace
only the partitions those rows touch.  Arguments given (`--select ...`, `--full-refresh`) are
passed to one `dbt build`, with the var unless they ask for a full refresh.

After a build that passed, it records the figures it started from (airflow_audit_record_build).
dbt parses the project once for all of it.

On DuckDB, the state is read without dbt, and "nothing changed" told without starting it
(importing and parsing dbt costs seconds, most of an hourly run that finds nothing new): each run
that reads the state through dbt keeps, in dbt's target folder, the state query as dbt compiled it,
the warehouse file and a fingerprint of the raw schema's tables and column types.  The next run,
with the same project hash and the same fingerprint (so the same SQL would be compiled), runs that
query itself, read-only, and decides from its answer; it starts dbt only to build.  Anything else
(another fingerprint, an unreadable file, arguments given) reads the state through dbt.

Runs in the dbt plugin's venv, with the DBT_* variables Meltano sets for it.  A day-old build is
redone anyway: the flags measured against the time of the latest sync (dormant accounts, late
heartbeats) move with time, not only with rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

PROG = "build-changed"
NO_UNIT_TESTS = ("--exclude-resource-type", "unit_test")
# The parse, the state queries and the record write no manifest.json or run_results.json: the
# build writes both, and they stay the build's.  dbt wrote the manifest after each of them (0.3 to
# 0.6 s a time), and the record's and queries' results replaced the build's.
NO_ARTIFACTS = ("--no-write-json",)
REBUILD_AFTER = dt.timedelta(hours=24)
# The time of the latest sync, which the marts measured at a sync read (rpt_pool_hourly_usage,
# rpt_stuck_work, rpt_alerts).
SYNC_TIME_MODEL = "int_latest_sync"
PROJECT_PARTS = ("models", "macros", "tests", "seeds", "snapshots", "analyses")
STATE_CACHE = "airflow_audit_build_state.json"


def catalog_sql(schema_literal: str) -> str:
    """DuckDB: one value for the raw schema's tables, column names and types."""
    return (
        "select md5(coalesce(string_agg(table_name || '.' || column_name || ' ' || data_type, ','"
        " order by table_name, column_name), '')) from information_schema.columns"
        f" where table_catalog = current_database() and table_schema = {schema_literal}"
    )


# Run by dbt after the state query: on DuckDB, the file and the schema fingerprint it was compiled
# against; elsewhere nothing.
CACHE_FACTS = (
    "{% if target.type == 'duckdb' %}"
    "select (select path from duckdb_databases() where database_name = current_database()) as path,"
    " '{{ target.schema | replace(\"'\", \"''\") }}' as schema_name,"
    " (" + catalog_sql("'{{ target.schema | replace(\"'\", \"''\") }}'") + ") as catalog"
    "{% else %}select null as path, null as schema_name, null as catalog{% endif %}"
)


def say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


# Variables that change how a build runs, never what it builds: a new value needs no rebuild.
HOW_NOT_WHAT = (
    "AIRFLOW_AUDIT_PARTIAL_BUILD_LIMIT",
    "AIRFLOW_AUDIT_IN_PLACE_LIMIT",
    "AIRFLOW_AUDIT_DUCKDB_THREADS",
    "AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT",
    "AIRFLOW_AUDIT_DBT_THREADS",
)
# A variable the project's files read; tests/transform/test_build_changed_hash.py holds every
# env_var() of the project to a name written out, so none is missed.
READ_VARIABLE = re.compile(r"""env_var\(\s*['"](AIRFLOW_AUDIT_[A-Z0-9_]+)['"]""")


def threads_problem() -> str | None:
    """What is wrong with AIRFLOW_AUDIT_DBT_THREADS (the profiles read it), if anything: said
    before dbt starts, in place of dbt's error about the profile."""
    threads = os.environ.get("AIRFLOW_AUDIT_DBT_THREADS", "").strip()
    if not threads or (threads.isdigit() and int(threads) >= 1):
        return None
    return (
        f"AIRFLOW_AUDIT_DBT_THREADS is {threads!r}: give how many models dbt builds at once, a "
        "whole number of 1 or more (unset: 4, or 1 when AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT is set); "
        "nothing was built."
    )


def project_hash(project: Path, profiles: Path) -> str:
    """The dbt project as it would build: its files, the profile, dbt's version, and the values of
    the AIRFLOW_AUDIT_* variables those files read (`env_var('AIRFLOW_AUDIT_...')`; secrets, and
    HOW_NOT_WHAT, left out).  Only those: a variable the extractor or reconciliation reads (the
    source URL, a rotated password in it, the tables selected) changes what is loaded, which the
    warehouse's figures tell, not how the marts are built, and a new value of it is no reason to
    rebuild every mart from scratch."""
    from importlib.metadata import version

    digest = hashlib.sha256(version("dbt-core").encode())
    files = [project / "dbt_project.yml", profiles / "profiles.yml"]
    for part in PROJECT_PARTS:
        folder = project / part
        if folder.is_dir():
            files += sorted(p for p in folder.rglob("*") if p.is_file())
    read: set[str] = set()
    for path in files:
        if path.exists():
            text = path.read_bytes()
            digest.update(path.name.encode())
            digest.update(text)
            read.update(READ_VARIABLE.findall(text.decode("utf-8", "replace")))
    for name in sorted(read):
        if name not in HOW_NOT_WHAT and not any(
            word in name for word in ("PASSWORD", "KEY", "SECRET", "TOKEN", "CREDENTIALS")
        ):
            digest.update(f"{name}={os.environ.get(name, '')}".encode())
    return digest.hexdigest()[:32]


def target_folder(project: Path) -> Path:
    return Path(os.environ.get("DBT_TARGET_PATH") or project / "target")


def read_state(rows) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The state query's rows as (figures per raw table, the latest passing build)."""
    figures: dict[str, list[str]] = {}
    built: dict[str, str] = {}
    for row in rows:
        values = [None if v is None else str(v) for v in row]
        name = values[0]
        if name == "__built__":
            built = {
                "figures": values[1] or "",
                "project_hash": values[2] or "",
                "built_at": values[3] or "",
            }
        elif name != "none" and len(values) >= 6:
            figures[name] = [v or "" for v in values[1:6]]
    return figures, built


def warehouse_state(runner, project: Path, phash: str):
    """(figures per raw table now, the latest passing build {figures, project_hash, built_at}),
    or None when the warehouse cannot say.  On DuckDB, keeps what the next run needs to read the
    same without dbt (keep_state_query)."""
    done = invoke(
        runner,
        [
            "show",
            "--inline",
            "{{ airflow_audit_build_state() }}",
            "--limit",
            "-1",
            "--log-level",
            "none",
            *NO_ARTIFACTS,
        ],
    )
    if not done.success or done.result is None:
        return None
    result = done.result.results[0]
    keep_state_query(runner, project, phash, result.node.compiled_code)
    return read_state(result.agate_table.rows)


def keep_state_query(runner, project: Path, phash: str, sql: str) -> None:
    """On DuckDB, write the compiled state query beside the file and schema fingerprint it was
    compiled against; elsewhere, and on any failure, remove the kept one."""
    kept = target_folder(project) / STATE_CACHE
    kept.unlink(missing_ok=True)
    facts = invoke(
        runner,
        ["show", "--inline", CACHE_FACTS, "--limit", "1", "--log-level", "none", *NO_ARTIFACTS],
    )
    if not facts.success or facts.result is None:
        return
    rows = facts.result.results[0].agate_table.rows
    if not rows or rows[0][0] is None:
        return
    path, schema, catalog = (str(v) for v in rows[0])
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(
        json.dumps(
            {"project_hash": phash, "path": path, "schema": schema, "catalog": catalog, "sql": sql}
        )
    )


def state_without_dbt(project: Path, phash: str):
    """The state as warehouse_state would read it, from the kept query, without dbt; None when
    there is no kept query for this project or the raw schema changed since it was compiled."""
    try:
        kept = json.loads((target_folder(project) / STATE_CACHE).read_text())
        if kept.get("project_hash") != phash:
            return None
        import duckdb

        with duckdb.connect(kept["path"], read_only=True) as con:
            schema = "'" + kept["schema"].replace("'", "''") + "'"
            if con.execute(catalog_sql(schema)).fetchone()[0] != kept["catalog"]:
                return None
            return read_state(con.execute(kept["sql"]).fetchall())
    except Exception:  # any doubt: ask dbt
        return None


def changed_tables(now: dict[str, list[str]], before: str) -> list[str] | None:
    """The tables whose figures differ from the recorded ones; None when those are unreadable."""
    try:
        recorded = json.loads(before)
    except ValueError:
        return None
    if not isinstance(recorded, dict):
        return None
    return sorted(t for t in set(now) | set(recorded) if now.get(t) != recorded.get(t))


def since(now: dict[str, list[str]], before: str) -> dict[str, object]:
    """The var airflow_audit_since: per raw table, what changed since the recorded figures
    (macros/airflow_audit_incremental.sql says what each form means)."""
    try:
        recorded = json.loads(before)
    except ValueError:
        recorded = {}
    out: dict[str, object] = {}
    for table, figures in now.items():
        count, _, _, mirror, columns = figures
        if not count:
            out[table] = "absent"
            continue
        earlier = recorded.get(table) if isinstance(recorded, dict) else None
        if not isinstance(earlier, list) or len(earlier) != len(figures):
            out[table] = "all"
            continue
        e_count, e_loaded, e_deleted, e_mirror, e_columns = earlier
        if (
            not e_loaded
            or int(count) < int(e_count or 0)
            or mirror != e_mirror
            or columns != e_columns
        ):
            # Rows deleted outright or another column set: what changed cannot be told by row.
            out[table] = "all"
        else:
            out[table] = {"loaded_after": e_loaded, "deleted_after": e_deleted or None}
    return out


def too_old(built_at: str) -> bool:
    try:
        at = dt.datetime.fromisoformat(built_at.strip())
    except ValueError:
        return True
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    return dt.datetime.now(dt.timezone.utc) - at > REBUILD_AFTER


def plan(state, phash: str, argv: list[str]) -> list[str] | None:
    """The `dbt build` arguments, or None when nothing needs building; says which."""
    message, args = decide(state, phash, argv)
    say(message)
    return args


CURRENT = (
    "nothing the marts read changed since the last passing build (same rows, same "
    "project): they are current; `meltano invoke dbt-<warehouse>:build` rebuilds anyway."
)


def decide(state, phash: str, argv: list[str]) -> tuple[str, list[str] | None]:
    """What to say, and the `dbt build` arguments or None when nothing needs building."""
    if state is None:
        return "building everything (no readable record of an earlier build).", (
            ["build", *argv] if argv else ["build", "--full-refresh", *NO_UNIT_TESTS]
        )
    figures, built = state
    recorded = built.get("figures", "") if built else ""
    since_var = ["--vars", json.dumps({"airflow_audit_since": since(figures, recorded)})]
    if argv:
        return "building as asked.", (
            ["build", *argv] if "--full-refresh" in argv else ["build", *argv, *since_var]
        )
    if not built or built.get("project_hash") != phash:
        return (
            "building everything from scratch (a first build, or another project or dbt).",
            ["build", "--full-refresh", *NO_UNIT_TESTS],
        )
    changed = changed_tables(figures, recorded)
    if changed is None:
        return (
            "building everything from scratch (the last build's record is unreadable).",
            ["build", "--full-refresh", *NO_UNIT_TESTS],
        )
    gone = [t for t in changed if not figures.get(t, [""])[0]]
    if gone:
        return (
            f"building everything from scratch ({', '.join(gone)} left the warehouse).",
            ["build", "--full-refresh", *NO_UNIT_TESTS],
        )
    if too_old(built.get("built_at", "")):
        return "building everything, and testing every row (a day since the last build).", [
            "build",
            *NO_UNIT_TESTS,
            "--vars",
            json.dumps(
                {
                    "airflow_audit_since": since(figures, recorded),
                    "airflow_audit_test_everything": True,
                }
            ),
        ]
    if not changed:
        return CURRENT, None
    return f"building what depends on the tables that changed: {', '.join(changed)}.", [
        "build",
        "--select",
        *(f"source:airflow.{t}+" for t in changed),
        # and what is measured against the time of the sync, which moved with it (a try still
        # running holds its pool's slots until the sync): read from the sync's own bookkeeping
        # table, not a source, so no changed table selects it
        f"{SYNC_TIME_MODEL}+",
        *NO_UNIT_TESTS,
        *since_var,
    ]


def invoke(runner: Any, args: list[str]) -> Any:
    """`runner.invoke(args)`, the log files an invocation before left open closed first: each
    invocation sets dbt's loggers up again and drops their handlers without closing them
    (dbt-common 1.x), and Python then warned of each unclosed dbt.log in the job's output
    (ResourceWarning, which Meltano shows)."""
    for logger in list(logging.Logger.manager.loggerDict.values()):
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, logging.FileHandler):
                handler.close()
    return runner.invoke(args)


def forget_partial_parse_if_changed(project: Path, phash: str) -> None:
    """Drop dbt's partial-parse cache when the project changed since it was written.

    dbt 1.11 can keep a stale copy of a described macro in that cache after a schema file changed
    and then refuse the project ("two schema.yml entries for the same macro"): a project that
    changed (an upgrade of airflow-audit) is parsed from scratch once."""
    target = Path(os.environ.get("DBT_TARGET_PATH") or project / "target")
    marker = target / "airflow_audit_project_hash"
    try:
        if marker.read_text() == phash:
            return
    except OSError:
        pass
    (target / "partial_parse.msgpack").unlink(missing_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    marker.write_text(phash)


def main(argv: list[str]) -> int:
    problem = threads_problem()
    if problem:
        say(problem)
        return 2
    project = Path(os.environ.get("DBT_PROJECT_DIR", "transform"))
    profiles = Path(os.environ.get("DBT_PROFILES_DIR", project / "profiles/duckdb"))
    phash = project_hash(project, profiles)
    # The kept state, read without dbt, serves the whole run (it is what dbt would read).
    state = None if argv else state_without_dbt(project, phash)
    if state is not None:
        message, args = decide(state, phash, argv)
        if args is None:
            say(message + " (told without starting dbt)")
            return 0
    from dbt.cli.main import dbtRunner

    forget_partial_parse_if_changed(project, phash)
    parsed = invoke(dbtRunner(), ["parse", "--quiet", *NO_ARTIFACTS])
    runner = dbtRunner(manifest=parsed.result) if parsed.success else dbtRunner()
    if state is None:
        state = warehouse_state(runner, project, phash)
    args = plan(state, phash, argv)
    if args is None:
        return 0
    done = invoke(runner, args)
    if not done.success:
        return 1
    # A build of everything (or the changed tables' part of it) brings every mart up to the
    # figures read before it: recorded.  A build of a user's own selection does not.
    if state is not None and all(a == "--full-refresh" for a in argv):
        recorded = invoke(
            runner,
            [
                "run-operation",
                "airflow_audit_record_build",
                "--args",
                json.dumps(
                    {"figures": json.dumps(state[0], sort_keys=True), "project_hash": phash}
                ),
                "--quiet",
                *NO_ARTIFACTS,
            ],
        )
        if not recorded.success:
            say("the build passed but could not be recorded: the next run builds everything.")
        elif not state[1]:
            # The kept state query was compiled before the first record existed: compile it again.
            warehouse_state(runner, project, phash)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
