"""One instant per sync: every table of a sync read in one snapshot of the Airflow database.

Read table by table, each in a snapshot of its own, a sync could hold a task instance whose DAG run
it did not see, or a run's final state beside its tasks' earlier ones.  So the sync opens one
REPEATABLE READ, read-only transaction first, exports its snapshot (`pg_export_snapshot()`, as
`pg_dump` does for its parallel workers) and keeps that transaction open until the last table is
read; each table's read imports the snapshot (`SET TRANSACTION SNAPSHOT`) as its first statement.
The warehouse then holds the source as it was at one moment, recorded with each table's extract.

What it costs: while the sync runs, PostgreSQL's vacuum keeps the row versions that the snapshot
can still see (as for any long read). Reads take ACCESS SHARE locks only, which never block
Airflow's reads and writes; a migration's ACCESS EXCLUSIVE lock waits for the read to end.  Each
session of the tap sets `lock_timeout` (AIRFLOW_AUDIT_LOCK_TIMEOUT, default 30s: a read never waits
longer than that behind a migration) and `statement_timeout` (AIRFLOW_AUDIT_STATEMENT_TIMEOUT,
default none).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg2
import sqlalchemy as sa
from sqlalchemy.engine import URL

from airflow_audit_core.errors import UserError

TIMEOUT = re.compile(r"^\d+\s*(us|ms|s|min|h|d)?$")
LOCK_TIMEOUT_DEFAULT = "30s"


def notice(message: str) -> None:
    print(f"tap-airflow-metadb: {message}", file=sys.stderr, flush=True)


def parse_timeout(raw: object, setting: str, default: str) -> str:
    """A PostgreSQL duration (`30s`, `5min`, `0` for none), or one sentence."""
    value = str(raw if raw is not None else "").strip() or default
    if not TIMEOUT.match(value):
        raise UserError(
            f"{setting} is {raw!r}: use a duration PostgreSQL understands, such as 30s, 5min "
            "or 0 (no limit); nothing was read."
        )
    return value


class SyncSnapshot:
    """The sync's snapshot: exported by a transaction held open for the whole sync."""

    def __init__(self, engine: sa.Engine, session: list[str]) -> None:
        self.engine = engine
        self.session = session
        self.id: str | None = None
        self.taken_at: datetime | None = None
        self._conn: sa.Connection | None = None

    def open(self) -> SyncSnapshot:
        conn = self.engine.connect().execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
        conn.begin()
        try:
            self.id, self.taken_at = conn.execute(
                sa.text("select pg_export_snapshot(), now()")
            ).one()
        except sa.exc.DBAPIError as exc:
            # A hot standby before PostgreSQL 10, or a pooler in transaction mode: the tables are
            # read in snapshots of their own.
            notice(
                "cannot share one snapshot across the tables "
                f"({str(exc.orig).strip().splitlines()[0]}): each table is read in its own."
            )
            conn.rollback()
            conn.begin()
            self.taken_at = conn.execute(sa.text("select now()")).scalar_one()
        self._conn = conn
        return self

    def join(self, conn: sa.Connection) -> None:
        """Make `conn`'s transaction (just begun, nothing run in it yet) read the sync's snapshot;
        then this session's timeouts."""
        if self.id is not None:
            if not re.fullmatch(r"[0-9A-Fa-f-]+", self.id):
                raise UserError(f"PostgreSQL exported an unexpected snapshot id {self.id!r}.")
            try:
                conn.execute(sa.text(f"set transaction snapshot '{self.id}'"))
            except sa.exc.DBAPIError as exc:
                raise UserError(
                    "The sync's snapshot is gone (PostgreSQL ended the transaction that exported "
                    f"it: {str(exc.orig).strip().splitlines()[0]}); a server setting such as "
                    "idle_in_transaction_session_timeout may be shorter than a sync: raise it for "
                    "the sync's user and rerun (nothing of this table was written)."
                ) from None
        for statement in self.session:
            conn.execute(sa.text(statement))

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.rollback()
                self._conn.close()
            except sa.exc.DBAPIError:
                # The session is gone (the server restarted, the network dropped it): the read
                # that met it says so; an error here, at the end, would hide that sentence.
                self._conn.invalidate()
            finally:
                self._conn = None


def session_settings(lock_timeout: str, statement_timeout: str) -> list[str]:
    """`SET LOCAL` of the tap's timeouts, for each of its transactions."""
    return [
        f"set local lock_timeout = '{lock_timeout}'",
        f"set local statement_timeout = '{statement_timeout}'",
    ]


def with_timeouts(url: URL, lock_timeout: str, statement_timeout: str) -> URL:
    """The source URL with the tap's timeouts for every session it opens (inspection, discovery,
    reads): libpq's `options`, appended to any the URL already has."""
    ours = f"-c lock_timeout={lock_timeout} -c statement_timeout={statement_timeout}"
    given = url.query.get("options")
    given = given[-1] if isinstance(given, tuple) else given
    return url.update_query_dict({"options": f"{given} {ours}" if given else ours})


def timeout_sentence(what: str, exc: BaseException) -> str | None:
    """The one sentence for a read stopped by lock_timeout or statement_timeout, else None.
    `exc` is SQLAlchemy's error, or the driver's own (the COPY of files.py runs on the driver's
    cursor)."""
    code = getattr(exc, "pgcode", None) or getattr(getattr(exc, "orig", None), "pgcode", None)
    if code == "55P03":
        return (
            f"{what}: waited longer than AIRFLOW_AUDIT_LOCK_TIMEOUT for a lock that another "
            "session holds on it (an `airflow db migrate`, a VACUUM FULL?); nothing of it was "
            "written: rerun when that is done, or raise the setting."
        )
    if code == "57014":
        return (
            f"{what}: the read took longer than AIRFLOW_AUDIT_STATEMENT_TIMEOUT and was "
            "cancelled; nothing of it was written: raise the setting (a first read of a large "
            "table takes longest) and rerun."
        )
    return None


def lost_connection(exc: BaseException | None) -> BaseException | None:
    """The driver's error that lost the connection, if `exc` or one it was raised during is
    one: no SQLSTATE (the network, or the server, closed the connection), a connection exception
    (08...), or the server shutting down or terminating the session (57P...). Closing the read's
    transaction then fails too ("connection already closed"), during the first."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        raw = getattr(exc, "orig", None) or exc
        code = getattr(raw, "pgcode", None) or ""
        if isinstance(raw, psycopg2.OperationalError) and (
            not code or code[:2] == "08" or code[:3] == "57P"
        ):
            return raw
        exc = exc.__context__
    return None


@contextmanager
def timeouts_in_one_sentence(what: str) -> Iterator[None]:
    """A read stopped by lock_timeout or statement_timeout, or by a lost connection, ends the
    run in one sentence."""
    try:
        yield
    except (sa.exc.DBAPIError, psycopg2.Error) as exc:
        sentence = timeout_sentence(what, exc)
        if sentence:
            raise UserError(sentence) from None
        lost = lost_connection(exc)
        if lost is not None:
            reason = (str(lost).strip().splitlines() or ["no reason given"])[0]
            raise UserError(
                f"{what}: the connection to the Airflow database was lost during the read "
                f"({reason}); nothing of it was written: rerun once the database is reachable."
            ) from None
        raise


def snapshot_text(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
