"""make demo: the whole job on a throwaway Airflow database, into DuckDB, then a summary.

1. starts a throwaway PostgreSQL (tests/fixtures/postgres.py) under .demo/,
2. creates a fresh database holding the real Airflow <version> schema, filled with realistic,
   deterministic history (tests/fixtures/airflow_history/),
3. runs `meltano run airflow-audit` against it, into output/demo_airflow_<version>.duckdb,
4. prints runs by state and the DAGs that fail most, read from the marts,
5. stops the server, and builds the report (output/report/index.html) from the marts.
Run it again and it does the same again.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.fixtures.airflow_history import VERSIONS, fill, load_schema
from tests.fixtures.postgres import ThrowawayPostgres

ROOT = Path(__file__).resolve().parents[1]
REPORT_TABLES = (
    "log,ab_user_role,ab_permission_view,ab_permission_view_role,ab_view_menu,connection,variable,"
    "slot_pool,dag_warning"
)
# The demo's own key for the connection and variable fingerprints (the history marts); a real
# deployment sets a random one of its own and keeps it like a password.
DEMO_FINGERPRINT_KEY = "demo-only-fingerprint-key-not-for-real-use"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--airflow-version", default="2.10.5", choices=VERSIONS)
    parser.add_argument("--dags", type=int, default=20)
    parser.add_argument("--days", type=int, default=14)
    args = parser.parse_args()

    version = args.airflow_version
    warehouse = ROOT / "output" / f"demo_airflow_{version.replace('.', '_')}.duckdb"
    schema = "airflow-local"
    started = time.monotonic()
    with ThrowawayPostgres(ROOT / ".demo") as server:
        url = server.create_database(f"airflow_{version.replace('.', '_')}")
        load_schema(url, version)
        counts = fill(url, version, dags=args.dags, days=args.days)
        print(
            f"demo: Airflow {version} database with {counts.get('dag_run', 0):,} DAG runs and "
            f"{counts.get('task_instance', 0):,} task instances at "
            f"{urlsplit(url).hostname}:{urlsplit(url).port}{urlsplit(url).path}",
            flush=True,
        )
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_AUDIT_", "AIRFLOW__"))
        }
        env.update(
            AIRFLOW_AUDIT_SOURCE_URL=url,
            AIRFLOW_AUDIT_DUCKDB_PATH=str(warehouse),
            # on top of the default tables, what the report's audit trail and access pages read
            AIRFLOW_AUDIT_ADDITIONAL_TABLES=REPORT_TABLES,
            AIRFLOW_AUDIT_FINGERPRINT_KEY=DEMO_FINGERPRINT_KEY,
            # the demo's history is two weeks: its last week against the one before
            AIRFLOW_AUDIT_TREND_WINDOW_DAYS=str(max(1, args.days // 2)),
        )
        done = subprocess.run(
            [str(ROOT / ".venv/bin/meltano"), "run", "airflow-audit"], cwd=ROOT, env=env
        )
        if done.returncode != 0:
            print("demo: `meltano run airflow-audit` failed; its log is above.", file=sys.stderr)
            return done.returncode
    print_summary(warehouse, f"{schema}_marts")
    report = subprocess.run(
        [str(ROOT / ".venv/bin/meltano"), "--log-level=warning", "invoke", "airflow-audit-report"],
        cwd=ROOT,
        env=env,
    )
    if report.returncode != 0:
        print("demo: the report could not be built; its log is above.", file=sys.stderr)
        return report.returncode
    print(f"\ndemo: the report is {ROOT / 'output/report/index.html'} (open it in a browser)")
    print(f"\ndemo: done in {time.monotonic() - started:.0f} s; query it with:")
    print(f"  {query_hint(warehouse.relative_to(ROOT), schema)}")
    return 0


def query_hint(warehouse: Path, schema: str) -> str:
    """The shell command the demo prints to query its marts. The connection is held in a variable:
    `duckdb.connect(...).sql(...).show()` closes it before `show()` reads (DuckDB 1.4.5)."""
    return (
        f".venv/bin/python -c \"import duckdb; con = duckdb.connect('{warehouse}', read_only=True); "
        f'con.sql(\'from \\"{schema}_marts\\".fct_dag_runs limit 5\').show()"'
    )


def print_summary(warehouse: Path, marts: str) -> None:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        print(f"\nDAG runs by state ({marts}.fct_dag_runs)")
        rows = con.execute(
            f'select state, count(*) from "{marts}".fct_dag_runs group by 1 order by 2 desc'
        ).fetchall()
        for state, count in rows:
            print(f"  {state or '(none)':<12} {count:>7,}")
        print(f"\nDAGs that fail most ({marts}.fct_task_instances, failed task instances)")
        rows = con.execute(
            f"""
            select dag_id,
                   count(*) filter (where state = 'failed') as failed,
                   count(*) as total
            from "{marts}".fct_task_instances
            group by 1
            having count(*) filter (where state = 'failed') > 0
            order by 2 desc, 1
            limit 5
            """
        ).fetchall()
        for dag_id, failed, total in rows:
            print(f"  {dag_id:<40} {failed:>5} of {total:>6,} ({failed / total:.1%})")


if __name__ == "__main__":
    sys.exit(main())
