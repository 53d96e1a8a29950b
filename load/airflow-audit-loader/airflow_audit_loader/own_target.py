"""The Singer side of the project's own loaders (DuckDB, Redshift): messages in, batches out.

What every one of them does the same way, whatever the warehouse:

* one table per stream, named after the source table (`public-dag_run` -> `dag_run`), with
  the source's columns plus `_sdc_extracted_at`, `_sdc_batched_at`, `_sdc_deleted_at` and
  `_sdc_table_version`;
* each write is stamped (`_sdc_batched_at`) after every row its table holds (`stamp_after`);
* RECORD lines are spooled, as they came, to one file per stream; a batch is loaded when a
  stream reaches `batch_size_rows`, and then every stream is loaded, so that
* STATE is passed on only once every record before it is committed;
* a full-table stream is opened by ACTIVATE_VERSION(v) and closed by a second
  ACTIVATE_VERSION(v) once the tap has read the whole table (full_read.FullReadGate); only
  then are rows of other versions deleted (`mirror`) or marked (`archive`).  An interrupted
  run therefore never removes anything;
* files the extractor hands over (BATCH messages, batch_files.py) are loaded in turn with the
  records, then removed: natively where a warehouse can (`load_file`), else as the records they
  stand for;
* a stream without a primary key is refused in one sentence: an upsert needs one.

A warehouse subclass says how a JSON-schema property becomes a column type, how a table is
created or widened, how one batch is upserted, and runs the full-read SQL.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from airflow_audit_core import private_dirs
from airflow_audit_core.contract import NATURAL_KEY_KEYWORD, STAMP_STEP_MICROSECONDS
from airflow_audit_core.errors import UserError, exit_on_user_error
from airflow_audit_core.modes import parse_mode
from airflow_audit_core.settings import read_config
from airflow_audit_loader.batch_files import (
    HandedOver,
    file_records,
    remove,
    remove_directories,
)
from airflow_audit_loader.full_read import FullReadGate
from airflow_audit_loader.input_drain import keep_input_open_after_exit

# The Singer metadata columns every table gets; the value is the column's kind.
METADATA_COLUMNS = {
    "_sdc_extracted_at": "timestamp",
    "_sdc_batched_at": "timestamp",
    "_sdc_deleted_at": "timestamp",
    "_sdc_table_version": "integer",
}
_RECORD_PREFIX = b'{"type":"RECORD","stream":"'
STAMP_STEP = dt.timedelta(microseconds=STAMP_STEP_MICROSECONDS)
SPOOL_ADVICE = "point TMPDIR at a directory only this user can write to; nothing was loaded"
STOPPED = (
    "before it finished loading; what it committed stays, and the next run loads again from the "
    "last state it passed on, without duplicating a row."
)


def stamp_after(latest: dt.datetime | None) -> dt.datetime:
    """The `_sdc_batched_at` of a write into a table whose latest stamp is `latest`: now, or the
    microsecond after `latest` when this host's clock is behind the one that wrote it.  Each write
    is then stamped after every row before it, whatever the hosts' clocks, so "stamped after X" is
    "written after the rows stamped X": what the incremental marts (rows loaded after the last
    build's latest) and reconciliation (the keys of the rows written after its last check's
    `written_through`) read."""
    now = dt.datetime.now(dt.timezone.utc)
    return now if latest is None else max(now, latest + STAMP_STEP)


def table_name_for(stream: str) -> str:
    """`public-dag_run` -> `dag_run` (Airflow table names never hold a `-`)."""
    return stream.rsplit("-", 1)[-1]


def property_kind(schema: dict[str, Any]) -> str:
    """A JSON-schema property -> integer, number, boolean, timestamp, date, time, string or json."""
    types = schema.get("type", [])
    if isinstance(types, str):
        types = [types]
    types = [t for t in types if t != "null"]
    if "anyOf" in schema or len(types) != 1:
        return "json"
    kind = types[0]
    if kind in ("integer", "number", "boolean"):
        return kind
    if kind == "string":
        return {"date-time": "timestamp", "date": "date", "time": "time"}.get(
            schema.get("format") or "", "string"
        )
    return "json"


@dataclass
class StreamTable:
    """One stream: its target table, its buffered batch."""

    stream: str
    table: str
    properties: dict[str, dict[str, Any]]
    columns: dict[str, str]
    key_properties: list[str]
    spool: Path
    rows: int = 0
    # The columns naming the same row in every Airflow release, where Airflow 3 changed the key
    # (the extractor's NATURAL_KEY_KEYWORD); `legacy_rows`: live rows stored under the old key.
    natural_key: list[str] = field(default_factory=list)
    legacy_rows: bool = False
    # The longest line in the spool file (bytes): what its reader must hold at once.
    longest_line: int = 0
    handle: IO[bytes] | None = field(default=None, repr=False)

    def append(self, line: bytes) -> None:
        if self.handle is None:
            self.handle = self.spool.open("wb")
            self.longest_line = 0
        self.handle.write(line)
        if not line.endswith(b"\n"):
            self.handle.write(b"\n")
        self.longest_line = max(self.longest_line, len(line) + 1)
        self.rows += 1

    def close_spool(self) -> Path:
        """The spool file, closed, for the loader to read."""
        if self.handle is not None:
            self.handle.close()
            self.handle = None
        return self.spool

    def messages(self):
        """The spooled RECORD messages, parsed, in the order they came."""
        with self.close_spool().open("rb") as lines:
            for line in lines:
                yield orjson.loads(line)


class SingerLoader:
    """Reads Singer messages and keeps the warehouse tables equal to what the tap read."""

    prog = "airflow-audit-loader"
    default_batch_size_rows = 100_000

    def __init__(self, config: dict[str, Any], state_out: IO[bytes], *, schema: str) -> None:
        self.schema = schema
        self.mode = parse_mode(config.get("mode"))
        self.batch_size_rows = int(config.get("batch_size_rows") or self.default_batch_size_rows)
        self.loaded: dict[str, int] = {}
        self.state_out = state_out
        self.streams: dict[str, StreamTable] = {}
        self.gate = FullReadGate()
        self.pending_state: bytes | None = None
        # The extractor's files handed over, loaded or not: all removed by the end.
        self.handed_over: list[Path] = []
        # Set once the input has ended: the extractor finished, and writes no more files.
        self.reached_end = False
        # RECORD lines wait in a directory under this root until their batch is loaded
        # (private_dirs: this user's alone, removed at the end, or by a run a day later when
        # this one is killed), made at the first stream: a loader that cannot start leaves none.
        self.spool_root = private_dirs.private_root(
            private_dirs.default_root("spool"), advice=SPOOL_ADVICE
        )
        self._spool_dir: Path | None = None

    @property
    def spool_dir(self) -> Path:
        if self._spool_dir is None:
            self._spool_dir = private_dirs.new_run_dir(self.spool_root, advice=SPOOL_ADVICE)
        return self._spool_dir

    def extractor_run_dirs(self) -> list[Path]:
        """The extractor's run directories of the files it handed over."""
        return list(dict.fromkeys(path.parent for path in self.handed_over))

    # -- what a warehouse provides ------------------------------------------------------

    def column_type(self, schema: dict[str, Any]) -> str:
        raise NotImplementedError

    def ensure_table(self, table: StreamTable) -> None:
        """Create the table, or add the columns it lacks (refusing a changed type)."""
        raise NotImplementedError

    def load_batch(self, table: StreamTable) -> None:
        """Upsert the spooled batch of `table` on its key, in one transaction."""
        raise NotImplementedError

    def apply_full_read(self, table: StreamTable, version: int) -> None:
        """A complete full read of `version`: delete or mark the rows of other versions."""
        raise NotImplementedError

    def close_connection(self) -> None:
        pass

    # -- message handling ---------------------------------------------------------------

    def check(self) -> list[str]:
        """What `--check` verified, a line each (loaders that offer `--check`)."""
        raise NotImplementedError

    def run(self, lines: IO[bytes]) -> None:
        for line in lines:
            if line.startswith(_RECORD_PREFIX):
                end = line.index(b'"', len(_RECORD_PREFIX))
                stream = line[len(_RECORD_PREFIX) : end].decode()
                self._record(stream, line)
                continue
            if not line.strip():
                continue
            message = orjson.loads(line)
            kind = message.get("type")
            if kind == "RECORD":
                self._record(message["stream"], orjson.dumps(message))
            elif kind == "SCHEMA":
                self._schema(message)
            elif kind == "STATE":
                self.pending_state = orjson.dumps(message["value"])
                self._emit_state_if_nothing_pending()
            elif kind == "ACTIVATE_VERSION":
                self._activate_version(message["stream"], int(message["version"]))
            elif kind == "BATCH":
                self._batch(HandedOver.from_message(message))
        self.flush_all()
        self.reached_end = True
        remove_directories(self.handed_over)
        for stream in self.gate.unfinished():
            table = self.streams[stream].table if stream in self.streams else stream
            loaded = self.loaded.get(table, 0)
            # The extractor failed or was stopped during the read: no row of it may go yet.
            what = (
                f"{loaded:,} of its rows were upserted, and rows deleted at the source are kept "
                "until a complete run"
                if loaded
                else "none of its rows were loaded; the next run reads it again"
            )
            print(
                f"{self.prog}: the full read of '{table}' did not finish: {what}.", file=sys.stderr
            )

    def _record(self, stream: str, line: bytes) -> None:
        table = self.streams.get(stream)
        if table is None:
            raise UserError(f"The tap sent a record for stream {stream!r} before its schema.")
        table.append(line)
        if table.rows >= self.batch_size_rows:
            self.flush_all()

    def _schema(self, message: dict[str, Any]) -> None:
        stream = message["stream"]
        properties = message["schema"].get("properties", {})
        columns = {name: self.column_type(prop) for name, prop in properties.items()}
        key_properties = list(message.get("key_properties") or [])
        if not key_properties:
            raise UserError(
                f"Stream {stream!r} has no primary key: the loader needs one to upsert without "
                "duplicates (Airflow's own tables all have one; leave this table out)."
            )
        previous = self.streams.get(stream)
        if previous is not None:
            if previous.columns == columns and previous.key_properties == key_properties:
                return
            self._flush(previous)
        table = StreamTable(
            stream=stream,
            table=table_name_for(stream),
            properties=properties,
            columns=columns,
            key_properties=key_properties,
            spool=self.spool_dir / f"{len(self.streams)}.jsonl",
            natural_key=list(message["schema"].get(NATURAL_KEY_KEYWORD) or []),
        )
        self.ensure_table(table)
        self.streams[stream] = table

    def _batch(self, batch: HandedOver) -> None:
        """Files from the extractor: loaded after the stream's earlier records, then removed."""
        table = self.streams.get(batch.stream)
        if table is None:
            raise UserError(f"The tap sent files for stream {batch.stream!r} before its schema.")
        self._flush(table)
        version = self.gate.open_version(batch.stream)
        self.handed_over.extend(batch.files)
        for path in batch.files:
            rows = self.load_file(table, path, batch, version)
            remove(path)
            self._count(table, rows)
        self._emit_state_if_nothing_pending()

    def load_file(
        self, table: StreamTable, path: Path, batch: HandedOver, version: int | None
    ) -> int:
        """Load one file of the extractor's, returning the rows loaded that _flush did not count.

        By default: as the records it stands for, through the same spool and upserts as RECORD
        messages (so _flush counts them)."""
        kinds = {name: property_kind(prop) for name, prop in table.properties.items()}
        extracted = batch.extracted_at
        for record in file_records(path, batch.columns, kinds):
            message = {"type": "RECORD", "stream": batch.stream, "record": record}
            if version is not None:
                message["version"] = version
            if extracted:
                message["time_extracted"] = extracted
            self._record(batch.stream, orjson.dumps(message))
        self._flush(table)
        return 0  # counted by _flush, batch by batch

    def _activate_version(self, stream: str, version: int) -> None:
        table = self.streams.get(stream)
        if table is None:
            raise UserError(f"The tap activated a version of {stream!r} before its schema.")
        if not self.gate.closes_full_read(stream, version):
            return
        # Second ACTIVATE_VERSION for the same version: the full read is complete.
        self.flush_all()
        self.apply_full_read(table, version)

    def flush_all(self) -> None:
        for table in self.streams.values():
            self._flush(table)
        self._emit_state()

    def _flush(self, table: StreamTable) -> None:
        if not table.rows:
            return
        table.close_spool()
        self.load_batch(table)
        self._count(table, table.rows)
        table.rows = 0

    def _count(self, table: StreamTable, rows: int) -> None:
        if not rows:
            return
        self.loaded[table.table] = self.loaded.get(table.table, 0) + rows
        # Progress a person can follow on a long first sync: one line per committed batch.
        print(
            f"{self.prog}: {table.table}: {rows:,} rows loaded "
            f"({self.loaded[table.table]:,} this run).",
            file=sys.stderr,
            flush=True,
        )

    def _emit_state_if_nothing_pending(self) -> None:
        if not any(s.rows for s in self.streams.values()):
            self._emit_state()

    def _emit_state(self) -> None:
        if self.pending_state is None:
            return
        self.state_out.write(self.pending_state + b"\n")
        self.state_out.flush()
        self.pending_state = None

    def close(self) -> None:
        for table in self.streams.values():
            table.close_spool()
        try:
            self.close_connection()
        finally:
            if self._spool_dir is not None:
                shutil.rmtree(self._spool_dir, ignore_errors=True)
            # Handed over and not loaded (the loader stopped early): the run failed, and the
            # next one reads their rows again. Their directories go once the input ends.
            for path in self.handed_over:
                remove(path)


def command_line(
    target_class: type[SingerLoader],
    prog: str,
    description: str,
    argv: list[str] | None,
    *,
    checks: bool = False,
) -> None:
    """`<prog> --config FILE... [--about] [--check]`: Singer messages on stdin, STATE on stdout;
    a UserError ends in one sentence and exit code 2 (standard input kept open: input_drain),
    SIGTERM or SIGINT in one sentence and 128 + the signal's number, the target closed (its open
    transaction rolled back, its spool removed) every way."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", action="append", default=[])
    parser.add_argument("--about", action="store_true")
    if checks:
        parser.add_argument(
            "--check",
            action="store_true",
            help="connect, check the privileges (and S3 for copy), write nothing, and exit",
        )
    args = parser.parse_args(argv)
    if args.about:
        print(orjson.dumps({"name": prog, "capabilities": ["about", "activate-version"]}).decode())
        return
    opened: list[SingerLoader] = []
    reading: list[SingerLoader] = []
    drained: list[bool] = []

    def drain() -> None:
        """Ended before its input did: the extractor may still write (input_drain.py)."""
        if not drained:
            drained.append(True)
            run_dirs = [d for target in opened for d in target.extractor_run_dirs()]
            keep_input_open_after_exit(run_dirs, private_dirs.RUN_PREFIX)

    def close() -> None:
        for target in opened:
            target.close()
        if any(not target.reached_end for target in reading):
            drain()  # a stop, or a fault that is not the user's

    with exit_on_user_error(prog, cleanup=close, on_error=drain, stopped=STOPPED):
        target = target_class(read_config(args.config), sys.stdout.buffer)
        opened.append(target)
        if getattr(args, "check", False):
            for line in target.check():
                print(f"{prog}: {line}", file=sys.stderr)
            print(f"{prog}: ready to load.", file=sys.stderr)
            return
        reading.append(target)
        target.run(sys.stdin.buffer)
