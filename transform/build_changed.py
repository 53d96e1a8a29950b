"""`meltano invoke dbt-<warehouse>:build-changed`: `dbt build`, unless nothing it reads changed.

The hourly job's last step.  It asks the warehouse, in one query, for each raw table's row
count, the time a row's content last changed (`_sdc_batched_at`: the loaders leave it alone
when a read brings a row back unchanged) and the time a row was last marked deleted, and for
the latest build recorded in `<schema>_marts._airflow_audit_builds`.  When those figures and
the dbt project (its files, dbt's version) are what the last passing build started from, and
that build is less than a day old, the marts are current: it says so and stops.  Otherwise it
runs `dbt build` and, once every model and test passed, records the figures it started from
(the macro airflow_audit_record_build).  dbt parses the project once for all three steps.

Anything it cannot read (a first run, a dropped marts schema, an error) means: build.  Extra
arguments (`--full-refresh`, `--select ...`) always build.  Runs in the dbt plugin's venv, with
the DBT_* variables Meltano sets for it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sys
from pathlib import Path

from dbt.cli.main import dbtRunner

PROG = "build-changed"
REBUILD_AFTER = dt.timedelta(hours=24)
PROJECT_PARTS = ("dbt_project.yml", "models", "macros", "tests", "seeds", "snapshots", "analyses")


def say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def project_hash(project: Path, profiles: Path) -> str:
    """The dbt project as it would build: its files, the profile, dbt's version, and the
    AIRFLOW_AUDIT_* variables the profile and models read."""
    from importlib.metadata import version

    digest = hashlib.sha256(version("dbt-core").encode())
    files = [project / "dbt_project.yml", profiles / "profiles.yml"]
    for part in PROJECT_PARTS[1:]:
        folder = project / part
        if folder.is_dir():
            files += sorted(p for p in folder.rglob("*") if p.is_file())
    for path in files:
        if path.exists():
            digest.update(str(path.relative_to(project.parent)).encode())
            digest.update(path.read_bytes())
    for name in sorted(os.environ):
        if name.startswith("AIRFLOW_AUDIT_") and "PASSWORD" not in name and "KEY" not in name:
            digest.update(f"{name}={os.environ[name]}".encode())
    return digest.hexdigest()[:32]


def warehouse_state(runner: dbtRunner) -> tuple[str, dict[str, str]] | None:
    """(the change marker, the latest build's {marker, project_hash}) or None when unreadable."""
    done = runner.invoke(
        ["show", "--inline", "{{ airflow_audit_build_state() }}", "--limit", "-1", "--quiet"]
    )
    if not done.success or done.result is None:
        return None
    table = done.result.results[0].agate_table
    tables, built = [], {}
    for row in table.rows:
        name, count, changed, deleted = (
            (row[0], row[1], row[2], row[3]) if len(row) > 3 else (row[0], None, None, None)
        )
        if name == "__built__":
            project, _, built_at = str(deleted or "").partition("|")
            built = {"marker": str(changed or ""), "project_hash": project, "built_at": built_at}
        elif name != "none":
            tables.append([str(name), str(count), str(changed), str(deleted)])
    marker = hashlib.sha256(json.dumps(sorted(tables)).encode()).hexdigest()[:32]
    return marker, built


def main(argv: list[str]) -> int:
    project = Path(os.environ.get("DBT_PROJECT_DIR", "transform"))
    profiles = Path(os.environ.get("DBT_PROFILES_DIR", project / "profiles/duckdb"))
    parsed = dbtRunner().invoke(["parse", "--quiet"])
    runner = dbtRunner(manifest=parsed.result) if parsed.success else dbtRunner()
    phash = project_hash(project, profiles)
    state = None if argv else warehouse_state(runner)
    if state is not None:
        marker, built = state
        current = built.get("marker") == marker and built.get("project_hash") == phash
        if current and not too_old(built["built_at"]):
            say(
                "nothing the marts read changed since the last passing build (same rows, same "
                "project): they are current; `meltano invoke dbt-<warehouse>:build` rebuilds "
                "anyway."
            )
            return 0
        say("the raw tables or the project changed since the last passing build: building.")
    else:
        say("no earlier passing build to compare with (or arguments were given): building.")
    done = runner.invoke(["build", *argv])
    if not done.success:
        return 1
    if state is not None:
        recorded = runner.invoke(
            [
                "run-operation",
                "airflow_audit_record_build",
                "--args",
                json.dumps({"marker": state[0], "project_hash": phash}),
                "--quiet",
            ]
        )
        if not recorded.success:
            say("the build passed but could not be recorded: the next run builds again.")
    return 0


def too_old(built_at: str) -> bool:
    """A build more than a day old is redone anyway: flags measured against the time of the
    latest sync (dormant accounts, late heartbeats) move with time, not only with rows."""
    try:
        at = dt.datetime.fromisoformat(built_at.strip())
    except ValueError:
        return True
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    return dt.datetime.now(dt.timezone.utc) - at > REBUILD_AFTER


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
