"""An Airflow connection -> the environment variables airflow-audit's loaders read.

Pure Python: nothing here imports Airflow, so the mapping is tested without it. A connection
is anything with Airflow's Connection attributes (`conn_id`, `conn_type`, `host`, `login`,
`password`, `schema`, `port`, `extra_dejson`); both Airflow 2's `airflow.models.Connection`
and Airflow 3's `airflow.sdk.Connection` have them.

Field and extra names follow the providers' hooks, so a connection that works with the
Snowflake, Amazon (Redshift) or Google (BigQuery) operators works here unchanged:

* Snowflake (`SnowflakeHook`): login, password, extras `account`, `region`, `warehouse`,
  `database`, `role`, `private_key_file`, `private_key_content` (PEM, or PEM in base64), each
  also under its old `extra__snowflake__` name. With a private key the password is the key's
  passphrase, as in the hook.
* Redshift (`RedshiftSQLHook`, or a `postgres` connection): host, port (default 5439), login,
  password, schema (= the database); extras for the S3 staging of COPY: `s3_bucket`,
  `s3_key_prefix`, `region_name` (or `region`), `copy_role_arn` (or `iam_role`),
  `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`; `sslmode`. IAM as in
  the hook: extra `iam: true` with `cluster_identifier` (login is the database user) or
  `is_serverless: true` with `serverless_work_group`; no password then.
* BigQuery (`google_cloud_platform` or `gcpbigquery`): extras `project`, `location`,
  `key_path`, `keyfile_dict`, also under their old `extra__google_cloud_platform__` names.
  Neither key given: the loader uses Google's application default credentials.
* DuckDB (`duckdb`, as in airflow-provider-duckdb): the file's path in host, or extra `path`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from airflow_audit_core.modes import MODES
from airflow_audit_core.warehouses import WAREHOUSES

# The connection types each warehouse accepts; the first one is what `warehouse=None` infers.
CONN_TYPES: dict[str, tuple[str, ...]] = {
    "duckdb": ("duckdb",),
    "snowflake": ("snowflake",),
    "redshift": ("redshift", "postgres"),
    "bigquery": ("google_cloud_platform", "gcpbigquery"),
}
INFERRED_WAREHOUSE = {
    "duckdb": "duckdb",
    "snowflake": "snowflake",
    "redshift": "redshift",
    "google_cloud_platform": "bigquery",
    "gcpbigquery": "bigquery",
}

# Every variable a warehouse's loader reads; the operator clears them before setting its own,
# so a value left in the worker's environment never mixes with the connection's.
WAREHOUSE_VARIABLES: dict[str, tuple[str, ...]] = {
    "duckdb": (
        "AIRFLOW_AUDIT_DUCKDB_PATH",
        "AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT",
        "AIRFLOW_AUDIT_DUCKDB_THREADS",
    ),
    "snowflake": tuple(
        f"AIRFLOW_AUDIT_SNOWFLAKE_{name}"
        for name in (
            "ACCOUNT",
            "USER",
            "PASSWORD",
            "PRIVATE_KEY",
            "PRIVATE_KEY_PATH",
            "PRIVATE_KEY_PASSPHRASE",
            "ROLE",
            "WAREHOUSE",
            "DATABASE",
        )
    ),
    "redshift": tuple(
        f"AIRFLOW_AUDIT_REDSHIFT_{name}"
        for name in (
            "HOST",
            "PORT",
            "USER",
            "PASSWORD",
            "DATABASE",
            "S3_BUCKET",
            "S3_KEY_PREFIX",
            "S3_REGION",
            "COPY_ROLE_ARN",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "CLUSTER_IDENTIFIER",
            "WORKGROUP",
            "SSLMODE",
            "LOAD_METHOD",
        )
    ),
    "bigquery": tuple(
        f"AIRFLOW_AUDIT_BIGQUERY_{name}"
        for name in ("PROJECT", "LOCATION", "CREDENTIALS_PATH", "CREDENTIALS_JSON")
    ),
}
# Values that must never be shown: the operator masks them in Airflow's task log.
SECRET_VARIABLES = frozenset(
    {
        "AIRFLOW_AUDIT_SNOWFLAKE_PASSWORD",
        "AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY",
        "AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE",
        "AIRFLOW_AUDIT_REDSHIFT_PASSWORD",
        "AIRFLOW_AUDIT_REDSHIFT_AWS_SECRET_ACCESS_KEY",
        "AIRFLOW_AUDIT_REDSHIFT_AWS_SESSION_TOKEN",
        "AIRFLOW_AUDIT_BIGQUERY_CREDENTIALS_JSON",
        "AIRFLOW_AUDIT_SOURCE_URL",
    }
)
COMMON_VARIABLES = (
    "AIRFLOW_AUDIT_TABLES",
    "AIRFLOW_AUDIT_ADDITIONAL_TABLES",
    "AIRFLOW_AUDIT_DESTINATION_SCHEMA",
    "AIRFLOW_AUDIT_ENV_SLUG",
    "AIRFLOW_AUDIT_MODE",
)


class ConnectionLike(Protocol):
    conn_id: str
    conn_type: str | None
    host: str | None
    login: str | None
    password: str | None
    schema: str | None
    port: int | None

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


class SettingsError(ValueError):
    """A connection or an argument airflow-audit cannot use; the message is one sentence."""


def choose_warehouse(conn: ConnectionLike | None, warehouse: str | None) -> str:
    """The warehouse named, or the one the connection's type implies."""
    if conn is None:  # no connection: only the name is checked
        if warehouse not in WAREHOUSES:
            raise SettingsError(
                f"Unknown warehouse {warehouse!r}: choose one of {', '.join(WAREHOUSES)}."
            )
        return warehouse
    conn_type = (conn.conn_type or "").strip().lower()
    if warehouse is None:
        inferred = INFERRED_WAREHOUSE.get(conn_type)
        if inferred is None:
            raise SettingsError(
                f"Connection {conn.conn_id!r} is of type {conn_type or 'none'!r}, which does not "
                f"say which warehouse to load: pass warehouse= (one of {', '.join(WAREHOUSES)})."
            )
        return inferred
    if warehouse not in WAREHOUSES:
        raise SettingsError(
            f"Unknown warehouse {warehouse!r}: choose one of {', '.join(WAREHOUSES)}."
        )
    accepted = CONN_TYPES[warehouse]
    # DuckDB needs only a path, so any connection type holding one will do.
    if warehouse != "duckdb" and conn_type not in accepted:
        raise SettingsError(
            f"Connection {conn.conn_id!r} is of type {conn_type or 'none'!r}, not a {warehouse} "
            f"connection: give it type {' or '.join(repr(t) for t in accepted)}, or name the "
            "right connection in service_connection_name."
        )
    return warehouse


def warehouse_environment(conn: ConnectionLike, warehouse: str) -> dict[str, str]:
    """The loader's variables for `warehouse`, read from `conn` (unset values left out)."""
    builders = {
        "duckdb": _duckdb,
        "snowflake": _snowflake,
        "redshift": _redshift,
        "bigquery": _bigquery,
    }
    values = builders[warehouse](conn, _extras(conn))
    return {name: str(value) for name, value in values.items() if value not in (None, "")}


def common_environment(
    *,
    tables: Sequence[str] | None,
    additional_tables: Sequence[str] | None,
    destination_schema: str | None,
    env_slug: str | None,
    mode: str | None,
) -> dict[str, str | None]:
    """The shared settings; None means "not given" (the worker's own value, else the default)."""
    if mode is not None and mode not in MODES:
        raise SettingsError(f"Unknown mode {mode!r}: choose mirror or archive.")
    return {
        "AIRFLOW_AUDIT_TABLES": _table_list(tables, "tables"),
        "AIRFLOW_AUDIT_ADDITIONAL_TABLES": _table_list(additional_tables, "additional_tables"),
        "AIRFLOW_AUDIT_DESTINATION_SCHEMA": destination_schema or None,
        "AIRFLOW_AUDIT_ENV_SLUG": env_slug or None,
        "AIRFLOW_AUDIT_MODE": mode,
    }


def postgres_url(conn: ConnectionLike) -> str:
    """A postgresql:// URL for a postgres connection (the Airflow database, as a source)."""
    from urllib.parse import quote

    conn_type = (conn.conn_type or "").lower()
    if conn_type not in ("postgres", "postgresql"):
        raise SettingsError(
            f"Connection {conn.conn_id!r} is of type {conn_type or 'none'!r}: the Airflow "
            "database airflow-audit reads must be a 'postgres' connection."
        )
    missing = [f for f in ("host", "login", "password", "schema") if not getattr(conn, f)]
    if missing:
        raise SettingsError(
            f"Connection {conn.conn_id!r} lacks {', '.join(missing)}: the Airflow database "
            "needs host, login, password and schema (the database name)."
        )
    auth = f"{quote(conn.login or '', safe='')}:{quote(conn.password or '', safe='')}"
    return f"postgresql://{auth}@{conn.host}:{conn.port or 5432}/{quote(conn.schema or '')}"


# ---------------------------------------------------------------------------------------------


def _extras(conn: ConnectionLike) -> dict[str, Any]:
    try:
        extras = conn.extra_dejson
    except Exception:  # Airflow logs and returns {} for bad JSON; older ones raise.
        extras = None
    if not isinstance(extras, Mapping):
        raise SettingsError(
            f"The extra field of connection {conn.conn_id!r} is not a JSON object: fix it in "
            "the connection."
        )
    return dict(extras)


def _field(extras: Mapping[str, Any], name: str, prefix: str | None = None) -> Any:
    """An extra by its name, else by its old `extra__<type>__<name>` name; '' counts as unset."""
    value = extras.get(name)
    if value in (None, "") and prefix:
        value = extras.get(f"extra__{prefix}__{name}")
    return None if value == "" else value


def _require(conn: ConnectionLike, warehouse: str, **values: Any) -> None:
    missing = [name for name, value in values.items() if value in (None, "")]
    if missing:
        raise SettingsError(
            f"Connection {conn.conn_id!r} lacks {', '.join(missing)}, which the {warehouse} "
            "loader needs: add it to the connection."
        )


def _duckdb(conn: ConnectionLike, extras: dict[str, Any]) -> dict[str, Any]:
    path = _field(extras, "path") or conn.host
    if not path:
        raise SettingsError(
            f"Connection {conn.conn_id!r} names no DuckDB file: put the file's path in its host "
            'field, or in its extra as {"path": "/data/airflow_audit.duckdb"}.'
        )
    values = {"AIRFLOW_AUDIT_DUCKDB_PATH": path}
    # DuckDB's own limits, for the loader and dbt (extra: {"memory_limit": "4GB", "threads": 2}).
    for name in ("memory_limit", "threads"):
        value = _field(extras, name)
        if value not in (None, ""):
            values[f"AIRFLOW_AUDIT_DUCKDB_{name.upper()}"] = str(value)
    return values


_SNOWFLAKE_AUTHENTICATORS = ("snowflake", "snowflake_jwt")


def _snowflake(conn: ConnectionLike, extras: dict[str, Any]) -> dict[str, Any]:
    def get(name: str) -> Any:
        return _field(extras, name, "snowflake")

    account = get("account")
    if not account and conn.host:
        account = conn.host.removesuffix(".snowflakecomputing.com")
    region = get("region")
    if account and region and "." not in account:
        account = f"{account}.{region}"
    authenticator = str(extras.get("authenticator") or "snowflake").lower()
    if authenticator not in _SNOWFLAKE_AUTHENTICATORS:
        raise SettingsError(
            f"Connection {conn.conn_id!r} uses the Snowflake authenticator {authenticator!r}, "
            "which airflow-audit cannot pass on: give it a password or a key pair instead."
        )
    key_path = get("private_key_file")
    key_text = get("private_key_content")
    if key_path and key_text:
        raise SettingsError(
            f"Connection {conn.conn_id!r} has both private_key_file and private_key_content: "
            "keep one of them."
        )
    values: dict[str, Any] = {
        "AIRFLOW_AUDIT_SNOWFLAKE_ACCOUNT": account,
        "AIRFLOW_AUDIT_SNOWFLAKE_USER": conn.login,
        "AIRFLOW_AUDIT_SNOWFLAKE_ROLE": get("role"),
        "AIRFLOW_AUDIT_SNOWFLAKE_WAREHOUSE": get("warehouse"),
        "AIRFLOW_AUDIT_SNOWFLAKE_DATABASE": get("database"),
    }
    _require(conn, "Snowflake", account=account, login=conn.login, database=get("database"))
    if key_path or key_text:
        # As in SnowflakeHook: with a key, the connection's password is the key's passphrase.
        values["AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY_PATH"] = key_path
        values["AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY"] = _pem(conn, key_text) if key_text else None
        values["AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"] = conn.password
    elif conn.password:
        values["AIRFLOW_AUDIT_SNOWFLAKE_PASSWORD"] = conn.password
    else:
        raise SettingsError(
            f"Connection {conn.conn_id!r} has neither a password nor a private key: add one "
            "(extra private_key_file or private_key_content for a key pair)."
        )
    return values


def _pem(conn: ConnectionLike, text: str) -> str:
    """PEM text, as SnowflakeHook accepts it: PEM itself, or PEM encoded in base64."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return text + "\n"
    try:
        decoded = base64.b64decode(text, validate=False).decode("utf-8").strip()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    if not decoded.startswith("-----BEGIN"):
        raise SettingsError(
            f"The private_key_content of connection {conn.conn_id!r} is neither a PEM key nor "
            "a base64-encoded one: paste the key including its -----BEGIN line."
        )
    return decoded + "\n"


def _truthy(value: Any) -> bool:
    return str(value if value is not None else "").strip().lower() in ("true", "1", "yes")


def _redshift(conn: ConnectionLike, extras: dict[str, Any]) -> dict[str, Any]:
    cluster = workgroup = None
    if _truthy(extras.get("iam")):
        # As RedshiftSQLHook: temporary credentials for a provisioned cluster (login is the
        # database user) or a Serverless workgroup; the AWS credentials are the worker's.
        if _truthy(extras.get("is_serverless")):
            workgroup = _field(extras, "serverless_work_group")
        else:
            cluster = _field(extras, "cluster_identifier")
        if not (cluster or workgroup):
            raise SettingsError(
                f"Connection {conn.conn_id!r} uses IAM authentication but names no "
                "cluster_identifier (or, with is_serverless, no serverless_work_group): add it "
                "to the connection's extra, or give the connection a password instead."
            )
        required = {"host": conn.host, "schema": conn.schema}
        if cluster:
            required["login"] = conn.login
        _require(conn, "Redshift", **required)
    else:
        _require(
            conn,
            "Redshift",
            host=conn.host,
            login=conn.login,
            password=conn.password,
            schema=conn.schema,
        )
    return {
        "AIRFLOW_AUDIT_REDSHIFT_HOST": conn.host,
        "AIRFLOW_AUDIT_REDSHIFT_PORT": conn.port or 5439,
        "AIRFLOW_AUDIT_REDSHIFT_USER": conn.login,
        "AIRFLOW_AUDIT_REDSHIFT_PASSWORD": None if (cluster or workgroup) else conn.password,
        "AIRFLOW_AUDIT_REDSHIFT_CLUSTER_IDENTIFIER": cluster,
        "AIRFLOW_AUDIT_REDSHIFT_WORKGROUP": workgroup,
        "AIRFLOW_AUDIT_REDSHIFT_SSLMODE": _field(extras, "sslmode"),
        "AIRFLOW_AUDIT_REDSHIFT_AWS_SESSION_TOKEN": _field(extras, "aws_session_token"),
        # RedshiftSQLHook, like the postgres hook, keeps the database name in `schema`.
        "AIRFLOW_AUDIT_REDSHIFT_DATABASE": conn.schema,
        "AIRFLOW_AUDIT_REDSHIFT_S3_BUCKET": _field(extras, "s3_bucket"),
        "AIRFLOW_AUDIT_REDSHIFT_S3_KEY_PREFIX": _field(extras, "s3_key_prefix"),
        "AIRFLOW_AUDIT_REDSHIFT_S3_REGION": _field(extras, "region_name")
        or _field(extras, "region"),
        "AIRFLOW_AUDIT_REDSHIFT_COPY_ROLE_ARN": _field(extras, "copy_role_arn")
        or _field(extras, "iam_role"),
        "AIRFLOW_AUDIT_REDSHIFT_AWS_ACCESS_KEY_ID": _field(extras, "aws_access_key_id"),
        "AIRFLOW_AUDIT_REDSHIFT_AWS_SECRET_ACCESS_KEY": _field(extras, "aws_secret_access_key"),
    }


def _bigquery(conn: ConnectionLike, extras: dict[str, Any]) -> dict[str, Any]:
    def get(name: str) -> Any:
        return _field(extras, name, "google_cloud_platform")

    if get("key_secret_name") or get("credential_config_file"):
        raise SettingsError(
            f"Connection {conn.conn_id!r} takes its credentials from key_secret_name or "
            "credential_config_file, which airflow-audit cannot pass on: use key_path or "
            "keyfile_dict, or leave both out for application default credentials."
        )
    keyfile = get("keyfile_dict")
    keyfile_json: str | None = None
    project = get("project")
    if keyfile:
        try:
            parsed = json.loads(keyfile) if isinstance(keyfile, str) else dict(keyfile)
        except (json.JSONDecodeError, TypeError, ValueError):
            raise SettingsError(
                f"The keyfile_dict of connection {conn.conn_id!r} is not valid JSON: paste the "
                "service account's key file as it is."
            ) from None
        keyfile_json = json.dumps(parsed)
        project = project or parsed.get("project_id")
    _require(conn, "BigQuery", project=project)
    return {
        "AIRFLOW_AUDIT_BIGQUERY_PROJECT": project,
        "AIRFLOW_AUDIT_BIGQUERY_LOCATION": get("location"),
        "AIRFLOW_AUDIT_BIGQUERY_CREDENTIALS_PATH": get("key_path"),
        "AIRFLOW_AUDIT_BIGQUERY_CREDENTIALS_JSON": keyfile_json,
    }


def _table_list(tables: Sequence[str] | None, argument: str) -> str | None:
    if tables is None:
        return None
    if isinstance(tables, str) or not all(isinstance(t, str) and t.strip() for t in tables):
        raise SettingsError(
            f"{argument} must be a list of table names, such as ['log', 'log_template']."
        )
    return json.dumps([t.strip() for t in tables])
