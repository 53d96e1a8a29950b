"""`airflow-audit-report`: build the audit report (a static site) from the marts.

    meltano invoke airflow-audit-report                 # the job's warehouse -> output/report/
    meltano invoke airflow-audit-report --warehouse snowflake --output /srv/report

DuckDB (the default) is read directly, every environment (slug) it holds; Snowflake, Redshift and
BigQuery through their dbt plugin with the job's own profile.  Open `index.html`: it needs no
server and no network.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from airflow_audit_core.errors import exit_on_user_error
from airflow_audit_core.naming import destination_schema
from airflow_audit_core.warehouses import DEFAULT_WAREHOUSE, WAREHOUSES
from airflow_audit_report.build import build
from airflow_audit_report.warehouse import open_warehouse

PROG = "airflow-audit-report"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument(
        "--warehouse",
        choices=WAREHOUSES,
        default=os.environ.get("AIRFLOW_AUDIT_REPORT_WAREHOUSE") or DEFAULT_WAREHOUSE,
    )
    parser.add_argument("--output", type=Path, help="default: output/report in the project")
    args = parser.parse_args(argv)
    root = Path(os.environ.get("MELTANO_PROJECT_ROOT") or Path.cwd())
    with exit_on_user_error(PROG):
        duckdb_path = os.environ.get("AIRFLOW_AUDIT_DUCKDB_PATH") or "output/airflow_audit.duckdb"
        path = Path(duckdb_path) if Path(duckdb_path).is_absolute() else root / duckdb_path
        reader = open_warehouse(args.warehouse, root, path)
        schema = destination_schema(
            os.environ.get("AIRFLOW_AUDIT_ENV_SLUG"),
            os.environ.get("AIRFLOW_AUDIT_DESTINATION_SCHEMA"),
            args.warehouse,
        )
        output = args.output or root / "output" / "report"
        label = str(path) if args.warehouse == "duckdb" else args.warehouse
        pages = build(reader, output, schema, label)
        print(f"{PROG}: wrote {len(pages)} pages; open {pages[0]}", file=sys.stderr)


if __name__ == "__main__":
    main()
