"""How each Airflow table is read: the growing ones incrementally, the small ones in full.

Incremental tables are read by PostgreSQL row version (`xmin`, see tap.py), so no Airflow
column has to be trusted; the split below is only about cost.  A full read of a small table
also carries its deletes (loaders drop or mark rows the read did not return); deletes in
incremental tables are found by `airflow-audit-reconcile`.
"""

from __future__ import annotations

from typing import Any

# Tables that grow with every DAG run, task try, login or parse; every other table is small
# (users, roles, DAGs, pools, connections ...) and is read in full on every sync.
INCREMENTAL_TABLES: frozenset[str] = frozenset(
    {
        "asset_event",
        "backfill",
        "backfill_dag_run",
        "callback",
        "callback_request",
        "dag_code",
        "dag_run",
        "dag_run_note",
        "dag_version",
        "dagrun_asset_event",
        "dagrun_dataset_event",
        "dataset_event",
        "deadline",
        "hitl_detail",
        "import_error",
        "job",
        "log",
        "rendered_task_instance_fields",
        "serialized_dag",
        "session",
        "sla_miss",
        "task_fail",
        "task_instance",
        "task_instance_history",
        "task_instance_note",
        "task_map",
        "task_reschedule",
        "trigger",
        "xcom",
    }
)

BOOKMARK_KEY = "airflow_audit_xmin"
SOURCE_KEY = "airflow_audit_source"
EXTRACTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "table_name": {"type": ["string"]},
        "extracted_at": {"type": ["string", "null"], "format": "date-time"},
        "snapshot_xmin": {"type": ["integer"]},
        "snapshot_xmax": {"type": ["integer"]},
        "previous_bookmark": {"type": ["integer", "null"]},
        "full_read": {"type": ["boolean"]},
        # `incremental`, or `full read: <why>` (reconciliation copies it into _sync_audit)
        "extraction": {"type": ["string", "null"]},
        "records_sent": {"type": ["integer"]},
        "source_rows": {"type": ["integer"]},
        # the sync's one instant: when the snapshot every table of the sync was read in was
        # taken (snapshot.py), and whether the tables shared it
        "snapshot_taken_at": {"type": ["string", "null"], "format": "date-time"},
        "snapshot_shared": {"type": ["boolean", "null"]},
        # the Airflow release whose schema the source holds (alembic revision, airflow_versions.py)
        "airflow_version": {"type": ["string", "null"]},
    },
}


def is_incremental(table: str) -> bool:
    return table in INCREMENTAL_TABLES


def usable_bookmark(bookmark: object, snapshot_xmax: int, max_age: int) -> int | None:
    """The bookmark, unless it cannot describe this database's transactions."""
    if not isinstance(bookmark, int) or bookmark <= 0:
        return None
    if bookmark > snapshot_xmax:  # a restored or different cluster: its xids started anew
        return None
    if snapshot_xmax - bookmark > max_age:  # 32-bit xids may have wrapped since
        return None
    return bookmark
