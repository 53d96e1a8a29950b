"""Operators that run the airflow-audit Meltano project on the Airflow worker.

* `MeltanoRunOperator`: `meltano run <blocks or job>` in the project, output in the task log.
* `AirflowMetadataSyncOperator`: the drop-in for the Datacoves sync operators. It exports this
  Airflow's own metadata database into the warehouse named by an Airflow connection.
* `AirflowMetadataReconcileOperator`: after a load, the table in the warehouse against the
  source, key by key (airflow-audit-reconcile), on whichever warehouse was loaded.
* `AirflowAuditAlertsOperator`: after a build, the alerts the latest sync raised
  (rpt_alerts.is_new), sent through any Airflow notifier (SMTP, Slack ...).

Meltano runs in its own virtualenv (the project's `.venv`), never inside Airflow's: the
operators start it as a subprocess. Secrets reach it only through the child's environment.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow_audit_core.warehouses import DEFAULT_WAREHOUSE, job_for
from airflow_audit_operator import compat
from airflow_audit_operator.compat import AirflowException, AirflowFailException, BaseOperator
from airflow_audit_operator.connection_settings import (
    SECRET_VARIABLES,
    WAREHOUSE_VARIABLES,
    SettingsError,
    choose_warehouse,
    common_environment,
    postgres_url,
    warehouse_environment,
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

DEFAULT_SERVICE_CONNECTION = "load_airflow"


class MeltanoRunOperator(BaseOperator):
    """Run `meltano run <meltano_run...>` in the airflow-audit project.

    :param meltano_run: what `meltano run` gets: job names or plugin blocks. An item with
        spaces ("tap-x target-y") is split, as a Meltano job's task is.
    :param env: extra environment variables for Meltano (not secrets: they are templated).
    :param project_dir: the Meltano project; default AIRFLOW_AUDIT_PROJECT_DIR, else the
        project this package belongs to.
    :param meltano_bin: the meltano executable; default AIRFLOW_AUDIT_MELTANO_BIN, else the
        project's `.venv/bin/meltano`, else `meltano` on PATH.
    """

    template_fields: Sequence[str] = ("meltano_run", "env")
    ui_color = "#fcd9c4"

    def __init__(
        self,
        *,
        meltano_run: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        project_dir: str | None = None,
        meltano_bin: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.meltano_run = list(meltano_run) if meltano_run is not None else None
        self.env = dict(env) if env is not None else {}
        self.project_dir = project_dir
        self.meltano_bin = meltano_bin
        self._process: subprocess.Popen | None = None

    # -- what subclasses change ---------------------------------------------------------------

    def run_arguments(self) -> list[str]:
        if not self.meltano_run:
            raise AirflowFailException(
                f"Task {self.task_id} has nothing to run: pass meltano_run, such as "
                "['airflow-audit']."
            )
        return [part for item in self.meltano_run for part in shlex.split(item)]

    def settings(self) -> tuple[dict[str, str | None], tuple[str, ...]]:
        """(variables to set, variables to clear) for the Meltano subprocess."""
        return dict(self.env), ()

    # -- execution ------------------------------------------------------------------------------

    def prepare(self) -> tuple[Path, Path, dict[str, str]]:
        """The project, its meltano, and the environment to run it with (settings applied)."""
        try:
            project = find_project_dir(self.project_dir, os.environ)
            meltano = find_meltano(self.meltano_bin, project, os.environ)
            settings, clear = self.settings()
        except SettingsError as exc:
            raise AirflowFailException(str(exc)) from None
        env = subprocess_environment(
            os.environ, settings=settings, clear=clear, meltano_bin=meltano
        )
        return project, meltano, env

    def execute(self, context: Any) -> None:
        project, meltano, env = self.prepare()
        arguments = self.run_arguments()
        self.run_subprocess([str(meltano), "run", *arguments], env=env, cwd=project)

    def run_subprocess(self, command: list[str], *, env: dict[str, str], cwd: Path) -> list[str]:
        """Run `command`, its output line by line into the task log; the lines, for callers."""
        self.log.info("Running in %s: %s", cwd, shlex.join(command))
        lines: list[str] = []
        with project_lock(cwd, env, self._log_wait):
            self._process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                start_new_session=True,  # on_kill stops the whole process group
            )
            assert self._process.stdout is not None
            for raw in self._process.stdout:
                line = raw.rstrip("\n")
                lines.append(line)
                self.log.info("%s", line)
            code = self._process.wait()
            self._process = None
        if code != 0:
            reason = failure_reason(lines)
            raise AirflowException(
                f"{Path(command[0]).name} {' '.join(command[1:3])} failed with exit code {code}"
                + (f": {reason}" if reason else "; its output is above.")
            )
        return lines

    def _log_wait(self, lock: Path) -> None:
        self.log.info("Another airflow-audit run holds %s: waiting for it to end.", lock)

    def on_kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)


class _AirflowAuditOperator(MeltanoRunOperator):
    """What the sync and the check share: the warehouse connection and the source database."""

    template_fields: Sequence[str] = (
        "tables",
        "additional_tables",
        "destination_schema",
        "service_connection_name",
        "env_slug",
        "mode",
        "source_conn_id",
        "meltano_run",
        "env",
    )

    def __init__(
        self,
        *,
        tables: Sequence[str] | None = None,
        additional_tables: Sequence[str] | None = None,
        destination_schema: str | None = None,
        service_connection_name: str | None = DEFAULT_SERVICE_CONNECTION,
        warehouse: str | None = None,
        env_slug: str | None = None,
        mode: str | None = None,
        source_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.tables = list(tables) if tables is not None else None
        self.additional_tables = list(additional_tables) if additional_tables is not None else None
        self.destination_schema = destination_schema
        self.service_connection_name = service_connection_name
        self.warehouse = warehouse
        self.env_slug = env_slug
        self.mode = mode
        self.source_conn_id = source_conn_id
        self._resolved_warehouse: str | None = None

    def _connection(self, conn_id: str, *, holds: str, argument: str) -> Any:
        try:
            return compat.get_connection(conn_id)
        except compat.AirflowNotFoundException:
            raise AirflowFailException(
                f"The Airflow connection {conn_id!r} does not exist: create it, or name the "
                f"connection that holds {holds} in {argument}."
            ) from None

    def settings(self) -> tuple[dict[str, str | None], tuple[str, ...]]:
        settings: dict[str, str | None] = dict(self.env)
        settings.update(
            common_environment(
                tables=self.tables,
                additional_tables=self.additional_tables,
                destination_schema=self.destination_schema,
                env_slug=self.env_slug,
                mode=self.mode,
            )
        )
        clear: tuple[str, ...] = ()
        if self.service_connection_name:
            conn = self._connection(
                self.service_connection_name,
                holds="the warehouse's credentials",
                argument="service_connection_name",
            )
            warehouse = choose_warehouse(conn, self.warehouse)
            loader_settings = warehouse_environment(conn, warehouse)
            clear = WAREHOUSE_VARIABLES[warehouse]
        else:
            # No connection: the warehouse as the worker's own AIRFLOW_AUDIT_* variables set it.
            warehouse = choose_warehouse(None, self.warehouse or "duckdb")
            loader_settings = {}
        source_url = None
        if self.source_conn_id:
            source_conn = self._connection(
                self.source_conn_id, holds="the Airflow database", argument="source_conn_id"
            )
            source_url = postgres_url(source_conn)
        configured_url, configured_schema = compat.configured_database()
        source = source_settings(
            conn_url=source_url,
            environ=os.environ,
            configured_url=configured_url,
            configured_schema=configured_schema,
        )
        settings.update(loader_settings)
        settings.update(source)
        for name, value in settings.items():
            if value and name in SECRET_VARIABLES:
                compat.mask_secret(value)
        self._resolved_warehouse = warehouse
        self.log.info(
            "Warehouse %s%s; settings passed to Meltano: %s",
            warehouse,
            f" from connection {self.service_connection_name!r}"
            if self.service_connection_name
            else "",
            ", ".join(sorted(k for k, v in settings.items() if v is not None)),
        )
        return settings, clear


class AirflowMetadataSyncOperator(_AirflowAuditOperator):
    """Copy this Airflow's metadata database into a warehouse (a drop-in for Datacoves' operators).

    :param tables: tables to copy instead of the default set; `[]` copies every table.
    :param additional_tables: tables to copy on top of that set.
    :param destination_schema: the schema the tables land in; default `airflow-<env_slug>`.
    :param service_connection_name: the Airflow connection holding the warehouse's credentials
        (default `load_airflow`). None: the warehouse (default DuckDB) as the worker's own
        AIRFLOW_AUDIT_* variables configure it.
    :param warehouse: duckdb, snowflake, redshift or bigquery; default: the connection's type
        decides (duckdb, snowflake, redshift, google_cloud_platform/gcpbigquery).
    :param env_slug: the environment's slug (schema `airflow-<slug>`); default the worker's
        AIRFLOW_AUDIT_ENV_SLUG, else `local`.
    :param mode: mirror (default) or archive (rows deleted at the source are kept, marked).
    :param source_conn_id: a postgres connection to the Airflow database to read. Default:
        AIRFLOW_AUDIT_SOURCE_URL on the worker, else Airflow's own `sql_alchemy_conn`
        (Airflow 2 only: Airflow 3 hides it from tasks).
    :param meltano_run: what to run; default the warehouse's job, `airflow-audit` (DuckDB) or
        `airflow-audit-<warehouse>`.

    An argument left out keeps the worker's own AIRFLOW_AUDIT_* value, if it has one; the
    warehouse's credentials always come from the connection alone.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("task_id", "airflow_metadata_sync")
        super().__init__(**kwargs)

    def execute(self, context: Any) -> None:
        project, meltano, env = self.prepare()
        assert self._resolved_warehouse is not None
        arguments = (
            self.run_arguments() if self.meltano_run else [job_for(self._resolved_warehouse)]
        )
        self.run_subprocess([str(meltano), "run", *arguments], env=env, cwd=project)


class AirflowMetadataReconcileOperator(_AirflowAuditOperator):
    """Fail unless `table` in the warehouse equals the source, key by key.

    Runs `meltano invoke airflow-audit-reconcile <warehouse> --table <table>` right after the
    load, on the warehouse the connection names (any of the four): primary keys compared bucket
    by bucket, rows deleted at the source deleted (mirror) or marked (archive), the outcome
    appended to `_sync_audit`.  Rows the source changed after the load's snapshot are not a
    difference (the next sync brings them), so a busy Airflow does not fail the check.
    """

    template_fields: Sequence[str] = (*_AirflowAuditOperator.template_fields, "table")

    def __init__(self, *, table: str, **kwargs: Any) -> None:
        kwargs.setdefault("task_id", f"check_{table}")
        super().__init__(**kwargs)
        self.table = table

    def execute(self, context: Any) -> dict[str, Any]:
        project, meltano, env = self.prepare()
        warehouse = self._resolved_warehouse or DEFAULT_WAREHOUSE
        command = [
            *(str(meltano), "invoke", "airflow-audit-reconcile"),
            *(warehouse, "--table", self.table),
        ]
        try:
            lines = self.run_subprocess(command, env=env, cwd=project)
        except AirflowException as exc:
            raise AirflowFailException(str(exc).split(": ", 1)[-1]) from None
        outcome = reconcile_outcome(lines, self.table)
        self.log.info(
            "%s: %s rows in the source, %s in the %s warehouse: %s",
            self.table,
            outcome["source_rows"],
            outcome["warehouse_rows"],
            warehouse,
            outcome["outcome"],
        )
        return outcome


# The name of earlier releases, whose check counted DuckDB rows only.
AirflowMetadataRowCountCheckOperator = AirflowMetadataReconcileOperator


class AirflowAuditAlertsOperator(MeltanoRunOperator):
    """Send the alerts the latest sync raised through an Airflow notifier.

    Reads `rpt_alerts` where `is_new` (`meltano invoke airflow-audit-report alerts --json`, on the
    warehouse the worker's AIRFLOW_AUDIT_* variables configure, or `warehouse`), and, when there
    is any, calls `notifier` (an Airflow BaseNotifier: SmtpNotifier, SlackNotifier, ...) with the
    task's context plus `airflow_audit_alerts` (the list), `airflow_audit_alerts_text` and
    `airflow_audit_alerts_html`, which the notifier's templates may use.  Returns how many it sent.
    Put it after the task that builds the marts: a rerun of the same build sends them again.
    """

    ui_color = "#f9e0a8"

    def __init__(self, *, notifier: Any, warehouse: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("task_id", "notify_alerts")
        super().__init__(**kwargs)
        self.notifier = notifier
        self.warehouse = warehouse

    def execute(self, context: Any) -> int:
        from airflow_audit_operator.alerts import alerts_html, alerts_text

        project, meltano, env = self.prepare()
        warehouse = self.warehouse or env.get("AIRFLOW_AUDIT_REPORT_WAREHOUSE") or DEFAULT_WAREHOUSE
        command = [
            *(str(meltano), "--log-level=warning", "invoke", "airflow-audit-report"),
            *("--warehouse", warehouse, "alerts", "--json"),
        ]
        self.log.info("Running in %s: %s", project, shlex.join(command))
        with project_lock(project, env, self._log_wait):
            done = subprocess.run(
                command, cwd=project, env=env, capture_output=True, text=True, check=False
            )
        for line in done.stderr.splitlines():
            self.log.info("%s", line)
        if done.returncode != 0:
            reason = failure_reason(done.stderr.splitlines())
            raise AirflowException(
                "Reading the alerts failed"
                + (f": {reason}" if reason else "; its output is above.")
            )
        alerts = json.loads(done.stdout)
        if not alerts:
            self.log.info("No new alerts.")
            return 0
        self.log.info("%d new alerts: %s", len(alerts), alerts_text(alerts))
        notify_context = dict(context)
        notify_context.update(
            airflow_audit_alerts=alerts,
            airflow_audit_alerts_text=alerts_text(alerts),
            airflow_audit_alerts_html=alerts_html(alerts),
        )
        self.notifier(notify_context)
        return len(alerts)
