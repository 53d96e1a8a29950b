"""The warehouses the project loads, and the Meltano job (meltano.yml) that loads each.

Each warehouse has one folder in the loader package
(load/airflow-audit-loader/airflow_audit_loader/<warehouse>/) holding its target, its settings
registry and its reconcile adapter.
"""

from __future__ import annotations

from airflow_audit_core.errors import UserError

DEFAULT_WAREHOUSE = "duckdb"
WAREHOUSES = ("duckdb", "snowflake", "redshift", "bigquery")
JOB_PREFIX = "airflow-audit"


def check_warehouse(warehouse: str) -> str:
    if warehouse not in WAREHOUSES:
        raise UserError(f"Unknown warehouse {warehouse!r}: choose one of {', '.join(WAREHOUSES)}.")
    return warehouse


def job_for(warehouse: str) -> str:
    """The Meltano job that syncs into `warehouse`: `airflow-audit` for the embedded default."""
    check_warehouse(warehouse)
    return JOB_PREFIX if warehouse == DEFAULT_WAREHOUSE else f"{JOB_PREFIX}-{warehouse}"


JOBS = {warehouse: job_for(warehouse) for warehouse in WAREHOUSES}
