"""BigQuery's side of reconciliation, through google-cloud-bigquery, logged in as the BigQuery
loader logs in (a key file, key JSON, or application-default credentials).

GoogleSQL: md5 returns bytes (to_hex), strings are STRING, times render with format_timestamp in
UTC and six fractional digits (`%E6S`), identifiers take backquotes.  The deletes of one table
run as one multi-statement transaction.  What runs here is validated offline
(tests/load/test_reconcile_adapters.py: parsed as GoogleSQL, and executed on DuckDB through
sqlglot against the source's buckets); a real BigQuery is not reachable from CI.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_audit_core.errors import UserError
from airflow_audit_core.quoting import quote_bigquery
from airflow_audit_loader.bigquery.settings import SETTINGS, target_config
from airflow_audit_loader.reconcile_adapter import (
    ADDED_AUDIT_COLUMNS,
    BUCKET_CHARS,
    SYNC_AUDIT,
    KeyColumn,
    KeyTextWarehouse,
    added_column_type,
)
from airflow_audit_loader.registry import login_config

KEY_TEXT = {
    "timestamp": "format_timestamp('%Y-%m-%d %H:%M:%E6S', cast({c} as timestamp), 'UTC')",
    "date": "format_date('%Y-%m-%d', cast({c} as date))",
    "boolean": "case when {c} then 'true' else 'false' end",
    "text": "cast({c} as string)",
}


class BigQueryWarehouse(KeyTextWarehouse):
    text_type = "string"

    def __init__(self, client: Any, project: str, dataset: str) -> None:
        super().__init__(dataset)
        self.client = client
        self.project = project

    def table(self, table: str) -> str:
        return quote_bigquery(f"{self.project}.{self.schema}.{table}")

    def column(self, name: str) -> str:
        return quote_bigquery(name)

    def location(self) -> str:
        return f"in BigQuery project {self.project}"

    def key_texts(self) -> dict[str, str]:
        return KEY_TEXT

    def bucket(self, keys: Sequence[KeyColumn]) -> str:
        return f"substr(to_hex(md5({self.key_text(keys)})), 1, {BUCKET_CHARS})"

    def now(self) -> str:
        return "current_timestamp()"

    def timestamp_literal(self, value: dt.datetime) -> str:
        text = value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        return f"timestamp {self.literal(text + '+00')}"

    def _run(self, sql: str) -> list[tuple]:
        from google.api_core.exceptions import GoogleAPIError

        try:
            return [tuple(row.values()) for row in self.client.query(sql).result()]
        except GoogleAPIError as exc:
            raise UserError(refused(sql, exc)) from None

    def _run_named(self, sql: str) -> tuple[list[str], list[tuple]]:
        from google.api_core.exceptions import GoogleAPIError

        try:
            result = self.client.query(sql).result()
            return [f.name for f in result.schema], [tuple(row.values()) for row in result]
        except GoogleAPIError as exc:
            raise UserError(refused(sql, exc)) from None

    def _script(self, statements: list[str]) -> None:
        if statements:
            self._run(transaction(statements))

    def has_extracts(self) -> bool:
        rows = self._run(
            f"select count(*) from {quote_bigquery(f'{self.project}.{self.schema}')}"
            ".INFORMATION_SCHEMA.TABLES "
            f"where table_name = {self.literal(self.extracts_table)}"
        )
        return bool(rows and rows[0][0])

    def ensure_audit_table(self) -> None:
        self._run(
            f"""create table if not exists {self.table(SYNC_AUDIT)} (
            table_name string, mode string, source_rows int64, warehouse_rows int64,
            deleted_at_source int64, arrived_after_extract int64,
            missing_in_warehouse int64, duplicated_in_warehouse int64,
            buckets_compared int64, started_at timestamp, ended_at timestamp,
            outcome string, extraction string, snapshot_xmin int64, comparison string,
            written_through timestamp)"""
        )
        for name, kind in ADDED_AUDIT_COLUMNS:
            self._run(
                f"alter table {self.table(SYNC_AUDIT)} add column if not exists {name} "
                f"{added_column_type(kind, 'string', 'int64', 'timestamp')}"
            )

    def close(self) -> None:
        self.client.close()


def transaction(statements: list[str]) -> str:
    """One multi-statement transaction (a BigQuery script)."""
    return "begin transaction;\n" + ";\n".join(statements) + ";\ncommit transaction;"


def refused(sql: str, exc: BaseException) -> str:
    text = str(exc).strip()
    reason = text.splitlines()[0] if text else type(exc).__name__
    return f"BigQuery refused `{' '.join(sql.split())[:160]}`: {reason}"


def open_warehouse(env: Mapping[str, str], prog: str) -> BigQueryWarehouse:
    """Log in as the BigQuery loader does."""
    from google.cloud import bigquery
    from google.oauth2 import service_account

    settings = target_config(login_config(SETTINGS, env))
    credentials = None
    try:
        if settings.get("credentials_path"):
            credentials = service_account.Credentials.from_service_account_file(
                settings["credentials_path"]
            )
        elif settings.get("credentials_json"):
            credentials = service_account.Credentials.from_service_account_info(
                json.loads(settings["credentials_json"])
            )
    except (OSError, ValueError) as exc:
        raise UserError(
            f"Cannot read the BigQuery service-account key ({exc}): check "
            "AIRFLOW_AUDIT_BIGQUERY_CREDENTIALS_PATH or AIRFLOW_AUDIT_BIGQUERY_CREDENTIALS_JSON."
        ) from None
    client = bigquery.Client(
        project=settings["project"], credentials=credentials, location=settings["location"]
    )
    return BigQueryWarehouse(client, settings["project"], settings["dataset"])
