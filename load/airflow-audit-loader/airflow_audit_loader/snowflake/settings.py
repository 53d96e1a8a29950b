"""Snowflake: the settings registry, and Meltano's settings -> the MeltanoLabs target's configuration.

Raw schema `AIRFLOW_<SLUG>`: target-airflow-audit-snowflake upper-cases the schema and conforms `-` to `_` when it
creates it but not when it writes, so the only name it loads end to end is the upper-case, `_`
form (docs/warehouses.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_audit_core.errors import UserError
from airflow_audit_loader.registry import Setting, require, split

SETTINGS = (
    Setting("account", "AIRFLOW_AUDIT_SNOWFLAKE_ACCOUNT", login=True),
    Setting("user", "AIRFLOW_AUDIT_SNOWFLAKE_USER", login=True),
    Setting("password", "AIRFLOW_AUDIT_SNOWFLAKE_PASSWORD", "password", secret=True, login=True),
    Setting(
        "private_key", "AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY", "password", secret=True, login=True
    ),
    Setting("private_key_path", "AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY_PATH", login=True),
    Setting(
        "private_key_passphrase",
        "AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE",
        "password",
        secret=True,
        login=True,
    ),
    Setting("role", "AIRFLOW_AUDIT_SNOWFLAKE_ROLE", login=True),
    Setting("warehouse", "AIRFLOW_AUDIT_SNOWFLAKE_WAREHOUSE", login=True),
    Setting("database", "AIRFLOW_AUDIT_SNOWFLAKE_DATABASE", login=True),
    Setting("timestamp_type", value="TIMESTAMP_TZ"),
    Setting("uuid_format", value="string"),
    Setting("validate_records", kind="boolean", value=False),
    Setting("batch_size_rows", kind="integer", value=100000),
)


def target_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Meltano's target-airflow-audit-snowflake settings -> the MeltanoLabs target-snowflake configuration."""
    target, schema, mode = split(config, "snowflake")
    require(
        target,
        {
            "account": "AIRFLOW_AUDIT_SNOWFLAKE_ACCOUNT",
            "user": "AIRFLOW_AUDIT_SNOWFLAKE_USER",
            "database": "AIRFLOW_AUDIT_SNOWFLAKE_DATABASE",
        },
        "Snowflake",
    )
    if target.get("private_key") and target.get("private_key_path"):
        raise UserError(
            "Both AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY and AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY_PATH "
            "are set: keep one of them."
        )
    if target.get("private_key") or target.get("private_key_path"):
        # target-airflow-audit-snowflake accepts exactly one authentication setting; a key wins (dbt agrees:
        # transform/profiles/snowflake/profiles.yml).
        target.pop("password", None)
    else:
        target.pop("private_key_passphrase", None)
        if not target.get("password"):
            raise UserError(
                "Snowflake needs a password or a key pair: set AIRFLOW_AUDIT_SNOWFLAKE_PASSWORD, "
                "AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY (PEM text) or "
                "AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY_PATH."
            )
    target.update(
        default_target_schema=schema,
        hard_delete=mode == "mirror",
        add_record_metadata=True,
        process_activate_version_messages=True,
        load_method="upsert",
    )
    target.setdefault("timestamp_type", "TIMESTAMP_TZ")
    target.setdefault("uuid_format", "string")
    return target
