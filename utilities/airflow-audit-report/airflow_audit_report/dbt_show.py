"""Run in a dbt plugin's venv by the report: named SQL (JSON on stdin) through `dbt show`, the
rows as JSON on stdout.  A query whose relation does not exist yet comes back empty."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import sys

from dbt.cli.main import dbtRunner


# warehouse.jsonable's rule, repeated: this file runs alone in the dbt plugin's venv, where the
# report's package is not installed.
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
    problems: list[str] = []

    def keep_errors(event) -> None:
        if event.info.level == "error":
            problems.append(event.info.msg)

    manifest = parsed.result
    runner = dbtRunner(manifest=manifest, callbacks=[keep_errors])
    results = {}
    for name, sql in queries.items():
        problems.clear()
        # dbt leaves a failed query's inline node in the manifest and refuses the next one as its
        # duplicate: removed before each.  A failed query is tried once more (a connection's first
        # query may meet a transient error; fakesnow's attach does).
        for attempt in range(2):
            for key in [k for k in manifest.nodes if k.startswith("sql_operation.")]:
                manifest.nodes.pop(key)
            done = runner.invoke(["show", "--inline", sql, "--limit", "-1", "--log-level", "none"])
            if done.success or attempt:
                break
            problems.clear()
        if not done.success or done.result is None:
            why = "; ".join(problems) or done.exception
            results[name] = {"columns": [], "rows": [], "error": str(why or "not readable")[:500]}
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
