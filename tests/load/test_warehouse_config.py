"""Snowflake, Redshift and BigQuery: configuration, schema names and the full-read rules.

* The pure parts of the warehouse shims: the raw schema per warehouse, the mapping of Meltano's
  settings to each real target's configuration, the ACTIVATE_VERSION gate and its SQL, and the
  FullReadMixin driven through a recording stand-in of a singer_sdk Target.
* The dbt profiles compute the same raw schema as the loaders (rendered with Jinja).
* The real `meltano config list` / `meltano config print`: every setting of every new loader and
  transformer comes from the AIRFLOW_AUDIT_* variable it is documented to come from.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from airflow_audit_core.errors import UserError
from airflow_audit_core.naming import destination_schema
from airflow_audit_loader.bigquery.settings import target_config as bigquery_target_config
from airflow_audit_loader.full_read import FullReadGate, full_read_sql
from airflow_audit_loader.redshift.settings import target_config as redshift_target_config
from airflow_audit_loader.snowflake.settings import target_config as snowflake_target_config
from airflow_audit_loader.wrapped_target import FullReadMixin, json_as_text, json_properties
from tests.support import ROOT, meltano


def raw_schema(warehouse: str, slug: str | None = None, override: str | None = None) -> str:
    return destination_schema(slug, override, warehouse)


SNOWFLAKE = {"account": "acme-xy12345", "user": "loader", "database": "RAW", "password": "pw"}
REDSHIFT = {
    "host": "acme.abc123.eu-west-1.redshift.amazonaws.com",
    "database": "analytics",
    "user": "airflow_audit_loader",
    "password": "pw",
    "s3_bucket": "acme-staging",
}


# ---- the raw schema -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("warehouse", "slug", "override", "expected"),
    [
        ("snowflake", None, None, "AIRFLOW_LOCAL"),
        ("snowflake", "qwe123", None, "AIRFLOW_QWE123"),
        ("snowflake", "prod-eu_1", None, "AIRFLOW_PROD_EU_1"),
        ("snowflake", "qwe123", "raw-Airflow", "RAW_AIRFLOW"),
        ("redshift", None, None, "airflow-local"),
        ("redshift", "qwe123", None, "airflow-qwe123"),
        ("redshift", "qwe123", "raw_airflow", "raw_airflow"),
        ("bigquery", "qwe123", None, "airflow_qwe123"),
        ("bigquery", "prod-eu_1", "raw-airflow", "raw_airflow"),
    ],
)
def test_raw_schema(warehouse, slug, override, expected):
    assert raw_schema(warehouse, slug, override) == expected


def test_a_bad_slug_is_refused_on_every_warehouse():
    for warehouse in ("snowflake", "redshift", "bigquery"):
        with pytest.raises(UserError, match="cannot make a schema name"):
            raw_schema(warehouse, "Bad Slug")


def render_profile_schema(warehouse: str, env: dict[str, str]) -> str:
    """The raw schema a dbt profile computes (its `schema`, BigQuery's `dataset`)."""
    profile = yaml.safe_load((ROOT / f"transform/profiles/{warehouse}/profiles.yml").read_text())
    output = profile["airflow_audit"]["outputs"][warehouse]
    template = output["dataset" if warehouse == "bigquery" else "schema"]

    def env_var(name: str, default: str | None = None) -> str:
        if name in env:
            return env[name]
        if default is None:
            raise KeyError(name)
        return default

    return jinja2.Environment().from_string(template).render(env_var=env_var)


@pytest.mark.parametrize("warehouse", ["duckdb", "snowflake", "redshift", "bigquery"])
@pytest.mark.parametrize(
    ("slug", "override"),
    [
        (None, None),
        ("", ""),
        ("qwe123", None),
        ("prod-eu_1", " "),
        ("qwe123", "raw-airflow"),
        (" spaced ", ""),
        ("", " raw-x "),
    ],
)
def test_profiles_compute_the_loaders_schema(warehouse, slug, override):
    env = {}
    if slug is not None:
        env["AIRFLOW_AUDIT_ENV_SLUG"] = slug
    if override is not None:
        env["AIRFLOW_AUDIT_DESTINATION_SCHEMA"] = override
    assert render_profile_schema(warehouse, env) == raw_schema(warehouse, slug, override)


def test_dbt_reads_the_raw_schema_from_the_profile_only():
    """The rule is in each warehouse's profile (checked above against naming.py); the macro and the
    sources take the profile's schema, and nothing else in the dbt project reads the variables."""
    macro = (ROOT / "transform/macros/airflow_audit_raw_schema.sql").read_text()
    assert "return(target.schema)" in macro
    sources = yaml.safe_load(
        (ROOT / "transform/models/staging/airflow/_airflow__sources.yml").read_text()
    )
    assert [s["schema"] for s in sources["sources"]] == ["{{ target.schema }}"]
    readers = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "transform").rglob("*")
        if path.suffix in (".sql", ".yml")
        and "profiles" not in path.parts
        and "target" not in path.parts
        and re.search(r"AIRFLOW_AUDIT_(ENV_SLUG|DESTINATION_SCHEMA)'", path.read_text())
    ]
    assert readers == []


# ---- Meltano settings -> each target's configuration ----------------------------------------------


def test_snowflake_config():
    config = snowflake_target_config(
        {**SNOWFLAKE, "env_slug": "qwe123", "mode": "", "role": "", "private_key": ""}
    )
    assert config["default_target_schema"] == "AIRFLOW_QWE123"
    assert config["hard_delete"] is True
    assert config["add_record_metadata"] is True
    assert config["timestamp_type"] == "TIMESTAMP_TZ"
    assert config["uuid_format"] == "string"
    # The project's own settings and empty values never reach the target.
    assert not {"env_slug", "destination_schema", "mode", "role", "private_key"} & set(config)


def test_snowflake_archive_mode_soft_deletes():
    assert snowflake_target_config({**SNOWFLAKE, "mode": "Archive"})["hard_delete"] is False


def test_snowflake_a_private_key_wins_over_the_password():
    config = snowflake_target_config(
        {
            **SNOWFLAKE,
            "private_key": "-----BEGIN PRIVATE KEY-----\n...",
            "private_key_passphrase": "x",
        }
    )
    assert "password" not in config
    assert config["private_key_passphrase"] == "x"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({**SNOWFLAKE, "account": ""}, "AIRFLOW_AUDIT_SNOWFLAKE_ACCOUNT"),
        ({**SNOWFLAKE, "password": ""}, "a password or a key pair"),
        ({**SNOWFLAKE, "private_key": "k", "private_key_path": "/k.pem"}, "keep one of them"),
        ({**SNOWFLAKE, "mode": "mirror-ish"}, "AIRFLOW_AUDIT_MODE"),
    ],
)
def test_snowflake_config_errors_are_one_sentence(config, message):
    with pytest.raises(UserError, match=message) as err:
        snowflake_target_config(config)
    assert "\n" not in str(err.value)


def test_bigquery_config():
    config = bigquery_target_config({"project": "acme", "env_slug": "prod-eu"})
    assert config["dataset"] == "airflow_prod_eu"
    assert config["location"] == "US"
    assert config["denormalized"] is True
    assert config["upsert"] is True
    assert config["method"] == "batch_job"
    assert config["hard_delete"] is True
    archive = bigquery_target_config({"project": "acme", "mode": "archive", "location": "EU"})
    assert archive["hard_delete"] is False
    assert archive["location"] == "EU"


def test_bigquery_credentials_are_one_or_the_other():
    with pytest.raises(UserError, match="keep one of them"):
        bigquery_target_config({"project": "a", "credentials_path": "/k", "credentials_json": "{}"})
    assert "credentials_path" not in bigquery_target_config({"project": "a"})


def test_redshift_config_defaults():
    config = redshift_target_config({**REDSHIFT, "env_slug": "qwe123", "port": "", "mode": ""})
    assert config["schema"] == "airflow-qwe123"
    assert config["mode"] == "mirror"
    assert config["port"] == 5439
    assert config["sslmode"] == "require"
    assert config["load_method"] == "copy"
    assert config["s3_key_prefix"] == ""
    assert config["batch_size_rows"] == 100_000
    archive = redshift_target_config(
        {**REDSHIFT, "mode": "archive", "port": "5440", "s3_key_prefix": "/airflow-audit"}
    )
    assert (archive["mode"], archive["port"], archive["s3_key_prefix"]) == (
        "archive",
        5440,
        "airflow-audit/",
    )


def test_redshift_iam_and_insert_need_no_password_or_bucket():
    provisioned = {**REDSHIFT, "password": "", "cluster_identifier": "acme", "s3_bucket": ""}
    assert redshift_target_config({**provisioned, "load_method": "insert"})["load_method"] == (
        "insert"
    )
    # A Serverless workgroup's credentials name their own user.
    serverless = {**REDSHIFT, "password": "", "user": "", "workgroup": "acme-wg"}
    assert redshift_target_config(serverless)["workgroup"] == "acme-wg"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({**REDSHIFT, "host": ""}, "AIRFLOW_AUDIT_REDSHIFT_HOST"),
        ({**REDSHIFT, "database": " "}, "AIRFLOW_AUDIT_REDSHIFT_DATABASE"),
        ({**REDSHIFT, "password": ""}, "a password or IAM authentication"),
        ({**REDSHIFT, "cluster_identifier": "c"}, "keep one of them"),
        ({**REDSHIFT, "password": "", "cluster_identifier": "c", "workgroup": "w"}, "keep the one"),
        ({**REDSHIFT, "s3_bucket": ""}, "AIRFLOW_AUDIT_REDSHIFT_S3_BUCKET"),
        ({**REDSHIFT, "load_method": "unload"}, "AIRFLOW_AUDIT_REDSHIFT_LOAD_METHOD"),
        ({**REDSHIFT, "sslmode": "on"}, "AIRFLOW_AUDIT_REDSHIFT_SSLMODE"),
        ({**REDSHIFT, "port": "redshift"}, "AIRFLOW_AUDIT_REDSHIFT_PORT"),
        ({**REDSHIFT, "aws_access_key_id": "AKIA"}, "set both, or neither"),
        ({**REDSHIFT, "mode": "append"}, "AIRFLOW_AUDIT_MODE"),
    ],
)
def test_redshift_config_errors_are_one_sentence(config, message):
    with pytest.raises(UserError, match=message) as err:
        redshift_target_config(config)
    assert "\n" not in str(err.value)


# ---- the full-read contract -------------------------------------------------------------------------


def test_the_gate_passes_only_the_second_activate_version():
    gate = FullReadGate()
    assert not gate.closes_full_read("public-dag", 1)
    assert not gate.closes_full_read("public-dag_run", 1)
    assert gate.closes_full_read("public-dag", 1)
    assert gate.unfinished() == ["public-dag_run"]
    # A new run (new version) starts over.
    assert not gate.closes_full_read("public-dag", 2)


def test_full_read_sql():
    mirror = full_read_sql('"s"."t"', "mirror", version=":v", deleted_at=":d")
    assert (
        mirror
        == 'DELETE FROM "s"."t" WHERE (_sdc_table_version IS NULL OR _sdc_table_version <> :v)'
    )
    archive = full_read_sql("`p.d.t`", "archive", version="@v", deleted_at="@d")
    assert archive.startswith("UPDATE `p.d.t` SET _sdc_deleted_at = @d WHERE (")
    assert archive.endswith("AND _sdc_deleted_at IS NULL")


class RecordingTarget:
    """Stands in for a singer_sdk Target: records what reaches it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def drain_all(self) -> None:
        self.calls.append(("drain_all", None))

    def _process_schema_message(self, message: dict) -> None:
        self.calls.append(("schema", message))

    def _process_record_message(self, message: dict) -> None:
        self.calls.append(("record", message))

    def _process_activate_version_message(self, message: dict) -> None:
        self.calls.append(("activate_version", message))


class Shimmed(FullReadMixin, RecordingTarget):
    pass


JSON_SCHEMA = {
    "type": "SCHEMA",
    "stream": "public-dag",
    "schema": {
        "properties": {
            "dag_id": {"type": ["string"]},
            "dataset_expression": {
                "type": ["string", "number", "integer", "array", "object", "boolean", "null"]
            },
        }
    },
    "key_properties": ["dag_id"],
}


def test_the_mixin_deletes_only_after_a_drained_complete_read():
    target = Shimmed()
    target._process_activate_version_message({"stream": "public-dag", "version": 7})
    assert target.calls == []
    target._process_activate_version_message({"stream": "public-dag", "version": 7})
    assert [name for name, _ in target.calls] == ["drain_all", "activate_version"]


def test_the_mixin_sends_json_columns_as_json_text():
    target = Shimmed()
    target._process_schema_message(json.loads(json.dumps(JSON_SCHEMA)))
    schema = target.calls[0][1]["schema"]["properties"]
    assert schema["dataset_expression"] == {"type": ["string", "null"]}
    assert schema["dag_id"] == {"type": ["string"]}
    record = {"dag_id": "d", "dataset_expression": {"any": ["x", None]}}
    target._process_record_message({"type": "RECORD", "stream": "public-dag", "record": record})
    sent = target.calls[1][1]["record"]
    assert json.loads(sent["dataset_expression"]) == {"any": ["x", None]}
    assert sent["dag_id"] == "d"


def test_the_mixin_renames_streams_when_asked():
    target = Shimmed()
    target.table_name_only = True
    target._process_schema_message(json.loads(json.dumps(JSON_SCHEMA)))
    assert target.calls[0][1]["stream"] == "dag"


def test_json_helpers():
    assert json_properties(JSON_SCHEMA["schema"]) == ["dataset_expression"]
    message = {"record": {"a": [1, 2], "b": None}}
    assert json_as_text(message, ["a", "b"])["record"] == {"a": "[1, 2]", "b": None}


# ---- the real Meltano configuration ------------------------------------------------------------------

LOADER_ENV = {
    "target-airflow-audit-snowflake": {
        "account": ("AIRFLOW_AUDIT_SNOWFLAKE_ACCOUNT", "acme-xy12345"),
        "user": ("AIRFLOW_AUDIT_SNOWFLAKE_USER", "airflow_audit_loader"),
        "password": ("AIRFLOW_AUDIT_SNOWFLAKE_PASSWORD", "pw-sf"),
        "private_key": ("AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY", "-----BEGIN PRIVATE KEY-----"),
        "private_key_path": ("AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY_PATH", "/keys/rsa.p8"),
        "private_key_passphrase": ("AIRFLOW_AUDIT_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE", "phrase"),
        "role": ("AIRFLOW_AUDIT_SNOWFLAKE_ROLE", "LOADER"),
        "warehouse": ("AIRFLOW_AUDIT_SNOWFLAKE_WAREHOUSE", "LOAD_WH"),
        "database": ("AIRFLOW_AUDIT_SNOWFLAKE_DATABASE", "RAW"),
    },
    "target-airflow-audit-redshift": {
        "host": ("AIRFLOW_AUDIT_REDSHIFT_HOST", "acme.abc123.eu-west-1.redshift.amazonaws.com"),
        "port": ("AIRFLOW_AUDIT_REDSHIFT_PORT", "5440"),
        "database": ("AIRFLOW_AUDIT_REDSHIFT_DATABASE", "analytics"),
        "user": ("AIRFLOW_AUDIT_REDSHIFT_USER", "airflow_audit_loader"),
        "password": ("AIRFLOW_AUDIT_REDSHIFT_PASSWORD", "pw-rs"),
        "cluster_identifier": ("AIRFLOW_AUDIT_REDSHIFT_CLUSTER_IDENTIFIER", "acme"),
        "workgroup": ("AIRFLOW_AUDIT_REDSHIFT_WORKGROUP", "acme-wg"),
        "sslmode": ("AIRFLOW_AUDIT_REDSHIFT_SSLMODE", "verify-full"),
        "load_method": ("AIRFLOW_AUDIT_REDSHIFT_LOAD_METHOD", "insert"),
        "s3_bucket": ("AIRFLOW_AUDIT_REDSHIFT_S3_BUCKET", "acme-staging"),
        "s3_key_prefix": ("AIRFLOW_AUDIT_REDSHIFT_S3_KEY_PREFIX", "airflow-audit/"),
        "s3_region": ("AIRFLOW_AUDIT_REDSHIFT_S3_REGION", "eu-west-1"),
        "copy_role_arn": ("AIRFLOW_AUDIT_REDSHIFT_COPY_ROLE_ARN", "arn:aws:iam::1:role/copy"),
        "aws_access_key_id": ("AIRFLOW_AUDIT_REDSHIFT_AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        "aws_secret_access_key": ("AIRFLOW_AUDIT_REDSHIFT_AWS_SECRET_ACCESS_KEY", "secret-rs"),
        "aws_session_token": ("AIRFLOW_AUDIT_REDSHIFT_AWS_SESSION_TOKEN", "token-rs"),
    },
    "target-airflow-audit-bigquery": {
        "project": ("AIRFLOW_AUDIT_BIGQUERY_PROJECT", "acme-analytics"),
        "location": ("AIRFLOW_AUDIT_BIGQUERY_LOCATION", "EU"),
        "credentials_path": ("AIRFLOW_AUDIT_BIGQUERY_CREDENTIALS_PATH", "/keys/sa.json"),
        "credentials_json": ("AIRFLOW_AUDIT_BIGQUERY_CREDENTIALS_JSON", '{"type": "x"}'),
    },
}
SHARED_ENV = {
    "env_slug": ("AIRFLOW_AUDIT_ENV_SLUG", "qwe123"),
    "destination_schema": ("AIRFLOW_AUDIT_DESTINATION_SCHEMA", "raw_airflow"),
    "mode": ("AIRFLOW_AUDIT_MODE", "archive"),
}


@pytest.mark.parametrize("loader", sorted(LOADER_ENV))
def test_meltano_config_list_reads_every_setting_from_its_variable(loader):
    settings = {**SHARED_ENV, **LOADER_ENV[loader]}
    env = dict(settings.values())
    result = meltano("config", "list", "--all", loader, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = {line.split(" ", 1)[0]: line for line in result.stdout.splitlines() if "[env:" in line}
    for setting, (variable, value) in settings.items():
        line = lines[setting]
        assert f"(default: '${variable}')" in line, line
        shown = "(redacted)" if "(redacted)" in line else repr(value)
        assert f"current value: {shown}" in line, line

    printed = meltano("config", "--unsafe", "print", loader, env=env, timeout=120)
    assert printed.returncode == 0, printed.stderr[-2000:]
    config = json.loads(printed.stdout)
    assert {setting: config.get(setting) for setting in settings} == {
        setting: value for setting, (_, value) in settings.items()
    }


def test_every_variable_the_airflow_operator_sets_is_a_redshift_setting():
    from airflow_audit_operator.connection_settings import WAREHOUSE_VARIABLES

    documented = {variable for variable, _ in LOADER_ENV["target-airflow-audit-redshift"].values()}
    assert set(WAREHOUSE_VARIABLES["redshift"]) == documented
    (plugin,) = yaml.safe_load((ROOT / "load/redshift.meltano.yml").read_text())["plugins"][
        "loaders"
    ]
    from_env = {s["value"][1:] for s in plugin["settings"] if str(s.get("value")).startswith("$")}
    assert documented <= from_env


@pytest.mark.parametrize(
    ("env", "schema"),
    [
        ({}, "airflow-local"),
        ({"AIRFLOW_AUDIT_ENV_SLUG": "qwe123"}, "airflow-qwe123"),
        ({"AIRFLOW_AUDIT_ENV_SLUG": "qwe123", "AIRFLOW_AUDIT_DESTINATION_SCHEMA": "raw"}, "raw"),
    ],
)
def test_the_redshift_loader_computes_its_schema_from_what_meltano_resolves(env, schema):
    required = {
        "AIRFLOW_AUDIT_REDSHIFT_HOST": "h",
        "AIRFLOW_AUDIT_REDSHIFT_DATABASE": "d",
        "AIRFLOW_AUDIT_REDSHIFT_USER": "u",
        "AIRFLOW_AUDIT_REDSHIFT_PASSWORD": "p",
        "AIRFLOW_AUDIT_REDSHIFT_S3_BUCKET": "b",
    }
    printed = meltano(
        "config", "--unsafe", "print", "target-airflow-audit-redshift", env={**required, **env}
    )
    assert printed.returncode == 0, printed.stderr[-2000:]
    config = redshift_target_config(json.loads(printed.stdout))
    assert config["schema"] == schema == raw_schema("redshift", *(env.get(k) for k in SLUG_VARS))
    assert config["batch_size_rows"] == 100_000


SLUG_VARS = ("AIRFLOW_AUDIT_ENV_SLUG", "AIRFLOW_AUDIT_DESTINATION_SCHEMA")


def test_meltano_leaves_unset_variables_out():
    printed = meltano("config", "print", "target-airflow-audit-snowflake", env={}, timeout=120)
    assert printed.returncode == 0, printed.stderr[-2000:]
    config = json.loads(printed.stdout)
    assert not {"account", "password", "env_slug", "mode"} & set(config)
    with pytest.raises(UserError, match="AIRFLOW_AUDIT_SNOWFLAKE_ACCOUNT"):
        snowflake_target_config(config)


TRANSFORMERS = ("dbt-snowflake", "dbt-redshift", "dbt-bigquery")


def warehouse_env(plugin: str) -> str:
    return plugin.upper().replace("-", "_")


@pytest.mark.parametrize("transformer", TRANSFORMERS)
def test_meltano_config_list_of_the_transformers(transformer):
    warehouse = transformer.removeprefix("dbt-")
    result = meltano("config", "list", "--all", transformer, env={}, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"current value: '{warehouse}'" in result.stdout
    assert (
        f"current value: '{ROOT}/transform/profiles/{warehouse}' (from `meltano.yml`: "
        f"'$MELTANO_PROJECT_ROOT/transform/profiles/{warehouse}')"
    ) in result.stdout
    assert f"profiles_dir [env: {warehouse_env(transformer)}_PROFILES_DIR] " in result.stdout
    assert "skip_pre_invoke" in result.stdout and "current value: True" in result.stdout


def plugin_definitions(path: Path, kind: str) -> dict[str, dict]:
    return {p["name"]: p for p in yaml.safe_load(path.read_text())["plugins"][kind]}


def test_transformers_pin_the_same_dbt_core_as_duckdb():
    duckdb = plugin_definitions(ROOT / "transform/transformers.meltano.yml", "transformers")
    dbt_core = next(
        p for p in duckdb["dbt-duckdb"]["pip_url"].split() if p.startswith("dbt-core==")
    )
    ours = plugin_definitions(ROOT / "transform/warehouses.meltano.yml", "transformers")
    assert sorted(ours) == sorted(TRANSFORMERS)
    for name, plugin in ours.items():
        pins = plugin["pip_url"].split()
        assert dbt_core in pins and "meltano-dbt-ext==0.5.0" in pins
        assert any(p.startswith(f"{name}==") for p in pins), name
        # One base: settings and commands are dbt-duckdb's; only the adapter, type and profile differ.
        assert plugin["inherit_from"] == "dbt-duckdb"
        assert set(plugin) == {"name", "inherit_from", "pip_url", "config"}
        assert set(plugin["config"]) == {"type", "profiles_dir"}


def test_the_redshift_loader_is_the_projects_own_with_exact_pins():
    (plugin,) = yaml.safe_load((ROOT / "load/redshift.meltano.yml").read_text())["plugins"][
        "loaders"
    ]
    assert plugin["pip_url"] == "-e ./core -e ./load/airflow-audit-loader[redshift]"
    assert plugin["executable"] == "target-airflow-audit-redshift"
    pyproject = (ROOT / "load/airflow-audit-loader/pyproject.toml").read_text()
    block = re.search(r"^redshift = \[(.*?)^\]", pyproject, re.S | re.M)
    assert block, "pyproject.toml has no `redshift` extra"
    extra = re.findall(r'"([^"]+)"', block[1])
    assert sorted(r.split("==")[0] for r in extra) == ["boto3", "psycopg2-binary"]
    assert all(re.fullmatch(r"[a-z0-9-]+==[0-9][0-9.]*", r) for r in extra), extra
    for setting in plugin["settings"]:
        if setting.get("kind") == "password":
            assert setting["value"].startswith("$AIRFLOW_AUDIT_REDSHIFT_"), setting
    jobs = {
        j["name"]: j["tasks"] for j in yaml.safe_load((ROOT / "meltano.yml").read_text())["jobs"]
    }
    # Reconciled after every load, as DuckDB is: deletes in growing tables, corruption.
    assert jobs["airflow-audit-redshift"] == [
        "tap-airflow-metadb target-airflow-audit-redshift airflow-audit-reconcile:redshift dbt-redshift:build-changed"
    ]
    (reconcile,) = yaml.safe_load((ROOT / "utilities/reconcile.meltano.yml").read_text())[
        "plugins"
    ]["utilities"]
    # The reconcile utility logs in as the loader does, so it gets the same pinned extra.
    assert (
        "./load/airflow-audit-loader[redshift,snowflake,bigquery]" in reconcile["pip_url"].split()
    )
    assert reconcile["commands"]["redshift"]["args"] == "redshift"


@pytest.mark.parametrize("warehouse", ["snowflake", "bigquery"])
def test_loader_pip_urls_are_pinned_and_nothing_secret_is_in_the_yml(warehouse):
    path = ROOT / f"load/{warehouse}.meltano.yml"
    (plugin,) = yaml.safe_load(path.read_text())["plugins"]["loaders"]
    for requirement in plugin["pip_url"].split():
        assert requirement in ("-e", "./core", "./load/airflow-audit-loader") or "==" in requirement
    assert plugin["executable"] == f"target-airflow-audit-{warehouse}"
    for setting in plugin["settings"]:
        if setting.get("kind") == "password":
            assert setting["value"].startswith("$AIRFLOW_AUDIT_"), setting
