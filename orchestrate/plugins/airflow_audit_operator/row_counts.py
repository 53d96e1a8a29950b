"""`python -m airflow_audit_operator.row_counts --table T`: T's rows in the source and the warehouse.

Runs in meltano's virtualenv (the project's `.venv`: psycopg2 and the project's pinned duckdb),
started by `AirflowMetadataRowCountCheckOperator` with the same environment as the load (the
venv has the operator package and airflow-audit-core installed, `make install`). Prints one JSON line:
`{"table", "relation", "source_rows", "warehouse_rows"}`; a problem ends in one sentence on
stderr and exit code 2.

Only DuckDB is counted for now. Another warehouse needs its driver here and a count of
`<schema>.<table> where _sdc_deleted_at is null`; see orchestrate/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

DEFAULT_DUCKDB = Path("output") / "airflow_audit.duckdb"


class CountError(RuntimeError):
    """A problem to report in one sentence."""


def source_rows(table: str, environ: Mapping[str, str]) -> int:
    import psycopg2

    url = (
        environ.get("AIRFLOW_AUDIT_SOURCE_URL")
        or environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    ) or ""
    if not url.strip():
        raise CountError("No source database: AIRFLOW_AUDIT_SOURCE_URL is not set.")
    scheme, _, rest = url.strip().partition("://")
    if scheme.split("+", 1)[0] not in ("postgres", "postgresql"):
        raise CountError(f"The source is a {scheme} database; airflow-audit reads PostgreSQL.")
    dsn = f"postgresql://{rest}"
    schema = environ.get("AIRFLOW_AUDIT_SOURCE_SCHEMA") or "public"
    try:
        conn = psycopg2.connect(dsn, connect_timeout=15)
        try:
            with conn.cursor() as cur:
                cur.execute(f"select count(*) from {_quote(schema)}.{_quote(table)}")
                (count,) = cur.fetchone()
        finally:
            conn.close()
    except psycopg2.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CountError(f"Cannot count {schema}.{table} in the source: {first}.") from None
    return int(count)


def warehouse_schema(warehouse: str, environ: Mapping[str, str]) -> str:
    """The loader's rule (airflow_audit_core.naming), so the check looks where the load wrote."""
    from airflow_audit_core.naming import destination_schema

    return destination_schema(
        environ.get("AIRFLOW_AUDIT_ENV_SLUG"),
        environ.get("AIRFLOW_AUDIT_DESTINATION_SCHEMA"),
        warehouse,
    )


def duckdb_rows(table: str, schema: str, project_dir: Path, environ: Mapping[str, str]) -> int:
    import duckdb

    path = Path(environ.get("AIRFLOW_AUDIT_DUCKDB_PATH") or DEFAULT_DUCKDB)
    if not path.is_absolute():
        path = project_dir / path
    if not path.is_file():
        raise CountError(f"The DuckDB file {path} does not exist: the load wrote nothing.")
    with duckdb.connect(str(path), read_only=True) as con:
        found = con.execute(
            "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
        if not found:
            raise CountError(
                f"The warehouse has no table {schema}.{table}: the load wrote nothing."
            )
        return con.execute(
            f"select count(*) from {_quote(schema)}.{_quote(table)} where _sdc_deleted_at is null"
        ).fetchone()[0]


def count_rows(table: str, warehouse: str, project_dir: Path, environ: Mapping[str, str]) -> dict:
    if warehouse != "duckdb":
        raise CountError(
            f"Row-count checks read DuckDB only for now, not {warehouse}: set check_row_counts "
            "to false in orchestrate/dags/per_table.json."
        )
    schema = warehouse_schema(warehouse, environ)
    loaded = duckdb_rows(table, schema, project_dir, environ)
    return {
        "table": table,
        "relation": f"{schema}.{table}",
        "source_rows": source_rows(table, environ),
        "warehouse_rows": loaded,
    }


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_audit_operator.row_counts")
    parser.add_argument("--table", required=True)
    parser.add_argument("--warehouse", default="duckdb")
    parser.add_argument("--project-dir", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    try:
        result = count_rows(args.table, args.warehouse, args.project_dir, os.environ)
    except Exception as exc:  # one sentence, whatever went wrong
        print(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc), file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
