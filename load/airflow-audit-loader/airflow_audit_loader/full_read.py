"""The full-table contract for third-party targets: act on the SECOND ACTIVATE_VERSION only.

The tap sends ACTIVATE_VERSION(v) before a full read's records and again after the last one
(extract/tap-airflow-metadb).  Singer SDK targets act on the first: they delete (hard) or mark
(soft) every row of another version before the new rows have arrived, so an interrupted run
would lose or hide rows.  The gate below swallows the first message of each (stream, version)
and lets the second through; the SQL below is what the second one then does, the same as the
DuckDB loader: rows of any other version, including rows loaded without a version by an
incremental read, are deleted (`mirror`) or get `_sdc_deleted_at` (`archive`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

VERSION_COLUMN = "_sdc_table_version"
DELETED_AT_COLUMN = "_sdc_deleted_at"


@dataclass
class FullReadGate:
    """Tells, for each ACTIVATE_VERSION, whether it closes a complete full read."""

    opened: set[tuple[str, int]] = field(default_factory=set)

    def closes_full_read(self, stream: str, version: int) -> bool:
        """False for the first message of (stream, version), True for the second."""
        key = (stream, int(version))
        if key in self.opened:
            self.opened.discard(key)
            return True
        self.opened.add(key)
        return False

    def open_version(self, stream: str) -> int | None:
        """The version of the full read of `stream` in progress (its rows carry it), if any."""
        versions = [version for name, version in self.opened if name == stream]
        return max(versions) if versions else None

    def unfinished(self) -> list[str]:
        """Streams whose full read was opened and never closed (an interrupted tap)."""
        return sorted({stream for stream, _ in self.opened})


def full_read_sql(table: str, mode: str, *, version: str, deleted_at: str) -> str:
    """DELETE (mirror) or UPDATE (archive) of the rows a complete full read did not bring.

    `table` is the quoted, qualified table; `version` and `deleted_at` are the placeholders
    of the driver in use (`:version`, `@version` ...).  Portable to Snowflake, Redshift,
    BigQuery and PostgreSQL: no IS DISTINCT FROM, which Redshift lacks.
    """
    other_version = f"({VERSION_COLUMN} IS NULL OR {VERSION_COLUMN} <> {version})"
    if mode == "mirror":
        return f"DELETE FROM {table} WHERE {other_version}"
    return (
        f"UPDATE {table} SET {DELETED_AT_COLUMN} = {deleted_at} "
        f"WHERE {other_version} AND {DELETED_AT_COLUMN} IS NULL"
    )
