"""The Airflow names this package uses, from wherever the running Airflow (2.10 or 3.x) keeps them.

Airflow 3 moved the DAG-authoring API to `airflow.sdk`; Airflow 2 has it in `airflow.models`,
`airflow.decorators` and `airflow.hooks.base`. Everything Airflow-specific is imported here.
"""

from __future__ import annotations

from typing import Any

from airflow import __version__ as AIRFLOW_VERSION

AIRFLOW_3 = int(AIRFLOW_VERSION.split(".", 1)[0]) >= 3

if AIRFLOW_3:
    from airflow.sdk import DAG, BaseOperator, dag

    try:  # 3.1+
        from airflow.sdk import BaseHook
    except ImportError:  # 3.0
        from airflow.hooks.base import BaseHook
    try:  # 3.1+
        from airflow.sdk.exceptions import (
            AirflowException,
            AirflowFailException,
            AirflowNotFoundException,
        )
    except ImportError:  # 3.0
        from airflow.exceptions import (
            AirflowException,
            AirflowFailException,
            AirflowNotFoundException,
        )
    try:  # 3.1+
        from airflow.sdk.log import mask_secret
    except ImportError:  # 3.0
        from airflow.sdk.execution_time.secrets_masker import mask_secret
else:
    from airflow.decorators import dag
    from airflow.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
    )
    from airflow.hooks.base import BaseHook
    from airflow.models.baseoperator import BaseOperator
    from airflow.models.dag import DAG
    from airflow.utils.log.secrets_masker import mask_secret

__all__ = [
    "AIRFLOW_3",
    "AIRFLOW_VERSION",
    "DAG",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "BaseOperator",
    "configured_database",
    "dag",
    "get_connection",
    "mask_secret",
]


def get_connection(conn_id: str) -> Any:
    """The connection, from the secrets backends, environment (AIRFLOW_CONN_*) or database."""
    return BaseHook.get_connection(conn_id)


def configured_database() -> tuple[str | None, str | None]:
    """Airflow's own `[database] sql_alchemy_conn` and `sql_alchemy_schema`, as this task sees them."""
    from airflow.configuration import conf

    try:
        url = conf.get("database", "sql_alchemy_conn", fallback=None)
        schema = conf.get("database", "sql_alchemy_schema", fallback=None)
    except Exception:  # Airflow 3 blocks it inside tasks, in more than one way
        return None, None
    return url or None, schema or None
