"""What the generated DAGs are made of, and the environment the operators give Meltano.

Pure parts, no Airflow: the schedule export against orchestrate/schedules.meltano.yml (read
here with YAML, not with the code under test), the per-table staggering, the source database's
resolution, the subprocess environment and the one-run-at-a-time lock.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import yaml

from airflow_audit_core.warehouses import job_for
from airflow_audit_operator.connection_settings import SettingsError
from airflow_audit_operator.dag_specs import (
    default_args,
    load_per_table,
    load_schedules,
    safe_id,
    stagger,
)
from airflow_audit_operator.meltano_command import (
    failure_reason,
    find_meltano,
    find_project_dir,
    project_lock,
    reconcile_outcome,
    source_settings,
    subprocess_environment,
)

ROOT = Path(__file__).resolve().parents[2]

DAGS = ROOT / "orchestrate" / "dags"
PG = "postgresql+psycopg2://airflow:pw@db:5432/airflow"


# -- schedules ----------------------------------------------------------------------------------


def test_the_export_holds_every_schedule_of_the_project():
    declared = yaml.safe_load((ROOT / "orchestrate" / "schedules.meltano.yml").read_text())
    jobs = {
        j["name"]: j["tasks"] for j in yaml.safe_load((ROOT / "meltano.yml").read_text())["jobs"]
    }
    specs = {s.name: s for s in load_schedules(DAGS / "schedules.json")}
    assert set(specs) == {s["name"] for s in declared["schedules"]}
    for schedule in declared["schedules"]:
        spec = specs[schedule["name"]]
        assert spec.job == schedule["job"]
        assert spec.env == schedule.get("env", {})
        assert list(spec.tasks) == jobs[schedule["job"]]
        expected = "0 * * * *" if schedule["interval"] == "@hourly" else schedule["interval"]
        assert spec.schedule == expected


def test_schedules_hourly_and_daily_never_start_together():
    specs = {s.name: s for s in load_schedules(DAGS / "schedules.json")}
    assert specs["airflow-audit-hourly"].schedule == "0 * * * *"
    minute, hour = specs["airflow-audit-daily-full"].schedule.split()[:2]
    assert minute != "0" and hour == "0"


def test_manual_schedules_and_elt_schedules(tmp_path):
    export = {
        "schedules": {
            "job": [
                {"name": "by hand", "interval": "@manual", "job": {"name": "j", "tasks": ["a b"]}},
                {"name": "once", "interval": "@once", "job": {"name": "j", "tasks": [["a", "b"]]}},
            ],
            "elt": [],
        }
    }
    path = tmp_path / "schedules.json"
    path.write_text(json.dumps(export))
    by_hand, once = load_schedules(path)
    assert by_hand.schedule is None and by_hand.dag_id == "by_hand"
    assert once.schedule == "@once" and once.tasks == ("a b",)
    export["schedules"]["elt"] = [{"name": "legacy"}]
    path.write_text(json.dumps(export))
    with pytest.raises(SettingsError, match="legacy run `meltano elt`"):
        load_schedules(path)


def test_a_missing_or_broken_export_says_how_to_regenerate_it(tmp_path):
    with pytest.raises(SettingsError, match="make schedules"):
        load_schedules(tmp_path / "schedules.json")
    (tmp_path / "schedules.json").write_text("{")
    with pytest.raises(SettingsError, match="not valid JSON"):
        load_schedules(tmp_path / "schedules.json")


def test_task_ids_are_legal_airflow_ids():
    assert safe_id("tap-x target-y dbt-duckdb:build") == "tap-x_target-y_dbt-duckdb_build"


# -- per-table mode -----------------------------------------------------------------------------


def test_tables_start_at_distinct_minutes_inside_the_window():
    tables = [f"t{i}" for i in range(10)]
    specs = stagger(tables, "00:00", "00:30")
    minutes = [int(s.cron.split()[0]) + 60 * int(s.cron.split()[1]) for s in specs]
    assert minutes == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]
    assert all(s.cron.endswith(" * * *") for s in specs)


def test_a_window_across_midnight_wraps():
    specs = stagger(["a", "b", "c"], "23:50", "00:20")
    assert [s.cron for s in specs] == ["50 23 * * *", "0 0 * * *", "10 0 * * *"]


def test_more_tables_than_minutes_still_fit_the_window():
    specs = stagger([f"t{i}" for i in range(45)], "01:00", "01:30")
    hours_minutes = [tuple(map(int, s.cron.split()[:2])) for s in specs]
    assert all(h == 1 and 0 <= m < 30 for m, h in hours_minutes)


def test_the_committed_per_table_config():
    config = load_per_table(DAGS / "per_table.json")
    listed = json.loads((DAGS / "per_table.json").read_text())["tables"]
    assert [t.table for t in config.tables] == listed
    assert len({t.cron for t in config.tables}) == len(listed)
    assert config.service_connection_name == "load_airflow"
    assert config.warehouse == "duckdb" and config.reconcile


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"tables": []}, "lists no tables"),
        ({"tables": ["dag", "dag"]}, "lists a table twice"),
        ({"tables": ["dag; drop"]}, "cannot be Airflow table names"),
        ({"tables": ["dag"], "warehouse": "oracle"}, "choose one of"),
        ({"tables": ["dag"], "window_start": "25:00"}, "HH:MM"),
    ],
)
def test_per_table_config_errors(tmp_path, config, match):
    path = tmp_path / "per_table.json"
    path.write_text(json.dumps(config))
    with pytest.raises(SettingsError, match=match):
        load_per_table(path)


def test_retries_default_and_override():
    args = default_args({})
    assert args["retries"] == 3 and args["retry_exponential_backoff"]
    assert args["max_retry_delay"] > args["retry_delay"]
    assert default_args({"AIRFLOW_AUDIT_DAG_RETRIES": "0"})["retries"] == 0
    with pytest.raises(SettingsError, match="whole number"):
        default_args({"AIRFLOW_AUDIT_DAG_RETRIES": "many"})
    assert default_args({}) is not default_args({})  # never a shared mutable


# -- the source database ------------------------------------------------------------------------


def test_source_conn_id_wins_over_everything():
    settings = source_settings(
        conn_url="postgresql://a:b@c/d",
        environ={"AIRFLOW_AUDIT_SOURCE_URL": "postgresql://x:y@z/w"},
        configured_url=PG,
        configured_schema=None,
    )
    assert settings == {"AIRFLOW_AUDIT_SOURCE_URL": "postgresql://a:b@c/d"}


def test_the_workers_own_source_url_is_kept():
    settings = source_settings(
        conn_url=None,
        environ={"AIRFLOW_AUDIT_SOURCE_URL": "postgresql://x:y@z/w"},
        configured_url=PG,
        configured_schema="airflow",
    )
    assert settings == {"AIRFLOW_AUDIT_SOURCE_SCHEMA": "airflow"}


def test_airflows_own_database_by_default():
    settings = source_settings(conn_url=None, environ={}, configured_url=PG, configured_schema=None)
    assert settings == {"AIRFLOW_AUDIT_SOURCE_URL": PG}


@pytest.mark.parametrize(
    ("configured", "match"),
    [
        ("airflow-db-not-allowed:///", "Airflow 3 hides it"),
        (None, "source_conn_id"),
        ("sqlite:////airflow/airflow.db", "sqlite database"),
        ("mysql+mysqldb://a:b@c/d", "mysql database"),
    ],
)
def test_no_usable_source_fails_in_one_sentence(configured, match):
    with pytest.raises(SettingsError, match=match) as err:
        source_settings(
            conn_url=None, environ={}, configured_url=configured, configured_schema=None
        )
    assert str(err.value).endswith(".") and "\n" not in str(err.value)


# -- the subprocess -----------------------------------------------------------------------------


def test_the_subprocess_environment(tmp_path):
    meltano = tmp_path / "venv" / "bin" / "meltano"
    base = {
        "PATH": "/usr/bin",
        "VIRTUAL_ENV": "/airflow/venv",
        "AIRFLOW_AUDIT_SNOWFLAKE_PASSWORD": "stale",
        "AIRFLOW_AUDIT_ENV_SLUG": "worker-slug",
        "AIRFLOW_AUDIT_TABLES": "[]",
    }
    env = subprocess_environment(
        base,
        settings={"AIRFLOW_AUDIT_SNOWFLAKE_USER": "u", "AIRFLOW_AUDIT_TABLES": None},
        clear=("AIRFLOW_AUDIT_SNOWFLAKE_PASSWORD", "AIRFLOW_AUDIT_SNOWFLAKE_USER"),
        meltano_bin=meltano,
    )
    assert env == {
        "PATH": f"{meltano.parent}:/usr/bin",
        "AIRFLOW_AUDIT_SNOWFLAKE_USER": "u",
        "AIRFLOW_AUDIT_ENV_SLUG": "worker-slug",
        "AIRFLOW_AUDIT_TABLES": "[]",
    }
    assert base["VIRTUAL_ENV"] == "/airflow/venv"  # the worker's own environment is untouched


def test_jobs_per_warehouse():
    assert job_for("duckdb") == "airflow-audit"
    assert job_for("snowflake") == "airflow-audit-snowflake"


def test_the_project_and_its_meltano_are_found(tmp_path):
    assert find_project_dir(None, {}) == ROOT
    assert find_meltano(None, ROOT, {}) == ROOT / ".venv" / "bin" / "meltano"
    with pytest.raises(SettingsError, match=r"holds no meltano\.yml"):
        find_project_dir(tmp_path, {})
    with pytest.raises(SettingsError, match="AIRFLOW_AUDIT_MELTANO_BIN"):
        find_meltano(None, ROOT, {"AIRFLOW_AUDIT_MELTANO_BIN": str(tmp_path / "nope")})


def test_a_second_run_waits_for_the_first(tmp_path):
    waited: list[Path] = []
    order: list[str] = []

    def second() -> None:
        with project_lock(tmp_path, {"MELTANO_SYS_DIR_ROOT": str(tmp_path)}, waited.append):
            order.append("second")

    with project_lock(tmp_path, {"MELTANO_SYS_DIR_ROOT": str(tmp_path)}, waited.append):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        order.append("first")
    thread.join(timeout=10)
    assert order == ["first", "second"]
    assert waited == [tmp_path / "airflow-audit-run.lock"]


# -- why a run failed (lines as real `meltano run`s printed them) -------------------------------

TAP_ERROR = [
    "2026-11-21T08:39:24.306331Z [warning  ] meltano      No state was found, complete import.",
    "2026-11-21T08:39:26.818323Z [info     ] tap-airflow-metadb   from singer_sdk import x",
    "2026-11-21T08:39:27.435686Z [info     ] tap-airflow-metadb tap-airflow-metadb: Table nope "
    "not found in the Airflow metadata database (Airflow 3.3.0 schema): check the names in "
    "AIRFLOW_AUDIT_TABLES and AIRFLOW_AUDIT_ADDITIONAL_TABLES against that version's tables.",
    "2026-11-21T08:39:27.791872Z [error    ] meltano      Extractor failed",
    "2026-11-21T08:39:27.792233Z [error    ] meltano      Block run completed",
    "2026-11-21T08:39:27.792417Z [info     ] meltano      Run completed",
]
CRASH = [
    "2026-11-21T08:08:37.479643Z [info     ] tap-airflow-metadb     raise JSONDecodeError(x)",
    "2026-11-21T08:08:37.479703Z [info     ] tap-airflow-metadb json.decoder.JSONDecodeError: "
    "Expecting value: line 1 column 1 (char 0)",
    "2026-11-21T08:08:37.890376Z [error    ] meltano      Extractor failed",
    "2026-11-21T08:08:37.890923Z [info     ] meltano      Run completed",
]
MELTANO_ERROR = [
    "2026-11-21T08:20:33.886734Z [info     ] tap-postgres tap-airflow-metadb: copying 12 tables.",
    "2026-11-21T08:21:18.113142Z [error    ] meltano      Cannot start plugin tap-airflow-metadb: "
    "[Errno 2] No such file or directory: 'tap.properties.json'",
    "2026-11-21T08:21:18.113995Z [error    ] meltano      Block run completed",
]


def test_the_reason_a_run_failed():
    assert failure_reason(TAP_ERROR).startswith("tap-airflow-metadb: Table nope not found")
    assert failure_reason(CRASH).startswith("json.decoder.JSONDecodeError: Expecting value")
    assert failure_reason(MELTANO_ERROR).startswith("Cannot start plugin tap-airflow-metadb")
    assert failure_reason(["no such job: airflow-audit-oracle", ""]) == (
        "no such job: airflow-audit-oracle"
    )


def test_the_reconcile_check_reads_its_tables_outcome():
    lines = [
        "airflow-audit-reconcile: log: source 12, warehouse 12: ok",
        "airflow-audit-reconcile: dag_run: source 7, warehouse 6: mismatch (1 MISSING)",
        # as `meltano invoke` passes it on, in its own log format
        "2026-11-22T18:36:43.485791Z [info     ] meltano      airflow-audit-reconcile: xcom: "
        "source 3, warehouse 3: ok",
    ]
    assert reconcile_outcome(lines, "dag_run") == {
        "table": "dag_run",
        "source_rows": 7,
        "warehouse_rows": 6,
        "outcome": "mismatch",
    }
    assert reconcile_outcome(lines, "xcom")["outcome"] == "ok"
    with pytest.raises(SettingsError, match="no outcome for job"):
        reconcile_outcome(lines, "job")
