"""Where the report reads the marts: DuckDB directly (the embedded default), the other warehouses
through their dbt plugin (`dbt show` with the job's own profile, so no second set of credentials).

Either way every dataset comes back as {"columns": [...], "rows": [[...], ...]} with JSON values,
per environment (slug): a DuckDB file may hold several, each in `airflow-<slug>` and its `_marts`.
A mart that is not there yet (no sync, or a table not synced) comes back as no rows.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined

from airflow_audit_core.errors import UserError
from airflow_audit_core.naming import SCHEMA_PREFIX, destination_schema
from airflow_audit_core.quoting import quote, quote_bigquery

MARTS_SUFFIX = "_marts"


def jsonable(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class Destination:
    slug: str
    raw_schema: str

    @property
    def marts_schema(self) -> str:
        return self.raw_schema + MARTS_SUFFIX


def slug_of(raw_schema: str) -> str:
    return raw_schema[len(SCHEMA_PREFIX) :] if raw_schema.startswith(SCHEMA_PREFIX) else raw_schema


class DuckDBWarehouse:
    """The DuckDB file, read-only."""

    def __init__(self, path: Path) -> None:
        import duckdb

        if not path.exists():
            raise UserError(
                f"There is no warehouse at {path}: run the sync first (`meltano run airflow-audit`), "
                "or set AIRFLOW_AUDIT_DUCKDB_PATH to the DuckDB file it writes."
            )
        try:
            self.con = duckdb.connect(str(path), read_only=True)
        except duckdb.Error as exc:
            raise UserError(
                f"{path} cannot be opened as a DuckDB file ({str(exc).splitlines()[0]}): point "
                "AIRFLOW_AUDIT_DUCKDB_PATH at the warehouse the sync writes."
            ) from None

    def environments(self, configured: str | None) -> list[Destination]:
        """Every schema holding a sync's bookkeeping, the configured one first."""
        found = [
            s
            for (s,) in self.con.execute(
                "select schema_name from duckdb_tables() where table_name = '_airflow_audit_extracts' "
                "order by 1"
            ).fetchall()
        ]
        if configured and configured not in found:
            found.insert(0, configured)
        elif configured:
            found.remove(configured)
            found.insert(0, configured)
        return [Destination(slug_of(s), s) for s in found]

    def _exists(self, schema: str, table: str) -> bool:
        return bool(
            self.con.execute(
                "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
                [schema, table],
            ).fetchone()[0]
            + self.con.execute(
                "select count(*) from duckdb_views() where schema_name = ? and view_name = ?",
                [schema, table],
            ).fetchone()[0]
        )

    def read(self, env: Destination, queries: dict[str, str]) -> dict[str, dict]:
        results = {}
        for name, sql in queries.items():
            missing: list[str] = []

            def ref(model: str, env=env, missing=missing) -> str:
                if not self._exists(env.marts_schema, model):
                    missing.append(model)
                return f"{quote(env.marts_schema)}.{quote(model)}"

            def raw(table: str, env=env, missing=missing) -> str:
                if not self._exists(env.raw_schema, table):
                    missing.append(table)
                return f"{quote(env.raw_schema)}.{quote(table)}"

            text = render(sql, ref=ref, raw=raw)
            if missing:
                results[name] = {"columns": [], "rows": [], "missing": missing}
                continue
            try:
                cursor = self.con.execute(text)
            except Exception as exc:  # a column an older sync lacks: that dataset is empty
                results[name] = {"columns": [], "rows": [], "error": str(exc).splitlines()[0]}
                continue
            columns = [d[0] for d in cursor.description]
            rows = [jsonable(list(r)) for r in cursor.fetchall()]
            results[name] = {"columns": columns, "rows": rows}
        return results


class DbtWarehouse:
    """Snowflake, Redshift or BigQuery: `dbt show` in the warehouse's dbt plugin, one process
    for every query (dbt parses the project once)."""

    def __init__(self, warehouse: str, project_root: Path) -> None:
        self.warehouse = warehouse
        self.python = (
            project_root / ".meltano/transformers" / f"dbt-{warehouse}" / "venv/bin/python"
        )
        if not self.python.exists():
            raise UserError(
                f"dbt-{warehouse} is not installed: run `meltano install` (the report reads "
                f"{warehouse} through it, with the job's own profile)."
            )
        self.project_root = project_root

    def environments(self, configured: str | None) -> list[Destination]:
        schema = configured or destination_schema(
            os.environ.get("AIRFLOW_AUDIT_ENV_SLUG"),
            os.environ.get("AIRFLOW_AUDIT_DESTINATION_SCHEMA"),
            self.warehouse,
        )
        return [Destination(slug_of(schema), schema)]

    def read(self, env: Destination, queries: dict[str, str]) -> dict[str, dict]:
        def raw(table: str) -> str:
            if self.warehouse == "snowflake":  # upper-cased, `-` already `_` (naming.legal_for)
                return f"{env.raw_schema}.{table}"
            if self.warehouse == "bigquery":
                return f"{quote_bigquery(env.raw_schema)}.{quote_bigquery(table)}"
            return f"{quote(env.raw_schema)}.{quote(table)}"

        def ref(model: str) -> str:
            return "{{ ref('" + model + "') }}"  # resolved by dbt itself

        inline = {name: render(sql, ref=ref, raw=raw) for name, sql in queries.items()}
        script = Path(__file__).with_name("dbt_show.py")
        project = Path(os.environ.get("DBT_PROJECT_DIR") or self.project_root / "transform")
        env = {
            **os.environ,
            "DBT_PROJECT_DIR": str(project),
            "DBT_PROFILES_DIR": os.environ.get("DBT_PROFILES_DIR")
            or str(project / "profiles" / self.warehouse),
            # its own target/: a sync's dbt may run meanwhile
            "DBT_TARGET_PATH": os.environ.get("DBT_TARGET_PATH")
            or str(project / "target" / f"report-{self.warehouse}"),
            "DBT_LOG_PATH": os.environ.get("DBT_LOG_PATH")
            or str(project / "logs" / f"report-{self.warehouse}"),
        }
        done = subprocess.run(
            [str(self.python), str(script)],
            input=json.dumps(inline),
            capture_output=True,
            text=True,
            cwd=project,
            env=env,
            check=False,
        )
        if done.returncode != 0:
            raise UserError(
                f"dbt-{self.warehouse} could not read the marts ({(done.stderr or done.stdout).strip().splitlines()[-1:]}): "
                f"check that `meltano run {job_name(self.warehouse)}` has run."
            )
        return json.loads(done.stdout)


def job_name(warehouse: str) -> str:
    return "airflow-audit" if warehouse == "duckdb" else f"airflow-audit-{warehouse}"


def render(sql: str, **functions: Any) -> str:
    return Environment(undefined=StrictUndefined).from_string(sql).render(**functions)


def open_warehouse(warehouse: str, project_root: Path, duckdb_path: Path | None):
    if warehouse == "duckdb":
        return DuckDBWarehouse(duckdb_path or project_root / "output/airflow_audit.duckdb")
    return DbtWarehouse(warehouse, project_root)


if __name__ == "__main__":
    sys.exit("run airflow-audit-report")
