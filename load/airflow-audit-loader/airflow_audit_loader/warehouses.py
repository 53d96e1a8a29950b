"""Snowflake, Redshift and BigQuery: the raw schema's name there, and each target's configuration.

Meltano hands each warehouse loader the project's own settings (`env_slug`,
`destination_schema`, `mode`, from AIRFLOW_AUDIT_*) next to the third-party target's settings.
The functions here turn that into the configuration the real target expects: the schema the
raw tables land in, the delete behaviour of `mirror`/`archive`, the defaults Meltano cannot
express (it has no `${VAR:-default}`), and the settings that keep the load lossless.  They are
pure, so tests/unit/test_warehouse_config.py covers them without a warehouse.

Raw schema per warehouse (docs/warehouses.md explains each choice):

* Redshift: `airflow-<slug>` as everywhere else (quoted; Redshift folds it to lower case).
* Snowflake: `AIRFLOW_<SLUG>`.  target-snowflake upper-cases the schema and conforms `-` to
  `_` when it creates the schema but not when it writes (the schema it creates is never the one
  it writes to), so the only name it loads end to end is the upper-case, `_` form.
* BigQuery: `airflow_<slug>` (dataset names allow no `-`), as naming.legal_for already says.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_audit_loader.errors import UserError
from airflow_audit_loader.naming import destination_schema

MODES = ("mirror", "archive")
# The project's own settings, read by the shim and never passed to the third-party target.
SHIM_SETTINGS = ("env_slug", "destination_schema", "mode")

DEFAULT_BIGQUERY_LOCATION = "US"


def raw_schema(warehouse: str, slug: str | None = None, override: str | None = None) -> str:
    """The schema (BigQuery: dataset) the raw Airflow tables land in, on `warehouse`.

    naming.destination_schema is the project's one rule (transform/macros/airflow_audit_raw_schema.sql
    is its Jinja twin).
    """
    return destination_schema(slug, override, warehouse)


def parse_mode(value: str | None) -> str:
    """AIRFLOW_AUDIT_MODE: `mirror` (default) or `archive`."""
    mode = (value or "").strip().lower() or "mirror"
    if mode not in MODES:
        raise UserError(
            f"AIRFLOW_AUDIT_MODE is {value!r}: use 'mirror' (the warehouse equals the source) or "
            "'archive' (rows deleted at the source are kept and marked with _sdc_deleted_at)."
        )
    return mode


def _present(config: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that hold a value (blank counts as unset); values are kept as given."""
    return {
        key: value
        for key, value in config.items()
        if value is not None and not (isinstance(value, str) and not value.strip())
    }


def _require(config: Mapping[str, Any], names: Mapping[str, str], warehouse: str) -> None:
    missing = [variable for key, variable in names.items() if not config.get(key)]
    if missing:
        raise UserError(
            f"{warehouse} needs {', '.join(missing)}: set "
            f"{'it' if len(missing) == 1 else 'them'} in the environment "
            f"(see docs/warehouses.md), then run again."
        )


def _common(config: Mapping[str, Any], warehouse: str) -> tuple[dict[str, Any], str, str]:
    values = _present(config)
    schema = raw_schema(warehouse, values.get("env_slug"), values.get("destination_schema"))
    mode = parse_mode(values.get("mode"))
    target = {k: v for k, v in values.items() if k not in SHIM_SETTINGS}
    return target, schema, mode


def snowflake_target_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Meltano's target-snowflake settings -> the MeltanoLabs target-snowflake configuration."""
    target, schema, mode = _common(config, "snowflake")
    _require(
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
        # target-snowflake accepts exactly one authentication setting; a key wins (dbt agrees:
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


def bigquery_target_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Meltano's target-bigquery settings -> z3z1ma's target-bigquery configuration."""
    target, schema, mode = _common(config, "bigquery")
    _require(target, {"project": "AIRFLOW_AUDIT_BIGQUERY_PROJECT"}, "BigQuery")
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


# ---- Redshift: the project's own loader (redshift_target.py) ------------------------------------

REDSHIFT_DEFAULT_PORT = 5439
REDSHIFT_LOAD_METHODS = ("copy", "insert")
REDSHIFT_SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
REDSHIFT_DEFAULT_SSL_MODE = "require"
REDSHIFT_DEFAULT_BATCH_SIZE_ROWS = 100_000


def redshift_target_config(config: Mapping[str, Any], *, staging: bool = True) -> dict[str, Any]:
    """Meltano's target-redshift settings -> the checked configuration of the Redshift loader.

    Authentication is a password, or IAM: temporary credentials from
    `redshift:GetClusterCredentials` (a provisioned cluster, `cluster_identifier`) or
    `redshift-serverless:GetCredentials` (a Serverless workgroup, `workgroup`).  `copy` stages
    each batch in S3 and needs a bucket; `insert` needs no S3.  `staging=False` is for the
    clients that only connect (airflow-audit-reconcile): the bucket is then not required.
    """
    target, schema, mode = _common(config, "redshift")
    _require(
        target,
        {"host": "AIRFLOW_AUDIT_REDSHIFT_HOST", "database": "AIRFLOW_AUDIT_REDSHIFT_DATABASE"},
        "Redshift",
    )
    iam = [k for k in ("cluster_identifier", "workgroup") if target.get(k)]
    if len(iam) == 2:
        raise UserError(
            "Both AIRFLOW_AUDIT_REDSHIFT_CLUSTER_IDENTIFIER and AIRFLOW_AUDIT_REDSHIFT_WORKGROUP "
            "are set: keep the one your Redshift is (a provisioned cluster or a Serverless "
            "workgroup)."
        )
    if iam and target.get("password"):
        raise UserError(
            "AIRFLOW_AUDIT_REDSHIFT_PASSWORD is set together with IAM authentication "
            f"(AIRFLOW_AUDIT_REDSHIFT_{iam[0].upper()}): keep one of them."
        )
    if not iam and not target.get("password"):
        raise UserError(
            "Redshift needs a password or IAM authentication: set AIRFLOW_AUDIT_REDSHIFT_PASSWORD, "
            "or AIRFLOW_AUDIT_REDSHIFT_CLUSTER_IDENTIFIER (provisioned cluster) or "
            "AIRFLOW_AUDIT_REDSHIFT_WORKGROUP (Serverless)."
        )
    if target.get("workgroup") is None:
        # The database user: for a password, and the DbUser of GetClusterCredentials.
        _require(target, {"user": "AIRFLOW_AUDIT_REDSHIFT_USER"}, "Redshift")
    try:
        port = int(target.get("port") or REDSHIFT_DEFAULT_PORT)
    except (TypeError, ValueError):
        raise UserError(
            f"AIRFLOW_AUDIT_REDSHIFT_PORT is {target.get('port')!r}: use a port number such as 5439."
        ) from None
    sslmode = str(target.get("sslmode") or REDSHIFT_DEFAULT_SSL_MODE).strip().lower()
    if sslmode not in REDSHIFT_SSL_MODES:
        raise UserError(
            f"AIRFLOW_AUDIT_REDSHIFT_SSLMODE is {sslmode!r}: use one of "
            f"{', '.join(REDSHIFT_SSL_MODES)} (default {REDSHIFT_DEFAULT_SSL_MODE})."
        )
    method = str(target.get("load_method") or "copy").strip().lower()
    if method not in REDSHIFT_LOAD_METHODS:
        raise UserError(
            f"AIRFLOW_AUDIT_REDSHIFT_LOAD_METHOD is {method!r}: use 'copy' (S3 staging and COPY, "
            "the default) or 'insert' (multi-row INSERTs, no S3; for small databases)."
        )
    if method == "copy" and staging:
        _require(
            target, {"s3_bucket": "AIRFLOW_AUDIT_REDSHIFT_S3_BUCKET"}, "Redshift's copy method"
        )
    if bool(target.get("aws_access_key_id")) != bool(target.get("aws_secret_access_key")):
        raise UserError(
            "Only one of AIRFLOW_AUDIT_REDSHIFT_AWS_ACCESS_KEY_ID and "
            "AIRFLOW_AUDIT_REDSHIFT_AWS_SECRET_ACCESS_KEY is set: set both, or neither (then "
            "the AWS credentials of the environment are used)."
        )
    prefix = str(target.get("s3_key_prefix") or "").strip().lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    target.update(
        schema=schema,
        mode=mode,
        port=port,
        sslmode=sslmode,
        load_method=method,
        s3_key_prefix=prefix,
        batch_size_rows=int(target.get("batch_size_rows") or REDSHIFT_DEFAULT_BATCH_SIZE_ROWS),
    )
    return target
