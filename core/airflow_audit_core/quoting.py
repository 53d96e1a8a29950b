"""Identifiers and literals in SQL, for PostgreSQL, DuckDB, Redshift and Snowflake alike
(BigQuery's backticks where noted)."""

from __future__ import annotations


def quote(identifier: str) -> str:
    """A double-quoted identifier (PostgreSQL, DuckDB, Redshift, Snowflake)."""
    return '"' + identifier.replace('"', '""') + '"'


def quote_bigquery(identifier: str) -> str:
    """A backquoted identifier (BigQuery)."""
    return "`" + identifier.replace("\\", "\\\\").replace("`", "\\`") + "`"


def sql_string(value: str) -> str:
    """A single-quoted string literal."""
    return "'" + value.replace("'", "''") + "'"
