"""An Airflow connection -> the loader's environment variables, per warehouse (no Airflow needed).

The connections here are plain objects with Airflow's Connection attributes; the same mapping
runs on real Airflow 2 and 3 Connection objects in tests/orchestrate/test_airflow.py.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_audit_operator.connection_settings import (
    SECRET_VARIABLES,
    WAREHOUSE_VARIABLES,
    SettingsError,
    choose_warehouse,
    common_environment,
    postgres_url,
    warehouse_environment,
)

PEM = "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"


@dataclass
class Conn:
    conn_type: str
    conn_id: str = "raw"
    host: str | None = None
    login: str | None = None
    password: str | None = None
    schema: str | None = None
    port: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def extra_dejson(self) -> dict[str, Any]:
        return self.extra


def snowflake(**extra: Any) -> Conn:
    base = {"account": "xy12345", "warehouse": "LOADING", "database": "RAW", "role": "LOADER"}
    return Conn("snowflake", login="loader", password="s3cret", extra={**base, **extra})


# -- choosing the warehouse ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conn_type", "expected"),
    [
        ("duckdb", "duckdb"),
        ("snowflake", "snowflake"),
        ("redshift", "redshift"),
        ("google_cloud_platform", "bigquery"),
        ("gcpbigquery", "bigquery"),
    ],
)
def test_the_connection_type_picks_the_warehouse(conn_type, expected):
    assert choose_warehouse(Conn(conn_type), None) == expected


def test_a_postgres_connection_is_redshift_only_when_asked():
    assert choose_warehouse(Conn("postgres"), "redshift") == "redshift"
    with pytest.raises(SettingsError, match=r"does not say which warehouse.*warehouse="):
        choose_warehouse(Conn("postgres"), None)


def test_a_connection_of_the_wrong_type_is_refused_in_one_sentence():
    with pytest.raises(SettingsError) as err:
        choose_warehouse(Conn("http", conn_id="raw"), "snowflake")
    message = str(err.value)
    assert "'raw'" in message and "'snowflake'" in message
    assert message.count(". ") == 0 and message.endswith(".")


def test_an_unknown_warehouse_is_refused():
    with pytest.raises(SettingsError, match="choose one of duckdb, snowflake, redshift, bigquery"):
        choose_warehouse(Conn("snowflake"), "oracle")


def test_without_a_connection_only_the_name_is_checked():
    assert choose_warehouse(None, "duckdb") == "duckdb"
    assert choose_warehouse(None, "redshift") == "redshift"
    with pytest.raises(SettingsError, match="Unknown warehouse 'oracle'"):
        choose_warehouse(None, "oracle")


def test_duckdb_reads_any_connection_type_when_asked():
    conn = Conn("fs", extra={"path": "/data/wh.duckdb"})
    assert choose_warehouse(conn, "duckdb") == "duckdb"


# -- DuckDB -------------------------------------------------------------------------------------


def test_duckdb_path_from_host_or_extra():
    assert warehouse_environment(Conn("duckdb", host="/data/a.duckdb"), "duckdb") == {
        "AIRFLOW_AUDIT_DUCKDB_PATH": "/data/a.duckdb"
    }
    conn = Conn("duckdb", host="/ignored.duckdb", extra={"path": "/data/b.duckdb"})
    assert warehouse_environment(conn, "duckdb") == {"AIRFLOW_AUDIT_DUCKDB_PATH": "/data/b.duckdb"}


def test_duckdb_without_a_path_says_where_to_put_it():
    with pytest.raises(SettingsError, match="host field"):
        warehouse_environment(Conn("duckdb"), "duckdb")


# -- Snowflake ----------------------------------------------------------------------------------


def test_snowflake_password_connection():
    assert warehouse_environment(snowflake(), "snowflake") == {
        "AIRFLOW_AUDIT_SNOWFLAKE_ACCOUNT": "xy12345",
        "AIRFLOW_AUDIT_SNOWFLAKE_USER": "loader",
        "AIRFLOW_AUDIT_SNOWFLAKE_PASSWORD": "s3cret",
        "AIRFLOW_AUDIT_SNOWFLAKE_ROLE": "LOADER",
        "AIRFLOW_AUDIT_SNOWFLAKE_WAREHOUSE": "LOADING",
        "AIRFLOW_AUDIT_SNOWFLAKE_DATABASE": "RAW",
    }


def test_snowflake_old_prefixed_extras_and_region():
    conn = Conn(
        "snowflake",
        login="loader",
        password="pw",
        extra={
            "extra__snowflake__account": "xy12345",
            "extra__snowflake__region": "eu-west-1",
            "extra__snowflake__database": "RAW",
            "extra__snowflake__warehouse": "",
        },
    )
    env = warehouse_environment(conn, "snowflake")
    assert env["AIRFLOW_AUDIT_SNOWFLAKE_ACCOUNT"] == "xy12345.eu-west-1"
    assert env["AIRFLOW_AUDIT_SNOWFLAKE_DATABASE"] == "RAW"
    assert "AIRFLOW_AUDIT_SNOWFLAKE_WAREHOUSE" not in env  # '' counts as unset


def test_snowflake_key_pair_the_password_becomes_the_passphrase():
    env = warehouse_environment(snowflake(private_key_content=PEM), "snowflake")
    assert env["AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY"] == PEM + "\n"
    assert env["AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"] == "s3cret"
    assert "AIRFLOW_AUDIT_SNOWFLAKE_PASSWORD" not in env


def test_snowflake_key_in_base64_is_decoded_to_pem():
    encoded = base64.b64encode(PEM.encode()).decode()
    env = warehouse_environment(snowflake(private_key_content=encoded), "snowflake")
    assert env["AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY"].startswith("-----BEGIN PRIVATE KEY-----")


def test_snowflake_key_file_path_is_passed_as_a_path():
    conn = snowflake(private_key_file="/keys/rsa.p8")
    conn.password = None
    env = warehouse_environment(conn, "snowflake")
    assert env["AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY_PATH"] == "/keys/rsa.p8"
    assert not {"AIRFLOW_AUDIT_SNOWFLAKE_PASSWORD", "AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY"} & set(
        env
    )


@pytest.mark.parametrize(
    ("conn", "match"),
    [
        (snowflake(private_key_file="/k", private_key_content=PEM), "keep one of them"),
        (snowflake(private_key_content="not a key"), "neither a PEM key nor"),
        (snowflake(authenticator="oauth"), "authenticator 'oauth'"),
        (snowflake(account=None), "lacks account"),
        (snowflake(database=None), "lacks database"),
    ],
)
def test_snowflake_connections_airflow_audit_cannot_use(conn, match):
    with pytest.raises(SettingsError, match=match):
        warehouse_environment(conn, "snowflake")


def test_snowflake_without_password_or_key():
    conn = snowflake()
    conn.password = None
    with pytest.raises(SettingsError, match="neither a password nor a private key"):
        warehouse_environment(conn, "snowflake")


# -- Redshift -----------------------------------------------------------------------------------


def test_redshift_connection_with_s3_staging():
    conn = Conn(
        "redshift",
        host="cluster.abc.eu-west-1.redshift.amazonaws.com",
        login="loader",
        password="pw",
        schema="analytics",
        extra={
            "s3_bucket": "staging",
            "s3_key_prefix": "airflow-audit/",
            "region_name": "eu-west-1",
            "iam_role": "arn:aws:iam::1:role/copy",
            "aws_access_key_id": "AKIA",
            "aws_secret_access_key": "secret",
        },
    )
    assert warehouse_environment(conn, "redshift") == {
        "AIRFLOW_AUDIT_REDSHIFT_HOST": "cluster.abc.eu-west-1.redshift.amazonaws.com",
        "AIRFLOW_AUDIT_REDSHIFT_PORT": "5439",
        "AIRFLOW_AUDIT_REDSHIFT_USER": "loader",
        "AIRFLOW_AUDIT_REDSHIFT_PASSWORD": "pw",
        "AIRFLOW_AUDIT_REDSHIFT_DATABASE": "analytics",
        "AIRFLOW_AUDIT_REDSHIFT_S3_BUCKET": "staging",
        "AIRFLOW_AUDIT_REDSHIFT_S3_KEY_PREFIX": "airflow-audit/",
        "AIRFLOW_AUDIT_REDSHIFT_S3_REGION": "eu-west-1",
        "AIRFLOW_AUDIT_REDSHIFT_COPY_ROLE_ARN": "arn:aws:iam::1:role/copy",
        "AIRFLOW_AUDIT_REDSHIFT_AWS_ACCESS_KEY_ID": "AKIA",
        "AIRFLOW_AUDIT_REDSHIFT_AWS_SECRET_ACCESS_KEY": "secret",
    }


def test_redshift_from_a_postgres_connection_keeps_its_port():
    conn = Conn("postgres", host="h", login="u", password="p", schema="db", port=5440)
    env = warehouse_environment(conn, "redshift")
    assert env["AIRFLOW_AUDIT_REDSHIFT_PORT"] == "5440"
    assert "AIRFLOW_AUDIT_REDSHIFT_S3_BUCKET" not in env


def test_redshift_iam_or_missing_password_is_refused():
    with pytest.raises(SettingsError, match="IAM authentication"):
        warehouse_environment(Conn("redshift", extra={"iam": True}), "redshift")
    with pytest.raises(SettingsError, match="lacks password, schema"):
        warehouse_environment(Conn("redshift", host="h", login="u"), "redshift")


# -- BigQuery -----------------------------------------------------------------------------------


def test_bigquery_key_path_and_location():
    conn = Conn(
        "google_cloud_platform",
        extra={"project": "acme", "location": "EU", "key_path": "/keys/sa.json"},
    )
    assert warehouse_environment(conn, "bigquery") == {
        "AIRFLOW_AUDIT_BIGQUERY_PROJECT": "acme",
        "AIRFLOW_AUDIT_BIGQUERY_LOCATION": "EU",
        "AIRFLOW_AUDIT_BIGQUERY_CREDENTIALS_PATH": "/keys/sa.json",
    }


@pytest.mark.parametrize("as_text", [True, False])
def test_bigquery_keyfile_dict_gives_json_and_the_project(as_text):
    key = {"type": "service_account", "project_id": "from-key", "private_key": "k"}
    conn = Conn(
        "gcpbigquery",
        extra={"extra__google_cloud_platform__keyfile_dict": json.dumps(key) if as_text else key},
    )
    env = warehouse_environment(conn, "bigquery")
    assert json.loads(env["AIRFLOW_AUDIT_BIGQUERY_CREDENTIALS_JSON"]) == key
    assert env["AIRFLOW_AUDIT_BIGQUERY_PROJECT"] == "from-key"


def test_bigquery_application_default_credentials_need_only_the_project():
    conn = Conn("google_cloud_platform", extra={"extra__google_cloud_platform__project": "acme"})
    assert warehouse_environment(conn, "bigquery") == {"AIRFLOW_AUDIT_BIGQUERY_PROJECT": "acme"}


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"project": "p", "keyfile_dict": "{not json"}, "not valid JSON"),
        ({"project": "p", "key_secret_name": "sa-key"}, "key_secret_name"),
        ({}, "lacks project"),
    ],
)
def test_bigquery_connections_airflow_audit_cannot_use(extra, match):
    with pytest.raises(SettingsError, match=match):
        warehouse_environment(Conn("google_cloud_platform", extra=extra), "bigquery")


# -- what every warehouse shares ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("warehouse", "conn"),
    [
        ("duckdb", Conn("duckdb", host="/a.duckdb")),
        ("snowflake", snowflake(private_key_content=PEM)),
        ("snowflake", snowflake()),
        ("redshift", Conn("redshift", host="h", login="u", password="p", schema="d")),
        ("bigquery", Conn("google_cloud_platform", extra={"project": "p", "keyfile_dict": {}})),
    ],
)
def test_only_the_warehouses_own_variables_are_set(warehouse, conn):
    env = warehouse_environment(conn, warehouse)
    assert env and set(env) <= set(WAREHOUSE_VARIABLES[warehouse])
    assert all(isinstance(v, str) and v for v in env.values())


def test_secret_variables_are_the_credentials():
    every = {name for names in WAREHOUSE_VARIABLES.values() for name in names}
    assert SECRET_VARIABLES - {"AIRFLOW_AUDIT_SOURCE_URL"} <= every
    assert {
        "AIRFLOW_AUDIT_SNOWFLAKE_PASSWORD",
        "AIRFLOW_AUDIT_REDSHIFT_PASSWORD",
        "AIRFLOW_AUDIT_BIGQUERY_CREDENTIALS_JSON",
    } <= SECRET_VARIABLES


def test_common_settings_as_the_tap_reads_them():
    env = common_environment(
        tables=None,
        additional_tables=["log", "log_template"],
        destination_schema="airflow-tables",
        env_slug=None,
        mode="archive",
    )
    assert env == {
        "AIRFLOW_AUDIT_TABLES": None,
        "AIRFLOW_AUDIT_ADDITIONAL_TABLES": '["log", "log_template"]',
        "AIRFLOW_AUDIT_DESTINATION_SCHEMA": "airflow-tables",
        "AIRFLOW_AUDIT_ENV_SLUG": None,
        "AIRFLOW_AUDIT_MODE": "archive",
    }
    every = common_environment(
        tables=[], additional_tables=None, destination_schema=None, env_slug="qwe123", mode=None
    )
    assert every["AIRFLOW_AUDIT_TABLES"] == "[]"  # [] means every table, as in Datacoves
    assert every["AIRFLOW_AUDIT_ENV_SLUG"] == "qwe123"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tables": "log"}, "tables must be a list"),
        ({"additional_tables": ["log", ""]}, "additional_tables must be a list"),
        ({"mode": "append"}, "choose mirror or archive"),
    ],
)
def test_common_settings_refused(kwargs, match):
    base = {
        "tables": None,
        "additional_tables": None,
        "destination_schema": None,
        "env_slug": None,
        "mode": None,
    }
    with pytest.raises(SettingsError, match=match):
        common_environment(**{**base, **kwargs})


def test_source_url_from_a_postgres_connection_quotes_the_password():
    conn = Conn("postgres", host="db", login="reader", password="p@ss:w/rd", schema="airflow")
    assert postgres_url(conn) == "postgresql://reader:p%40ss%3Aw%2Frd@db:5432/airflow"
    with pytest.raises(SettingsError, match="must be a 'postgres' connection"):
        postgres_url(Conn("mysql", host="db", login="u", password="p", schema="a"))
    with pytest.raises(SettingsError, match="lacks password"):
        postgres_url(Conn("postgres", host="db", login="u", schema="a"))
