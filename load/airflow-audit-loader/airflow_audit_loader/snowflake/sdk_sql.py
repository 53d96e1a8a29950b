"""The second ACTIVATE_VERSION on Singer SDK SQL sinks (Snowflake, Redshift)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow_audit_loader.full_read import full_read_sql


def apply_full_read(sink: Any, version: int) -> None:
    """Delete (hard_delete) or mark the table's rows of every other version.

    Replaces singer_sdk's SQLSink.activate_version, whose `WHERE _sdc_table_version < v` skips
    rows an incremental read loaded without a version.  `sink` is a singer_sdk SQLSink.
    """
    import sqlalchemy as sa

    table = sink.full_table_name
    if not sink.connector.table_exists(table):
        return
    mode = "mirror" if sink.config.get("hard_delete") else "archive"
    sql = full_read_sql(str(table), mode, version=":version", deleted_at=":deleted_at")
    statement = sa.text(sql).bindparams(sa.bindparam("version", value=int(version)))
    if mode == "archive":
        # A string with an explicit offset: a naive datetime would be read in the session's
        # time zone (Snowflake's default is America/Los_Angeles).
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f+00:00")
        statement = statement.bindparams(sa.bindparam("deleted_at", value=now))
    with sink.connector._connect() as connection, connection.begin():
        connection.execute(statement)
