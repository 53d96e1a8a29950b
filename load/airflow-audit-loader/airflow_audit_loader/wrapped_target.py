"""Run a third-party Singer SDK target in this process, under the project's rules.

Each warehouse loader (`airflow-audit-target-<warehouse>`) is installed in the same venv as
the real target.  Meltano runs it with `--config <file>`; it:

1. maps Meltano's settings to the real target's configuration (warehouses.py): the raw schema
   from AIRFLOW_AUDIT_ENV_SLUG / AIRFLOW_AUDIT_DESTINATION_SCHEMA, mirror/archive, defaults;
2. runs the real target class, subclassed with FullReadMixin, on stdin: the first
   ACTIVATE_VERSION of each full read is swallowed; the second drains every buffered record
   first and only then lets the target delete or mark rows of other versions (full_read.py);
   JSON columns arrive as JSON text.

Running in-process (not as a child process) is what lets the mixin drain before deleting, and
lets tests run the real target against an emulator that patches the driver in-process.

Each warehouse's sink class also takes StampedBatches: the SDK stamps a batch with its host's
time, the project stamps it after every row its table holds, as the project's own loaders do.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import logging
import signal
import sys
from collections.abc import Callable, Mapping
from typing import Any

from airflow_audit_core import private_dirs
from airflow_audit_core.errors import STOP_SIGNALS, exit_on_user_error, raise_stopped
from airflow_audit_core.settings import read_config
from airflow_audit_loader.batch_files import (
    HandedOver,
    file_records,
    remove,
    remove_directories,
)
from airflow_audit_loader.full_read import FullReadGate
from airflow_audit_loader.input_drain import keep_input_open_after_exit
from airflow_audit_loader.own_target import STOPPED, property_kind, stamp_after

LOG = logging.getLogger("airflow_audit_loader")


def json_properties(schema: Mapping[str, Any]) -> list[str]:
    """Properties of a SCHEMA message that may hold JSON objects or arrays (Airflow's json columns)."""
    found = []
    for name, prop in (schema.get("properties") or {}).items():
        types = prop.get("type") or []
        types = [types] if isinstance(types, str) else types
        if "object" in types or "array" in types or "anyOf" in prop:
            found.append(name)
    return found


def json_as_text(message: dict, columns: list[str]) -> dict:
    """A RECORD message with the JSON values of `columns` serialized to JSON text."""
    record = message["record"]
    for column in columns:
        value = record.get(column)
        if value is not None:
            record[column] = json.dumps(value, ensure_ascii=False)
    return message


class StampedBatches:
    """Mixed in before a singer_sdk BatchSink class: each batch is stamped (`_sdc_batched_at`) in
    UTC, after every row its table held when the run began and after the batch before it
    (own_target.stamp_after), as the project's own loaders stamp each write.

    The SDK stamps the host's time: a host whose clock is behind the last writer's would stamp
    rows before ones the incremental marts have already read, and they would skip them; the SDK
    that z3-target-bigquery pins (0.22) even stamps local time without a zone, which BigQuery
    reads as UTC.  The table's latest stamp is read once per run, at the stream's first batch:
    one job writes a schema at a time (Meltano refuses a second run of the same job)."""

    _airflow_audit_stamp: dt.datetime | None = None
    _airflow_audit_stamp_read = False

    def latest_stamp(self) -> dt.datetime | None:
        """The latest `_sdc_batched_at` the sink's table holds; None when it holds no row."""
        raise NotImplementedError

    def start_batch(self, context: dict) -> None:
        if not self._airflow_audit_stamp_read:
            latest = self.latest_stamp()
            if latest is not None and latest.tzinfo is None:
                latest = latest.replace(tzinfo=dt.timezone.utc)
            self._airflow_audit_stamp = latest
            self._airflow_audit_stamp_read = True
        self._airflow_audit_stamp = stamp_after(self._airflow_audit_stamp)
        context["batch_start_time"] = self._airflow_audit_stamp
        super().start_batch(context)  # type: ignore[misc]


class FullReadMixin:
    """Mixed in before a singer_sdk Target class: the project's rules around the real target.

    * ACTIVATE_VERSION: the first of each full read is swallowed; the second drains every
      buffered record, then lets rows of other versions go (`complete_full_read`).
    * JSON columns land as JSON text (a string column): the same in every warehouse, and
      `cast(... as string)` in the shared dbt models works on them, which it does not on
      Snowflake's VARIANT objects or BigQuery's JSON.
    * `table_name_only = True` renames streams `public-dag_run` -> `dag_run` for targets that
      would otherwise put the schema into the table name.
    """

    table_name_only = False
    _airflow_audit_gate: FullReadGate | None = None
    _airflow_audit_json: dict[str, list[str]] | None = None
    _airflow_audit_properties: dict[str, dict] | None = None
    _airflow_audit_files: list | None = None
    _airflow_audit_loaded: list | None = None
    _airflow_audit_received: list | None = None
    _airflow_audit_full_read_rows: dict[str, int] | None = None

    @property
    def full_read_gate(self) -> FullReadGate:
        if self._airflow_audit_gate is None:
            self._airflow_audit_gate = FullReadGate()
        return self._airflow_audit_gate

    @property
    def full_read_rows(self) -> dict[str, int]:
        """stream -> the rows of its open full read received so far (records, or a file's rows)."""
        if self._airflow_audit_full_read_rows is None:
            self._airflow_audit_full_read_rows = {}
        return self._airflow_audit_full_read_rows

    @property
    def json_columns(self) -> dict[str, list[str]]:
        if self._airflow_audit_json is None:
            self._airflow_audit_json = {}
        return self._airflow_audit_json

    def _rename(self, message_dict: dict) -> dict:
        if self.table_name_only:
            message_dict["stream"] = message_dict["stream"].rsplit("-", 1)[-1]
        return message_dict

    def _process_schema_message(self, message_dict: dict) -> None:
        message_dict = self._rename(message_dict)
        self.original_properties[message_dict["stream"]] = copy.deepcopy(
            message_dict["schema"].get("properties") or {}
        )
        columns = json_properties(message_dict["schema"])
        self.json_columns[message_dict["stream"]] = columns
        if columns:
            message_dict = copy.deepcopy(message_dict)
            properties = message_dict["schema"]["properties"]
            for column in columns:
                properties[column] = {"type": ["string", "null"]}
        super()._process_schema_message(message_dict)  # type: ignore[misc]

    def _process_record_message(self, message_dict: dict) -> None:
        message_dict = self._rename(message_dict)
        stream = message_dict["stream"]
        if self.full_read_gate.open_version(stream) is not None:
            self.full_read_rows[stream] = self.full_read_rows.get(stream, 0) + 1
        columns = self.json_columns.get(stream)
        if columns:
            message_dict = json_as_text(message_dict, columns)
        super()._process_record_message(message_dict)  # type: ignore[misc]

    def _process_batch_message(self, message_dict: dict) -> None:
        """The extractor's files, as the records they stand for (batch_files.py): third-party
        targets read neither its format nor its columns' text forms."""
        batch = HandedOver.from_message(message_dict)
        self.received_files.extend(batch.files)
        stream = self._rename({"stream": batch.stream})["stream"]
        kinds = {name: property_kind(prop) for name, prop in self.schema_properties(stream).items()}
        version = self.full_read_gate.open_version(stream)
        for path in batch.files:
            for record in file_records(path, batch.columns, kinds):
                message = {"type": "RECORD", "stream": batch.stream, "record": record}
                if version is not None:
                    message["version"] = version
                if batch.extracted_at:
                    message["time_extracted"] = batch.extracted_at
                self._process_record_message(message)
        # Removed once their rows are committed: after the next drain, not before.
        self.handed_over_files.extend(batch.files)

    def schema_properties(self, stream: str) -> dict:
        """The stream's properties as the extractor sent them (before JSON became text)."""
        return self.original_properties.get(stream, {})

    @property
    def original_properties(self) -> dict[str, dict]:
        if self._airflow_audit_properties is None:
            self._airflow_audit_properties = {}
        return self._airflow_audit_properties

    @property
    def handed_over_files(self) -> list:
        if self._airflow_audit_files is None:
            self._airflow_audit_files = []
        return self._airflow_audit_files

    def remove_loaded_files(self) -> None:
        """The extractor's files whose records every sink has written (after a drain)."""
        for path in self.handed_over_files:
            remove(path)
        self.loaded_files.extend(self.handed_over_files)
        self.handed_over_files.clear()

    @property
    def received_files(self) -> list:
        """Every file of the extractor's handed over, loaded or not."""
        if self._airflow_audit_received is None:
            self._airflow_audit_received = []
        return self._airflow_audit_received

    @property
    def loaded_files(self) -> list:
        if self._airflow_audit_loaded is None:
            self._airflow_audit_loaded = []
        return self._airflow_audit_loaded

    def _process_activate_version_message(self, message_dict: dict) -> None:
        message_dict = self._rename(message_dict)
        stream, version = message_dict["stream"], int(message_dict["version"])
        if not self.full_read_gate.closes_full_read(stream, version):
            LOG.info("%s: full read started (version %s).", stream, version)
            return
        # Every record of this version must be in the table before rows of other versions go.
        self.drain_all()  # type: ignore[attr-defined]
        LOG.info("%s: full read complete (version %s); applying it.", stream, version)
        self.complete_full_read(message_dict)

    def complete_full_read(self, message_dict: dict) -> None:
        """What the second ACTIVATE_VERSION does: by default, the target's own handling."""
        super()._process_activate_version_message(message_dict)  # type: ignore[misc]

    def drain_all(self, *args: Any, **kwargs: Any) -> None:
        super().drain_all(*args, **kwargs)  # type: ignore[misc]
        self.remove_loaded_files()

    def finish(self) -> None:
        """After the last message: the extractor's emptied run directories go, and a full read
        that never closed is reported."""
        remove_directories(self.loaded_files)
        for stream in self.full_read_gate.unfinished():
            # The extractor failed or was stopped during the read: no row of it may go yet.
            loaded = self.full_read_rows.get(stream, 0)
            LOG.warning(
                "%s: the full read did not finish: %s.",
                stream,
                f"{loaded:,} of its rows were upserted, and rows deleted at the source are kept "
                "until a complete run"
                if loaded
                else "none of its rows were loaded; the next run reads it again",
            )


def run(
    prog: str,
    argv: list[str] | None,
    *,
    target_config: Callable[[Mapping[str, Any]], dict[str, Any]],
    target_class: Callable[[], type],
    before_run: Callable[[Mapping[str, Any]], None] | None = None,
) -> None:
    """The shim's command line: `<prog> --config FILE [--input FILE]`, messages on stdin."""
    parser = argparse.ArgumentParser(prog=prog, description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--config", action="append", default=[])
    parser.add_argument("--input", help="read messages from this file instead of stdin")
    parser.add_argument("--about", action="store_true")
    parser.add_argument("--format", default="json")
    args = parser.parse_args(argv)
    if args.about:
        cls = target_class()
        print(json.dumps({"name": prog, "wraps": cls.name, "capabilities": ["activate-version"]}))
        return
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
    # What a run that ends early leaves to clear: the extractor's files it was handed.
    loading: dict[str, Any] = {"target": None, "finished": False}

    def clear_if_early() -> None:
        if not loading["finished"]:
            stop_early(loading["target"])

    with exit_on_user_error(prog, cleanup=clear_if_early, stopped=STOPPED):
        meltano_config = read_config(args.config)
        config = target_config(meltano_config)
        if before_run is not None:
            before_run(meltano_config)
        cls = target_class()
        target = loading["target"] = cls(config=config, validate_config=True)
        # One sink drains at a time, in this thread (see stop_on_signals).
        target.max_parallelism = 1
        stop_on_signals()  # again: the target's constructor sets the Singer SDK's handler
        if args.input:
            with open(args.input, encoding="utf-8") as messages:
                target.listen(messages)
        else:
            target.listen()
        target.finish()
        loading["finished"] = True


def stop_on_signals() -> None:
    """SIGTERM (how Airflow stops a task that timed out) and SIGINT stop the loader as they stop
    the project's own (errors.exit_on_user_error): the Singer SDK's handler (0.54) writes the
    records it holds and exits 0, so that a stopped load passed for a finished one; 0.22 has
    none.

    The handler runs in the main thread, so the loader drains its sinks there, one at a time
    (`max_parallelism = 1`, as z3-target-bigquery sets itself): a stop then lands in the thread
    that runs the statements, where the statement running ends (or is interrupted, by a driver
    that checks for signals) and its transaction rolls back, and the loader exits with no other
    thread still writing. The SDK's default drains up to 8 sinks in threads of their own; a stop left
    them writing while the interpreter shut down, and Snowflake's connections, closed under
    them, printed tracebacks after the sentence or aborted it (exit -6, not 128 + the
    signal)."""
    for stop in STOP_SIGNALS:
        signal.signal(stop, raise_stopped)


def stop_early(target: Any) -> None:
    """Ended before its input did: the extractor's files handed over go now (the run failed, the
    next one reads their rows again), and their directories once the input ends (input_drain)."""
    received = list(target.received_files) if target is not None else []
    for path in received:
        remove(path)
    run_dirs = dict.fromkeys(path.parent for path in received)
    keep_input_open_after_exit(run_dirs, private_dirs.RUN_PREFIX)
