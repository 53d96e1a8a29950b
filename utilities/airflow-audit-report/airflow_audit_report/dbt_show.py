"""Run in a dbt plugin's venv by the report: named SQL (JSON on stdin) through `dbt show`, the
rows as JSON on stdout.  A query whose relation does not exist yet comes back empty."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import sys

from dbt.cli.main import dbtRunner


def jsonable(value):
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def main() -> int:
    queries = json.load(sys.stdin)
    parsed = dbtRunner().invoke(["parse", "--quiet"])
    if not parsed.success:
        print("dbt could not parse the project", file=sys.stderr)
        return 1
    runner = dbtRunner(manifest=parsed.result)
    results = {}
    for name, sql in queries.items():
        done = runner.invoke(["show", "--inline", sql, "--limit", "-1", "--log-level", "none"])
        if not done.success or done.result is None:
            results[name] = {"columns": [], "rows": [], "error": "not readable"}
            continue
        table = done.result.results[0].agate_table
        results[name] = {
            "columns": [c.lower() for c in table.column_names],
            "rows": [[jsonable(v) for v in row] for row in table.rows],
        }
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
