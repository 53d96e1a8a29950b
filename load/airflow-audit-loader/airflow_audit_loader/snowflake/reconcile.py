"""Snowflake's side of reconciliation, through snowflake-connector-python, logged in as the
Snowflake loader logs in (the registry's login settings).

target-snowflake creates tables and columns unquoted, so Snowflake holds them upper-case
(`AIRFLOW_LOCAL.DAG_RUN.ID`).  Keys render as on the source: to_char of the time in UTC with six
fractional digits, `cast(... as varchar)` otherwise; the bucket is the first three hex digits of
md5, as everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_audit_core.errors import UserError
from airflow_audit_core.quoting import quote
from airflow_audit_loader.reconcile_adapter import (
    BUCKET_CHARS,
    SOURCE_TEXT,
    KeyColumn,
    KeyTextWarehouse,
)
from airflow_audit_loader.registry import login_config
from airflow_audit_loader.snowflake.settings import SETTINGS, target_config

KEY_TEXT = {
    **SOURCE_TEXT,
    "timestamp": "to_char(convert_timezone('UTC', {c}), 'YYYY-MM-DD HH24:MI:SS.FF6')",
}


class SnowflakeWarehouse(KeyTextWarehouse):
    columns_upper = True

    def __init__(self, conn: Any, schema: str, where: str) -> None:
        super().__init__(schema)
        self.conn = conn
        self.where = where

    def table(self, table: str) -> str:
        return f"{quote(self.schema)}.{quote(table.upper())}"

    def location(self) -> str:
        return f"in {self.where}"

    def key_texts(self) -> dict[str, str]:
        return KEY_TEXT

    def bucket(self, keys: Sequence[KeyColumn]) -> str:
        return f"substr(md5({self.key_text(keys)}), 1, {BUCKET_CHARS})"

    def literal(self, text: str) -> str:
        return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"

    def now(self) -> str:
        return "current_timestamp()"

    def _run(self, sql: str) -> list[tuple]:
        from snowflake.connector.errors import Error

        try:
            cur = self.conn.cursor()
            cur.execute(sql)
            return list(cur.fetchall() or [])
        except Error as exc:
            raise UserError(refused(sql, exc)) from None

    def _run_named(self, sql: str) -> tuple[list[str], list[tuple]]:
        from snowflake.connector.errors import Error

        try:
            cur = self.conn.cursor()
            cur.execute(sql)
            return [d[0] for d in cur.description], list(cur.fetchall() or [])
        except Error as exc:
            raise UserError(refused(sql, exc)) from None

    def _script(self, statements: list[str]) -> None:
        self._run("begin")
        try:
            for statement in statements:
                self._run(statement)
        except BaseException:
            self.conn.rollback()
            raise
        self._run("commit")

    def has_extracts(self) -> bool:
        rows = self._run(
            "select count(*) from information_schema.tables "
            f"where table_schema = {self.literal(self.schema)} "
            f"and table_name = {self.literal(self.extracts_table.upper())}"
        )
        return bool(rows and rows[0][0])

    def close(self) -> None:
        self.conn.close()


def refused(sql: str, exc: BaseException) -> str:
    text = str(exc).strip()
    reason = text.splitlines()[0] if text else type(exc).__name__
    return f"Snowflake refused `{' '.join(sql.split())[:160]}`: {reason}"


def connect_arguments(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The loader's checked settings -> snowflake.connector.connect's arguments."""
    arguments: dict[str, Any] = {
        key: settings[key]
        for key in ("account", "user", "role", "warehouse", "database")
        if settings.get(key)
    }
    arguments["schema"] = settings["default_target_schema"]
    if settings.get("private_key_path"):
        arguments["private_key_file"] = settings["private_key_path"]
        if settings.get("private_key_passphrase"):
            arguments["private_key_file_pwd"] = settings["private_key_passphrase"]
    elif settings.get("private_key"):
        from cryptography.hazmat.primitives import serialization

        passphrase = settings.get("private_key_passphrase")
        arguments["private_key"] = serialization.load_pem_private_key(
            str(settings["private_key"]).encode(),
            password=passphrase.encode() if passphrase else None,
        )
    else:
        arguments["password"] = settings["password"]
    return arguments


def open_warehouse(env: Mapping[str, str], prog: str) -> SnowflakeWarehouse:
    """Log in as the Snowflake loader does; the session in UTC."""
    import snowflake.connector

    settings = target_config(login_config(SETTINGS, env))
    arguments = connect_arguments(settings)
    where = f"Snowflake database {settings['database']} of account {settings['account']}"
    try:
        conn = snowflake.connector.connect(
            **arguments, session_parameters={"TIMEZONE": "UTC"}, application=prog
        )
    except snowflake.connector.errors.Error as exc:
        raise UserError(
            f"Cannot log in to {where} ({str(exc).strip().splitlines()[0]}): check the "
            "AIRFLOW_AUDIT_SNOWFLAKE_* variables (docs/warehouses.md)."
        ) from None
    return SnowflakeWarehouse(conn, settings["default_target_schema"], where)


__all__ = ["SnowflakeWarehouse", "connect_arguments", "open_warehouse"]
