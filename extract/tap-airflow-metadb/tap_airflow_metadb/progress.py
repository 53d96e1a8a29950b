"""Progress a person can watch on a long read: rows read, the rate, and for a full read the
share of PostgreSQL's own estimate of the table's rows (`pg_class.reltuples`, as ANALYZE and
autovacuum leave it) with the time left at the current rate.

A notice every AIRFLOW_AUDIT_PROGRESS_SECONDS (default 15), so a first sync of tens of millions of
rows says where it is, and a short read says nothing until its end.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa

DEFAULT_INTERVAL = 15.0


def interval() -> float:
    raw = (os.environ.get("AIRFLOW_AUDIT_PROGRESS_SECONDS") or "").strip()
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_INTERVAL
    except ValueError:
        return DEFAULT_INTERVAL


def estimated_rows(conn: sa.Connection, qualified_table: str) -> int | None:
    """PostgreSQL's estimate of the table's rows; None before the table was ever analyzed."""
    found = conn.execute(
        sa.text("select reltuples from pg_class where oid = to_regclass(:t)"),
        {"t": qualified_table},
    ).scalar_one_or_none()
    return int(found) if found is not None and found >= 0 else None


def duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """Counts rows as a read goes; a watcher thread says where it is every `every` seconds, so
    counting costs the read one integer increment per row."""

    def __init__(
        self,
        table: str,
        notice: Callable[[str], None],
        estimate: int | None = None,
        every: float | None = None,
    ) -> None:
        self.table = table
        self.notice = notice
        self.estimate = estimate if estimate else None
        self.every = max(0.01, interval() if every is None else every)
        self.started = time.monotonic()
        self.rows = 0
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def __enter__(self) -> Progress:
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()

    def _watch(self) -> None:
        while not self._stop.wait(self.every):
            self.notice(self.sentence(time.monotonic()))

    def advance(self, rows: int = 1) -> None:
        self.rows += rows

    def sentence(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-6)
        rate = self.rows / elapsed
        text = f"{self.table}: {self.rows:,} rows read"
        if self.estimate and self.rows >= self.estimate:  # the statistics are older than the rows
            text += f", more than the ~{self.estimate:,} PostgreSQL estimates"
        elif self.estimate:
            share = min(self.rows / self.estimate, 0.99)
            text += f", about {share:.0%} of the ~{self.estimate:,} PostgreSQL estimates"
            if rate > 0:
                text += f", about {duration((self.estimate - self.rows) / rate)} left"
        return text + f" ({rate:,.0f} rows/s)."

    def done(self, rows: int) -> str:
        """The time and rate of the whole read (`rows`: the exact count), for its closing notice."""
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return f"in {duration(elapsed)} ({rows / elapsed:,.0f} rows/s)"


class CountingWriter:
    """The file COPY writes into: psycopg2 hands it one row per write (one CopyData message)."""

    __slots__ = ("_write", "progress")

    def __init__(self, handle, progress: Progress) -> None:
        self._write = handle.write
        self.progress = progress

    def write(self, data: bytes) -> int:
        self.progress.rows += 1
        return self._write(data)
