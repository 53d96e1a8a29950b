"""airflow-audit in Airflow: the operators, and what the generated DAGs are made of.

    from airflow_audit_operator import AirflowMetadataSyncOperator

The operators import Airflow (2.10 or 3.x); the other modules (connection_settings,
meltano_command, dag_specs) do not, so they also run in Meltano's virtualenv and in
the project's tests. The operators are loaded on first use for that reason.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AirflowAuditAlertsOperator",
    "AirflowMetadataReconcileOperator",
    "AirflowMetadataRowCountCheckOperator",
    "AirflowMetadataSyncOperator",
    "MeltanoRunOperator",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from airflow_audit_operator import operators

        return getattr(operators, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
