"""tap-postgres, reading every table in one consistent snapshot, incrementally by row version.

Why PostgreSQL's row versions and not Airflow's `updated_at`: Airflow 2.4 has no `updated_at` on
`dag_run`/`task_instance`, and later versions change rows without bumping it (a backfill, bulk
state changes).  Every insert or update of a row gives it a new `xmin` (the writing transaction),
whatever Airflow does, so "rows whose xmin is newer than the last snapshot" is every change, on
every Airflow version.  See extract/tap-airflow-metadb/README.md for the full argument.

Each stream is read in its own REPEATABLE READ, read-only transaction, all of them in the sync's one
exported snapshot (snapshot.py).  Its bookmark is that
snapshot's xmin: the oldest transaction still running when it was taken.  Everything older was
visible and read; anything from that transaction on is read again next time, so a row committed
while the tap ran is never missed (a row may be sent twice; the loaders upsert).  The bookmark
advances only after the stream's last record, so an interrupted run repeats the read.

Deletes are not visible this way: `airflow-audit-reconcile` finds them by comparing keys.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from singer_sdk import singerlib as singer
from singer_sdk.helpers.conform import TypeConformanceLevel
from tap_postgres.client import PostgresStream
from tap_postgres.tap import TapPostgres

from airflow_audit_core.contract import BATCH_FORMAT, EXTRACTS_STREAM, NATURAL_KEY_KEYWORD
from airflow_audit_core.errors import raise_stopped, stopped_by
from airflow_audit_core.quoting import quote
from tap_airflow_metadb import sdk
from tap_airflow_metadb.files import (
    batch_root,
    copy_to_file,
    file_uri,
    json_mask,
    new_run_dir,
)
from tap_airflow_metadb.policy import LOG_EXTRA
from tap_airflow_metadb.progress import Progress, estimated_rows
from tap_airflow_metadb.redact import redact_free_text_or_json, sanitise_log_extra
from tap_airflow_metadb.replication import (
    BOOKMARK_KEY,
    EXTRACTS_SCHEMA,
    SOURCE_KEY,
    is_incremental,
    usable_bookmark,
)
from tap_airflow_metadb.sdk import BaseBatchFileEncoding, BatchConfig, StorageTarget
from tap_airflow_metadb.snapshot import (
    LOCK_TIMEOUT_DEFAULT,
    SyncSnapshot,
    session_settings,
    snapshot_text,
    timeouts_in_one_sentence,
)


def notice(message: str) -> None:
    print(f"tap-airflow-metadb: {message}", file=sys.stderr, flush=True)


# xid arithmetic is modulo 2**32; a bookmark this far behind may have wrapped: read in full.
MAX_BOOKMARK_AGE = 2**31 - 10_000_000


def _hex(value: Any) -> str:
    return bytes(value).hex()


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def value_converters(query: sa.Select) -> dict[str, Any]:
    """Per column, the conversion its SQL type needs before JSON; most need none.

    The SDK's generic conformance inspects every value of every row (half the tap's time);
    psycopg2 already returns JSON-ready values for everything but these.
    """
    converters: dict[str, Any] = {}
    for column in query.selected_columns:
        kind = column.type
        if isinstance(kind, sa.LargeBinary):
            converters[column.name] = _hex
        elif isinstance(kind, (sa.Float, sa.Numeric)):
            converters[column.name] = _finite
        elif isinstance(kind, (sa.Time, sa.Interval)):
            converters[column.name] = str
        elif isinstance(kind, sa.DateTime) and not kind.timezone:
            converters[column.name] = _utc
    return converters


def flag_column(flag: str, source: str | None) -> sa.ColumnElement[Any]:
    """`has_password`: computed by PostgreSQL, so the secret never reaches this process.

    None as the source: the user may not read the secret column (least privilege): NULL.
    """
    if source is None:
        return sa.cast(sa.null(), sa.Boolean).label(flag)
    expression = f"(coalesce(cast({quote(source)} as text), '') <> '')"
    return sa.literal_column(expression, sa.Boolean).label(flag)


def fingerprint_column(name: str, source: str | None, key: str | None) -> sa.ColumnElement[Any]:
    """`val_fingerprint`: HMAC-SHA256 (RFC 2104) of the stored value under the user's key, hex,
    computed by PostgreSQL's sha256(), so the value never reaches this process.  The key travels
    in the query as HMAC's two padded forms (nothing logs the query here; a source server logging
    statements sees them next to the values themselves).  NULL without a key, without a readable
    source column (least privilege), or for a NULL value."""
    if source is None or not key:
        return sa.cast(sa.null(), sa.String).label(name)
    inner, outer = hmac_pads(key.encode())
    message = f"convert_to(cast({quote(source)} as text), 'UTF8')"
    expression = (
        f"encode(sha256(decode('{outer.hex()}', 'hex') || "
        f"sha256(decode('{inner.hex()}', 'hex') || {message})), 'hex')"
    )
    return sa.literal_column(expression, sa.String).label(name)


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer padded keys (RFC 2104: a key longer than the block is hashed)."""
    block = 64
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


class SnapshotStream(PostgresStream):
    """One Airflow table, read in one snapshot, incrementally where policy allows."""

    # Values are made JSON-ready per column type in get_records (value_converters).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._full_read: bool | None = None
        self._source_identity: dict[str, str] | None = None
        # what this sync does with the table, and why (full_read sets it; _sync_audit shows it)
        self.extraction = ""

    @property
    def table(self) -> str:
        return self.name.rsplit("-", 1)[-1]

    @property
    def column_plan(self) -> dict[str, Any]:
        """This table's plan from the secrets policy (policy.plan_table, made by the CLI)."""
        plans = self.config.get("airflow_audit_columns") or {}
        if self.table not in plans:
            raise RuntimeError(f"no column plan for {self.table}: run through tap-airflow-metadb")
        return plans[self.table]

    def _generate_schema_messages(self) -> Iterable[Any]:
        """The SDK's SCHEMA messages (a private hook: sdk.py), with the key naming the same row in
        every Airflow release (policy.NATURAL_KEYS), for the loaders that re-key rows stored
        before an in-place upgrade."""
        natural = self.column_plan.get("natural_key")
        messages = super()._generate_schema_messages()
        yield from sdk.with_schema_keyword(messages, NATURAL_KEY_KEYWORD, natural)

    def build_query(self, *, context: Any = None) -> sa.Select:
        """The allowed columns and the flags; never a column the plan does not read."""
        plan = self.column_plan
        table = self.connector.get_table(
            full_table_name=self.fully_qualified_name, column_names=plan["read"]
        )
        columns = [table.c[name] for name in plan["read"]]
        flags = [flag_column(f, src) for f, src in plan["flags"].items()]
        key = self.config.get("airflow_audit_fingerprint_key")
        fingerprints = [
            fingerprint_column(f, src, key) for f, src in plan.get("fingerprints", {}).items()
        ]
        return sa.select(*columns, *flags, *fingerprints).select_from(table)

    def record_converters(self, query: sa.Select) -> dict[str, Any]:
        """Type conversions (value_converters), then masking of the redacted columns."""
        converters = value_converters(query)
        for column, how in self.column_plan["redact"].items():
            mask = sanitise_log_extra if how == LOG_EXTRA else redact_free_text_or_json
            convert = converters.get(column)
            converters[column] = mask if convert is None else _chain(convert, mask)
        return converters

    @property
    def full_read(self) -> bool:
        """Read the whole table (first sync, full refresh, a table kept small, or a bookmark that
        no longer describes this table: see identity_change)?"""
        if self._full_read is None:
            refresh = self.config.get("airflow_audit_full_refresh") or []
            change = None
            if self.stream_state.get(BOOKMARK_KEY) is not None:
                change = identity_change(self.stream_state.get(SOURCE_KEY), self.source_identity)
                if change and is_incremental(self.table):
                    notice(f"{self.table}: {change}; reading in full once.")
            if not is_incremental(self.table):
                self.extraction = "full read: a small table, read in full on every sync"
            elif "*" in refresh or self.table in refresh:
                self.extraction = "full read: asked for by AIRFLOW_AUDIT_FULL_REFRESH"
            elif self.stream_state.get(BOOKMARK_KEY) is None:
                self.extraction = "full read: no bookmark yet (the table's first sync)"
            elif change is not None:
                self.extraction = f"full read: {change}"
            else:
                self.extraction = "incremental: the rows changed since the bookmark"
            self._full_read = not self.extraction.startswith("incremental")
        return self._full_read

    @property
    def source_identity(self) -> dict[str, str]:
        """What a bookmark is good for: its xids mean nothing in another cluster, database or
        recreated table, nor after the server went back in time; another destination has not
        received those rows; and rows stored before a column was added lack it.

        The cluster's system identifier and timeline (a restore, point-in-time recovery or
        failover starts a new timeline), the database's and the table's OIDs, the fingerprint of
        the columns read (policy.ColumnPlan.fingerprint), and the destination schema.
        """
        if self._source_identity is None:
            with self.connector._engine.connect() as conn:
                database_oid, table_oid = conn.execute(
                    sa.text(
                        "select (select oid from pg_database where datname = current_database()), "
                        "cast(cast(:table as regclass) as oid)"
                    ).bindparams(table=str(self.fully_qualified_name))
                ).one()
                system_id = first_available(
                    conn, "select cast(system_identifier as text) from pg_control_system()"
                )
                timeline = first_available(
                    conn,
                    "select cast(timeline_id as text) from pg_control_checkpoint()",
                    # the WAL file name starts with the timeline, in hex (no pg_control_* grant)
                    "select cast(cast(cast('x' || substr(pg_walfile_name(pg_current_wal_lsn()), "
                    "1, 8) as bit(32)) as int) as text)",
                )
            self._source_identity = {
                "system": system_id or "-",
                "timeline": timeline or "-",
                "database": str(database_oid),
                "table": str(table_oid),
                "columns": str(self.column_plan.get("fingerprint") or "-"),
                "destination": self.config.get("airflow_audit_destination") or "-",
            }
        return self._source_identity

    @property
    def emit_activate_version_messages(self) -> bool:
        # A full read is a new version of the table: loaders remove (or, in archive mode,
        # mark) rows the read did not return, once the tap says the read is complete.
        return self.full_read

    @contextmanager
    def _snapshot_read(self, context: Any) -> Iterator[SnapshotRead]:
        """One read of the table in its own REPEATABLE READ, read-only transaction: the query
        (changes since the bookmark, or everything), then the source's row count in the same
        snapshot.  The bookmark and the extract record follow only a read that got to the end."""
        query = self.build_query(context=context)
        engine = self.connector._engine
        snapshot = self._tap.snapshot
        with (
            timeouts_in_one_sentence(self.table),
            engine.connect().execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            ) as conn,
            conn.begin(),
        ):
            snapshot.join(conn)
            snap_xmin, snap_xmax = conn.execute(
                sa.text(
                    "select txid_snapshot_xmin(txid_current_snapshot()), "
                    "txid_snapshot_xmax(txid_current_snapshot())"
                )
            ).one()
            bookmark = usable_bookmark(
                self.stream_state.get(BOOKMARK_KEY), snap_xmax, MAX_BOOKMARK_AGE
            )
            if self.full_read or bookmark is None:
                if not self.full_read:
                    self.extraction = (
                        "full read: the bookmark is unusable (more than two billion "
                        "transactions old, or from a restored database)"
                    )
                    notice(
                        f"{self.table}: {self.extraction.removeprefix('full read: ')}; reading in full."
                    )
            else:
                query = query.where(
                    sa.text("age(xmin) <= age(cast(:bookmark as xid))").bindparams(
                        bookmark=str(bookmark % 2**32)
                    )
                )
            full = self.full_read or bookmark is None
            notice(f"{self.table}: reading {'in full' if full else 'changes only'}.")
            estimate = estimated_rows(conn, str(self.fully_qualified_name)) if full else None
            with Progress(self.table, notice, estimate) as progress:
                read = SnapshotRead(conn=conn, query=query, progress=progress)
                yield read
            source_rows = conn.execute(
                sa.text(f"select count(*) from {self.fully_qualified_name}")
            ).scalar_one()
        notice(
            f"{self.table}: {read.sent} of {source_rows} rows read {read.progress.done(read.sent)}."
        )
        self.stream_state[BOOKMARK_KEY] = int(snap_xmin)
        self.stream_state[SOURCE_KEY] = self.source_identity
        self.state_manager.is_flushed = False
        self._tap.write_extract(
            {
                "table_name": self.table,
                "snapshot_xmin": int(snap_xmin),
                "snapshot_xmax": int(snap_xmax),
                "previous_bookmark": bookmark if not self.full_read else None,
                "full_read": full,
                "extraction": self.extraction,
                "records_sent": read.sent,
                "source_rows": int(source_rows),
                "snapshot_taken_at": snapshot_text(snapshot.taken_at),
                "snapshot_shared": snapshot.id is not None,
                "airflow_version": self.config.get("airflow_audit_airflow_version"),
            }
        )

    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The records path (AIRFLOW_AUDIT_HANDOFF=records): a RECORD message per row."""
        with self._snapshot_read(context) as read:
            converters = self.record_converters(read.query)
            result = read.conn.execution_options(stream_results=True, max_row_buffer=5000)
            for row in result.execute(read.query).mappings():
                read.sent += 1
                read.progress.rows += 1
                record = dict(row)
                for name, convert in converters.items():
                    value = record[name]
                    if value is not None:
                        record[name] = convert(value)
                yield record

    def get_batch_config(self, config: Mapping[str, Any]) -> BatchConfig | None:
        """Files (the default): the SDK then syncs the stream through get_batches."""
        if (config.get("airflow_audit_handoff") or "files") != "files":
            return None
        return BatchConfig(
            encoding=BaseBatchFileEncoding(format=BATCH_FORMAT),
            storage=StorageTarget(root=str(self._tap.batch_dir)),
        )

    def get_batches(
        self, batch_config: BatchConfig, context: Any = None
    ) -> Iterable[tuple[BaseBatchFileEncoding, list[str]]]:
        """The table read by COPY into one file (files.py), handed over in one BATCH message."""
        directory = self._tap.batch_dir
        path = directory / f"{self.table}.csv"
        with self._snapshot_read(context) as read:
            # Columns deselected in Meltano's `select` are left out, as the records path does.
            read.query = read.query.with_only_columns(
                *(
                    c
                    for c in read.query.selected_columns
                    if self.mask.get(("properties", c.name), True)
                )
            )
            masks = self.file_masks(read.query)
            extracted_at = datetime.now(timezone.utc).isoformat()
            read.sent = copy_to_file(read.conn, read.query, path, read.progress, masks)
            columns = [c.name for c in read.query.selected_columns]
        encoding = BatchFileEncoding(
            format=BATCH_FORMAT, columns=columns, extracted_at=extracted_at
        )
        yield encoding, [file_uri(path)]

    def file_masks(self, query: sa.Select) -> dict[str, Any]:
        """The masks of the redacted columns, on their text in a file (record_converters)."""
        types = {c.name: c.type for c in query.selected_columns}
        masks: dict[str, Any] = {}
        for column, how in self.column_plan["redact"].items():
            if column not in types:
                continue  # deselected in Meltano's `select`: not read
            mask = sanitise_log_extra if how == LOG_EXTRA else redact_free_text_or_json
            masks[column] = json_mask(mask) if isinstance(types[column], sa.JSON) else mask
        return masks


@dataclass
class SnapshotRead:
    """A read in progress: its connection (transaction), its query, the rows sent so far."""

    conn: sa.Connection
    query: sa.Select
    progress: Progress
    sent: int = 0


@dataclass(slots=True)
class BatchFileEncoding(BaseBatchFileEncoding):
    """The SDK's encoding, with what contract.BATCH_FORMAT adds: the columns and the time."""

    columns: list[str] = field(default_factory=list)
    extracted_at: str | None = None


# Why a bookmark no longer describes the table, by the first part of its identity that changed.
IDENTITY_CHANGES = (
    ("destination", "the bookmark belongs to another destination"),
    ("system", "the bookmark belongs to another PostgreSQL cluster"),
    ("database", "the bookmark belongs to another database (recreated or restored)"),
    ("table", "the table was recreated since the bookmark"),
    ("timeline", "the server's timeline changed (a restore, point-in-time recovery or failover)"),
    (
        "columns",
        "the columns read changed (an Airflow upgrade, or AIRFLOW_AUDIT_ALLOW_COLUMNS), so rows "
        "already in the warehouse lack them",
    ),
)


def identity_change(stored: object, current: dict[str, str]) -> str | None:
    """Why the stored bookmark's identity is not the current one, or None when it is."""
    if not isinstance(stored, dict):
        return "the bookmark was written by an earlier airflow-audit, without the table's shape"
    for part, why in IDENTITY_CHANGES:
        if stored.get(part) != current.get(part):
            return why
    return None


def first_available(conn: Any, *queries: str) -> str | None:
    """The first query's value that this user may read (each tried in a savepoint)."""
    for query in queries:
        try:
            with conn.begin_nested():
                value = conn.execute(sa.text(query)).scalar()
        except sa.exc.DBAPIError:
            continue
        if value is not None:
            return str(value)
    return None


def _chain(first: Any, then: Any) -> Any:
    return lambda value: then(first(value))


def connection_parameters(sqlalchemy_url: str) -> Any:
    """tap-postgres' connection parameters from a URL that may have no password (libpq then reads
    ~/.pgpass or PGPASSFILE, or a client certificate or trust needs none) and no host (a Unix
    socket named by `?host=/var/run/postgresql`).  tap-postgres itself refuses such a URL."""
    from sqlalchemy.engine.url import make_url
    from tap_postgres.connection_parameters import ConnectionParameters

    url = make_url(sqlalchemy_url)
    options = {"application_name": "tap_postgres"}
    options.update({k: v if isinstance(v, str) else v[-1] for k, v in url.query.items()})
    port = url.port or options.pop("port", None) or 5432
    options.pop("port", None)
    return ConnectionParameters(
        host=url.host or "",
        port=int(port),
        database=url.database or "",
        user=url.username or "",
        password=url.password or "",
        drivername=url.drivername,
        options=options,
    )


class AirflowMetadbTap(TapPostgres):
    """TapPostgres reading Airflow's tables in snapshots, and saying when a full read is done.

    The SDK sends ACTIVATE_VERSION before a full-table stream's records; a loader must not
    delete rows missing from the new version until the read is known to be complete, so the
    same message is sent again after the stream's last record.  After every stream it also
    sends one record to `_airflow_audit_extracts` (the snapshot it was read in and the source's
    row count then), which `airflow-audit-reconcile` checks the warehouse against.
    """

    @cached_property
    def connector(self) -> Any:
        """tap-postgres' connector (a private hook: its own requires a password and a host)."""
        from tap_postgres.client import PostgresConnector

        self.connection_parameters = connection_parameters(self.config["sqlalchemy_url"])
        return PostgresConnector.from_connection_parameters(
            config=self.config, connection_parameters=self.connection_parameters
        )

    def discover_streams(self) -> list[SnapshotStream]:
        connector = self.connector
        return [
            SnapshotStream(self, entry, connector=connector)
            for entry in self.catalog_dict["streams"]
        ]

    @property
    def batch_dir(self) -> Path:
        """This run's private directory for the files it hands over (files.py)."""
        if getattr(self, "_batch_dir", None) is None:
            root = batch_root(self.config.get("airflow_audit_batch_dir"))
            self._batch_dir = new_run_dir(root)
        return self._batch_dir

    def write_extract(self, record: dict[str, Any]) -> None:
        if not getattr(self, "_extracts_schema_sent", False):
            self.write_message(
                singer.SchemaMessage(
                    stream=EXTRACTS_STREAM, schema=EXTRACTS_SCHEMA, key_properties=["table_name"]
                )
            )
            self._extracts_schema_sent = True
        record = {"extracted_at": datetime.now(timezone.utc).isoformat(), **record}
        self.write_message(singer.RecordMessage(stream=EXTRACTS_STREAM, record=record))

    @property
    def snapshot(self) -> SyncSnapshot:
        """The sync's one snapshot (snapshot.py), taken before the first table is read."""
        if getattr(self, "_snapshot", None) is None:
            self._snapshot = SyncSnapshot(
                self.connector._engine,
                session_settings(
                    self.config.get("airflow_audit_lock_timeout") or LOCK_TIMEOUT_DEFAULT,
                    self.config.get("airflow_audit_statement_timeout") or "0",
                ),
            ).open()
        return self._snapshot

    def _handle_termination(self, signum: int, frame: Any) -> None:
        """SIGTERM or SIGINT.  The Singer SDK's own handler writes the state and exits 0, so a read
        Airflow stopped passed for a finished one (Meltano ran on, reported success); the
        project's ends in one sentence and exit code 128 + the signal's number
        (errors.exit_on_user_error), after removing the run's files (sync_all)."""
        raise_stopped(signum, frame)

    def sync_all(self) -> None:
        try:
            self._sync_all()
        except BaseException as exc:
            # SIGTERM or SIGINT (errors.exit_on_user_error): the loader is being stopped too, and
            # will not take the files it has not opened; a read of 10M task instances leaves GBs.
            if stopped_by(exc) and getattr(self, "_batch_dir", None) is not None:
                shutil.rmtree(self._batch_dir, ignore_errors=True)
            raise
        finally:
            if getattr(self, "_snapshot", None) is not None:
                self._snapshot.close()

    def _sync_all(self) -> None:
        sdk.begin_sync(self)
        self.snapshot  # noqa: B018  (taken before the first table is read)
        for stream in self.streams.values():
            if not stream.selected and not stream.has_selected_descendents:
                continue
            if stream.parent_stream_type:
                continue
            stream.sync()
            stream.finalize_state_progress_markers()
            version = sdk.stream_version(stream)
            if stream.replication_method == "FULL_TABLE" and version is not None:
                sdk.write_activate_version(stream, version)
            sdk.write_state(stream)
        for stream in self.streams.values():
            stream.log_sync_costs()
        # The run's directory is the loader's to remove, once it has loaded every file
        # (batch_files.remove_directories); files.new_run_dir removes one left a day ago.
