"""Redshift: the settings registry, and Meltano's settings -> the project's Redshift loader's checked
configuration.  Raw schema `"airflow-<slug>"` as everywhere else (Redshift folds it to lower case).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_audit_core.errors import UserError
from airflow_audit_loader.registry import Setting, require, split

SETTINGS = (
    Setting("host", "AIRFLOW_AUDIT_REDSHIFT_HOST", login=True),
    Setting("port", "AIRFLOW_AUDIT_REDSHIFT_PORT", login=True),
    Setting("database", "AIRFLOW_AUDIT_REDSHIFT_DATABASE", login=True),
    Setting("user", "AIRFLOW_AUDIT_REDSHIFT_USER", login=True),
    Setting("password", "AIRFLOW_AUDIT_REDSHIFT_PASSWORD", "password", secret=True, login=True),
    Setting("cluster_identifier", "AIRFLOW_AUDIT_REDSHIFT_CLUSTER_IDENTIFIER", login=True),
    Setting("workgroup", "AIRFLOW_AUDIT_REDSHIFT_WORKGROUP", login=True),
    Setting("sslmode", "AIRFLOW_AUDIT_REDSHIFT_SSLMODE", login=True),
    Setting("load_method", "AIRFLOW_AUDIT_REDSHIFT_LOAD_METHOD"),
    Setting("s3_bucket", "AIRFLOW_AUDIT_REDSHIFT_S3_BUCKET"),
    Setting("s3_key_prefix", "AIRFLOW_AUDIT_REDSHIFT_S3_KEY_PREFIX"),
    # The IAM credential call is regional too, hence a login setting.
    Setting("s3_region", "AIRFLOW_AUDIT_REDSHIFT_S3_REGION", login=True),
    Setting("copy_role_arn", "AIRFLOW_AUDIT_REDSHIFT_COPY_ROLE_ARN"),
    Setting("aws_access_key_id", "AIRFLOW_AUDIT_REDSHIFT_AWS_ACCESS_KEY_ID", login=True),
    Setting(
        "aws_secret_access_key",
        "AIRFLOW_AUDIT_REDSHIFT_AWS_SECRET_ACCESS_KEY",
        "password",
        secret=True,
        login=True,
    ),
    Setting(
        "aws_session_token",
        "AIRFLOW_AUDIT_REDSHIFT_AWS_SESSION_TOKEN",
        "password",
        secret=True,
        login=True,
    ),
    Setting("batch_size_rows", kind="integer", value=100000),
)

REDSHIFT_DEFAULT_PORT = 5439
REDSHIFT_LOAD_METHODS = ("copy", "insert")
REDSHIFT_SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
REDSHIFT_DEFAULT_SSL_MODE = "require"
REDSHIFT_DEFAULT_BATCH_SIZE_ROWS = 100_000


def target_config(config: Mapping[str, Any], *, staging: bool = True) -> dict[str, Any]:
    """Meltano's target-airflow-audit-redshift settings -> the checked configuration of the Redshift loader.

    Authentication is a password, or IAM: temporary credentials from
    `redshift:GetClusterCredentials` (a provisioned cluster, `cluster_identifier`) or
    `redshift-serverless:GetCredentials` (a Serverless workgroup, `workgroup`).  `copy` stages
    each batch in S3 and needs a bucket; `insert` needs no S3.  `staging=False` is for the
    clients that only connect (airflow-audit-reconcile): the bucket is then not required.
    """
    target, schema, mode = split(config, "redshift")
    require(
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
        require(target, {"user": "AIRFLOW_AUDIT_REDSHIFT_USER"}, "Redshift")
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
        require(target, {"s3_bucket": "AIRFLOW_AUDIT_REDSHIFT_S3_BUCKET"}, "Redshift's copy method")
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
