"""`airflow-audit-reconcile <warehouse>`: the command Meltano runs after each warehouse's load."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from types import ModuleType

import sqlalchemy as sa

from airflow_audit_core.contract import SYNC_AUDIT
from airflow_audit_core.errors import UserError, exit_on_user_error
from airflow_audit_core.modes import parse_mode
from airflow_audit_core.warehouses import DEFAULT_WAREHOUSE, WAREHOUSES, job_for
from airflow_audit_reconcile.compare import Outcome, Reconciler
from tap_airflow_metadb.source import connection_problem, source_url_of_sync

PROG = "airflow-audit-reconcile"


def adapter_of(warehouse: str) -> ModuleType:
    """The warehouse folder's reconcile adapter module."""
    return importlib.import_module(f"airflow_audit_loader.{warehouse}.reconcile")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", nargs="?", default=DEFAULT_WAREHOUSE, choices=WAREHOUSES)
    parser.add_argument(
        "--table",
        action="append",
        default=[],
        help="reconcile only this table (repeatable); default: every table the last sync read",
    )
    args = parser.parse_args(argv)
    with exit_on_user_error(PROG):
        reconcile(args.warehouse, args.table)


def reconcile(warehouse_name: str, tables: list[str] | None = None) -> None:
    env = os.environ
    mode = parse_mode(env.get("AIRFLOW_AUDIT_MODE"))
    url = source_url_of_sync(
        env.get("AIRFLOW_AUDIT_SOURCE_URL"), env.get("AIRFLOW_AUDIT_SOURCE_DUMP")
    )
    source_schema = (env.get("AIRFLOW_AUDIT_SOURCE_SCHEMA") or "").strip() or "public"
    adapter = adapter_of(warehouse_name)
    warehouse = adapter.open_warehouse(env, PROG)
    engine = sa.create_engine(url, connect_args={"connect_timeout": 15})
    schema = warehouse.schema
    try:
        if not warehouse.has_extracts():
            raise UserError(
                f"Nothing to reconcile in schema {schema!r} {warehouse.location()}: run the "
                f"sync first (meltano run {job_for(warehouse_name)})."
            )
        try:
            outcomes = Reconciler(engine, source_schema, warehouse, mode).run(tables or None)
        except sa.exc.OperationalError as exc:
            raise UserError(connection_problem(url, exc)) from None
        except sa.exc.SQLAlchemyError as exc:
            raise UserError(
                f"Reconciliation could not read the source database ({first_line(exc)}); the "
                "warehouse is as the load left it: fix the source or its grants, then run again."
            ) from None
        except getattr(adapter, "DRIVER_ERRORS", ()) as exc:
            raise UserError(
                f"The {warehouse_name} warehouse refused reconciliation ({first_line(exc)}) in "
                f"schema {schema!r} {warehouse.location()}; each table's deletes are one "
                "transaction, so none is half done: fix it, then run again."
            ) from None
    finally:
        warehouse.close()
        engine.dispose()
    report(outcomes)
    bad = [o for o in outcomes if o.outcome == "mismatch"]
    if bad:
        first = bad[0]
        what = (
            f"lacks {first.missing_in_warehouse} rows that the source had when it was read"
            if first.missing_in_warehouse
            else f"holds {first.duplicated_in_warehouse} keys more than once"
        )
        others = (
            f" (and {len(bad) - 1} more tables, see {schema}.{SYNC_AUDIT})" if len(bad) > 1 else ""
        )
        raise UserError(
            f"Reconciliation failed: the warehouse table {schema}.{first.table} {what}{others}; "
            f"rerun with AIRFLOW_AUDIT_FULL_REFRESH={','.join(o.table for o in bad)} to reload."
        )


def report(outcomes: list[Outcome]) -> None:
    for o in outcomes:
        extra = []
        if o.deleted_at_source:
            extra.append(f"{o.deleted_at_source} deleted at the source")
        if o.arrived_after_extract:
            extra.append(f"{o.arrived_after_extract} changed since the read (next sync)")
        if o.missing_in_warehouse:
            extra.append(f"{o.missing_in_warehouse} MISSING")
        if o.duplicated_in_warehouse:
            extra.append(f"{o.duplicated_in_warehouse} DUPLICATED")
        if o.comparison == "counts":
            extra.append("nothing deleted since the last check: proved by counts")
        note = f" ({'; '.join(extra)})" if extra else ""
        print(
            f"{PROG}: {o.table}: source {o.source_rows}, warehouse {o.warehouse_rows}: "
            f"{o.outcome}{note}",
            file=sys.stderr,
            flush=True,
        )


if __name__ == "__main__":
    main()
