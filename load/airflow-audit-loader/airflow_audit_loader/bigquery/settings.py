"""BigQuery: the settings registry, and Meltano's settings -> z3z1ma's target-bigquery configuration.

Raw dataset `airflow_<slug>` (dataset names allow no `-`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_audit_core.errors import UserError
from airflow_audit_loader.registry import Setting, require, split

DEFAULT_BIGQUERY_LOCATION = "US"

SETTINGS = (
    Setting("project", "AIRFLOW_AUDIT_BIGQUERY_PROJECT", login=True),
    Setting("location", "AIRFLOW_AUDIT_BIGQUERY_LOCATION", login=True),
    Setting("credentials_path", "AIRFLOW_AUDIT_BIGQUERY_CREDENTIALS_PATH", login=True),
    Setting(
        "credentials_json",
        "AIRFLOW_AUDIT_BIGQUERY_CREDENTIALS_JSON",
        "password",
        secret=True,
        login=True,
    ),
    Setting("batch_size", kind="integer", value=100000),
    Setting("cluster_on_key_properties", kind="boolean", value=True),
)


def target_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Meltano's target-airflow-audit-bigquery settings -> z3z1ma's target-bigquery configuration."""
    target, schema, mode = split(config, "bigquery")
    require(target, {"project": "AIRFLOW_AUDIT_BIGQUERY_PROJECT"}, "BigQuery")
    if target.get("credentials_path") and target.get("credentials_json"):
        raise UserError(
            "Both AIRFLOW_AUDIT_BIGQUERY_CREDENTIALS_PATH and AIRFLOW_AUDIT_BIGQUERY_CREDENTIALS_JSON "
            "are set: keep one of them (or neither, for application-default credentials)."
        )
    target.update(
        dataset=schema,
        # Real columns, not one JSON blob per row.
        denormalized=True,
        # Upsert on the primary key: rows go to a scratch table, then one MERGE per table.
        upsert=True,
        dedupe_before_upsert=True,
        # Not a setting of this target, which ignores ACTIVATE_VERSION: the shim applies it.
        hard_delete=mode == "mirror",
    )
    target.setdefault("location", DEFAULT_BIGQUERY_LOCATION)
    # Load jobs, not streaming: rows still in a streaming buffer cannot be updated or deleted,
    # and mirror/archive update or delete them right after the load.
    target.setdefault("method", "batch_job")
    return target
