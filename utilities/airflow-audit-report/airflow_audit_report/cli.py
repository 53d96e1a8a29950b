"""`airflow-audit-report`: build the audit report (a static site) from the marts.

    meltano invoke airflow-audit-report                 # the job's warehouse -> output/report/
    meltano invoke airflow-audit-report --warehouse snowflake --output /srv/report
    meltano invoke airflow-audit-report alerts [--all] [--json]   # rpt_alerts: the new ones

`alerts` prints the alerts the latest sync raised (rpt_alerts.is_new; --all: every current one),
most severe first, one line each, or a JSON list with --json (what the generated DAGs' notifier
task sends).

DuckDB (the default) is read directly, every environment (slug) it holds; Snowflake, Redshift and
BigQuery through their dbt plugin with the job's own profile.  Open `index.html`: it needs no
server and no network.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from airflow_audit_core.errors import UserError, exit_on_user_error
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
    parser.add_argument(
        "command", nargs="?", choices=("build", "alerts"), default="build",
        help="build the report (the default), or print the alerts",
    )  # fmt: skip
    parser.add_argument("--all", action="store_true", help="alerts: every current one, not the new")
    parser.add_argument("--json", action="store_true", help="alerts: as a JSON list")
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
        if args.command == "alerts":
            print_alerts(reader, schema, every=args.all, as_json=args.json)
            return
        output = args.output or root / "output" / "report"
        label = str(path) if args.warehouse == "duckdb" else args.warehouse
        pages = build(reader, output, schema, label)
        print(f"{PROG}: wrote {len(pages)} pages; open {pages[0]}", file=sys.stderr)


ALERT_COLUMNS = ("alert_kind", "severity", "raised_at", "dag_id", "subject", "message", "alert_key")


def print_alerts(reader, schema: str, *, every: bool, as_json: bool) -> None:
    """rpt_alerts of the configured environment: the new ones (or all), most severe first."""
    env = reader.environments(schema)[0]
    where = "" if every else " where is_new"
    sql = (
        f"select {', '.join(ALERT_COLUMNS)} from {{{{ ref('rpt_alerts') }}}}{where} "
        "order by severity_rank, raised_at, alert_key"
    )
    found = reader.read(env, {"alerts": sql})["alerts"]
    if found.get("missing") or found.get("error"):
        raise UserError(
            f"{env.marts_schema} has no rpt_alerts to read ({found.get('error') or 'not built'}): "
            "run the job (`meltano run airflow-audit`) first."
        )
    alerts = [dict(zip(found["columns"], row, strict=True)) for row in found["rows"]]
    if as_json:
        print(json.dumps(alerts, indent=2))
        return
    for alert in alerts:
        print(f"[{alert['severity']}] {alert['raised_at']}  {alert['message']}")
    print(
        f"{PROG}: {len(alerts)} {'current' if every else 'new'} alerts in {env.slug}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
