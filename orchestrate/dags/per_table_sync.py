"""Per-table mode, like Cloud Composer's export: one DAG per table, start times staggered.

per_table.json lists the tables and the window (default 00:00 to 00:30 UTC) their daily runs
are spread across, so no two start together. Each DAG extracts and loads its one table
(AIRFLOW_AUDIT_TABLES=["<table>"], no dbt), then reconciles the table in the warehouse
against the source. Parsing reads per_table.json and nothing else.
"""

from __future__ import annotations

from pathlib import Path

from airflow_audit_operator import (
    AirflowMetadataReconcileOperator,
    AirflowMetadataSyncOperator,
)
from airflow_audit_operator.compat import DAG
from airflow_audit_operator.dag_specs import (
    START_DATE,
    TAG,
    default_args,
    load_per_table,
)

CONFIG = load_per_table(Path(__file__).with_name("per_table.json"))

for spec in CONFIG.tables:
    with DAG(
        dag_id=spec.dag_id,
        description=f"Copy Airflow's {spec.table} table to the warehouse, then reconcile it",
        schedule=spec.cron,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=default_args(),
        tags=[TAG, "per-table"],
    ) as generated:
        shared = {
            "warehouse": CONFIG.warehouse,
            "service_connection_name": CONFIG.service_connection_name,
            "destination_schema": CONFIG.destination_schema,
        }
        load = AirflowMetadataSyncOperator(
            task_id=f"load_{spec.table}",
            tables=[spec.table],
            meltano_run=list(CONFIG.meltano_run),
            **shared,
        )
        if CONFIG.reconcile:
            load >> AirflowMetadataReconcileOperator(table=spec.table, **shared)
    globals()[spec.dag_id] = generated
