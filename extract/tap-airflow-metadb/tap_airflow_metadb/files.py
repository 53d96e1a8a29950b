"""Reading a table by PostgreSQL's COPY into a file, for the loaders to take by reference.

The fast path (contract.BATCH_FORMAT): one `COPY (SELECT ...) TO STDOUT WITH (FORMAT csv)` per
read, in the read's own snapshot, written straight to a file; no row passes through Python
unless it holds a value to mask (policy.REDACTED_COLUMNS): those rows are read by a COPY of their
own and masked on their way to the file (MaskingWriter), so no such value is written to disk as
it was read.  The SELECT reads exactly the columns the records path reads (the plan's columns and
flags), each in the text form the records path would send:

* bytea as hex, NaN and infinities as NULL, timestamps without time zone taken as UTC;
* everything else in PostgreSQL's own text form (the session's TimeZone is UTC, its client
  encoding UTF-8).

Files go to a private directory per run under AIRFLOW_AUDIT_BATCH_DIR (a directory of this
user's own in the system's temporary directory by default; airflow_audit_core.private_dirs); the
loader removes each file once its rows are committed, and a run's directory left by a killed run
is removed by the next run a day later.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from airflow_audit_core import private_dirs
from airflow_audit_core.errors import UserError
from airflow_audit_core.pg_csv import RecordStream, format_record
from tap_airflow_metadb.progress import CountingWriter, Progress

BATCH_DIR_ADVICE = (
    "point AIRFLOW_AUDIT_BATCH_DIR at a directory only this user can write to, with room for the "
    "largest table; nothing was read"
)


def batch_root(configured: str | None) -> Path:
    """Where each run's private directory goes (private_dirs): AIRFLOW_AUDIT_BATCH_DIR, or one
    of this user's own in the system's temporary directory."""
    root = Path(configured) if configured else private_dirs.default_root("batches")
    return private_dirs.private_root(root, advice=BATCH_DIR_ADVICE)


def new_run_dir(root: Path) -> Path:
    """This run's directory, after removing those of runs interrupted more than a day ago."""
    return private_dirs.new_run_dir(root, advice=BATCH_DIR_ADVICE)


def text_form(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The column as the records path would send it (tap.value_converters), in SQL."""
    kind = column.type
    if isinstance(kind, sa.LargeBinary):
        return sa.func.encode(column, "hex")
    if isinstance(kind, (sa.Float, sa.Numeric)):
        finite = sa.cast(column, postgresql.DOUBLE_PRECISION).notin_(
            [
                sa.literal_column("'NaN'"),
                sa.literal_column("'Infinity'"),
                sa.literal_column("'-Infinity'"),
            ]
        )
        return sa.case((finite, column), else_=sa.null())
    if isinstance(kind, sa.DateTime) and not kind.timezone:
        return sa.literal_column(f"({_sql(column)}) AT TIME ZONE 'UTC'")
    return column


def _sql(element: Any) -> str:
    return str(
        element.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    )


def copy_sql(query: sa.Select) -> str:
    """`COPY (the query, each column in its text form) TO STDOUT` as one statement."""
    columns = [text_form(c).label(c.name) for c in query.selected_columns]
    return f"COPY ({_sql(query.with_only_columns(*columns))}) TO STDOUT WITH (FORMAT csv)"


def copy_statements(query: sa.Select, masks: Mapping[str, Any]) -> list[str]:
    """The COPYs that read `query`: one; with columns to mask, the rows where each of them is
    NULL (nothing to mask), then the rest, which alone go through the masks."""
    if not masks:
        return [copy_sql(query)]
    masked = [query.selected_columns[name] for name in masks]
    return [
        copy_sql(query.where(sa.and_(*(c.is_(None) for c in masked)))),
        copy_sql(query.where(sa.or_(*(c.is_not(None) for c in masked)))),
    ]


class MaskingWriter:
    """The file object a COPY of rows with values to mask writes into: each record is parsed,
    its masked columns' values put through their masks, and only then written on, so no value
    that needs masking is ever written as it was read."""

    __slots__ = ("_positions", "_records", "_write")

    def __init__(self, target, columns: list[str], masks: Mapping[str, Callable[[str], str]]):
        self._write = target.write
        self._positions = [(columns.index(name), mask) for name, mask in masks.items()]
        self._records = RecordStream()

    def write(self, data: bytes) -> int:
        for values in self._records.feed(data):
            for position, mask in self._positions:
                value = values[position]
                if value is not None:
                    values[position] = mask(value)
            self._write(format_record(values).encode())
        return len(data)

    def close(self) -> None:
        self._records.close()


def copy_to_file(
    conn: sa.Connection,
    query: sa.Select,
    path: Path,
    progress: Progress | None = None,
    masks: Mapping[str, Callable[[str], str]] | None = None,
) -> int:
    """Run the COPY in `conn`'s transaction (its snapshot) into `path`; the rows written.
    `progress` is told of the rows as they arrive.  With `masks` (column -> the mask of its
    text), the rows with a value to mask are read by a COPY of their own, in the same snapshot,
    through MaskingWriter (copy_statements): only they pass through Python.

    Timestamps in UTC and text in UTF-8, whatever the database's own encoding (the loaders read
    UTF-8); the driver's encoding is set back afterwards, for what the transaction reads next."""
    columns = [c.name for c in query.selected_columns]
    cursor = conn.connection.cursor()
    try:
        cursor.execute("SHOW client_encoding")
        (encoding,) = cursor.fetchone()
        cursor.execute("SET LOCAL TimeZone = 'UTC'")
        cursor.execute("SET LOCAL client_encoding = 'UTF8'")
        rows = 0
        with path.open("wb") as handle:
            target = handle if progress is None else CountingWriter(handle, progress)
            for n, statement in enumerate(copy_statements(query, masks or {})):
                writer = MaskingWriter(target, columns, masks) if n else target
                cursor.copy_expert(statement, writer, size=1 << 20)
                rows += int(cursor.rowcount)
                if n:
                    writer.close()
        # Not in a `finally`: after a failed COPY the transaction takes no command, and the
        # error would hide the COPY's own.
        cursor.execute("SET LOCAL client_encoding = %s", [encoding])
        return rows
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise UserError(
            f"Writing {path} failed ({exc.strerror}): free space in AIRFLOW_AUDIT_BATCH_DIR or "
            "point it at a disk with room for the largest table, then rerun; nothing of this read "
            "was loaded."
        ) from None
    except BaseException:
        # The read failed part way (a lost connection, a timeout, a stop): the run fails, and
        # the next one reads the table again; the part written would stay on the host a day.
        path.unlink(missing_ok=True)
        raise
    finally:
        cursor.close()


def json_mask(mask: Callable[[Any], Any]) -> Callable[[str], str]:
    """A mask of parsed JSON values, for a JSON column's text."""
    return lambda text: json.dumps(
        mask(json.loads(text)), ensure_ascii=False, separators=(",", ":")
    )


def file_uri(path: Path) -> str:
    return path.resolve().as_uri()
