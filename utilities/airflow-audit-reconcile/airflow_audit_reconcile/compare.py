"""airflow-audit-reconcile: after every sync, prove the warehouse equals the source.

For each table the tap read (the `_airflow_audit_extracts` table it leaves in the warehouse says
which, and in which snapshot), compare primary keys, source against warehouse:

* keys the warehouse has and the source no longer has were deleted at the source (by
  `airflow db clean`, a UI delete ...): `mirror` deletes them, `archive` keeps them with
  `_sdc_deleted_at` set;
* keys the source has and the warehouse lacks are fine if the row changed after the tap's
  snapshot (the next sync brings it); otherwise the warehouse lost it: the run fails;
* a key twice in the warehouse fails the run.

Keys are compared bucket by bucket (md5 of the key, 4096 buckets) and fetched only for buckets
whose counts differ, so an unchanged million-row table costs two grouped scans, not a transfer.

A table the sync read incrementally is checked by counts alone, which is as exact and costs
nothing on the source (the hourly run): when the latest check of that table passed on the very
sync the bookmark came from, the warehouse then held every row the source held; since then it
gained every row inserted or changed before the sync's snapshot (the sync read them) and lost
none, so it holds every row the source holds in that snapshot (its count, from the extracts
table), and more only by the rows deleted since.  Equal counts therefore mean nothing was
deleted, and nothing is to do, provided each key is there once: when the sync wrote rows, the
warehouse must hold each key once too (a duplicate written and a row lost would balance
otherwise).  The last check proved that for the rows then, so only the keys of the rows written
since need counting, where the warehouse can find them (DuckDB and Redshift: their loaders
stamp each write after the latest `_sdc_batched_at` the table holds, and each check records that
latest stamp, `written_through`, so the rows written since are those stamped after it, whatever
the hosts' clocks); elsewhere every distinct key is counted, and a warehouse that cannot count them
compares keys.  Any difference, or any condition unmet, falls back to the keys.  Rows deleted
after the sync's snapshot are found by the next sync.  The proof assumes nothing else writes to
the warehouse table: a hand edit that removed as many rows as the source deleted, or copied an
old row, would balance, so keys are compared anyway when the table's last `ok` comparison of
keys is more than KEYS_AT_LEAST_EVERY old.

Each table's outcome is appended to `_sync_audit` in the destination schema, with the snapshot
it checked, how (`keys` or `counts`) and, where the warehouse says, `written_through`.

The warehouse side is an adapter, one per warehouse, in the warehouse's own folder
(load/airflow-audit-loader/airflow_audit_loader/<warehouse>/reconcile.py, the contract in
reconcile_adapter.py): `airflow-audit-reconcile duckdb|snowflake|redshift|bigquery`, each logging
in as that warehouse's loader does, from the same AIRFLOW_AUDIT_* variables.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from airflow_audit_core.contract import STAMP_STEP_MICROSECONDS
from airflow_audit_core.errors import UserError
from airflow_audit_core.quoting import quote
from airflow_audit_loader.reconcile_adapter import (
    Extract,
    KeyColumn,
    LastCheck,
    Warehouse,
    normalise,
)
from tap_airflow_metadb.policy import archived_table

KEYS_AT_LEAST_EVERY = dt.timedelta(hours=24)
# For a last check that recorded no `written_through` (an earlier release wrote it): how far the
# clock of the host that loads may lag the clock of the host that last reconciled
# (`_sdc_batched_at` against _sync_audit's `ended_at`) without a row written being missed: far more
# than NTP lets hosts drift, and short enough that a job run minutes after a first sync does not
# count the first sync's rows as written since (at 10M task instances, `make bench` at f8083fb
# with 10 minutes: the hourly run's reconciliation 2.3 s and 574 MB, every distinct key counted).
WRITERS_CLOCKS_APART = dt.timedelta(minutes=2)
STAMP_STEP = dt.timedelta(microseconds=STAMP_STEP_MICROSECONDS)


@dataclass
class Outcome:
    table: str
    source_rows: int
    warehouse_rows: int
    deleted_at_source: int
    arrived_after_extract: int
    missing_in_warehouse: int
    duplicated_in_warehouse: int
    buckets_compared: int
    started_at: dt.datetime
    ended_at: dt.datetime
    # The table no longer exists at the source (an Airflow upgrade dropped it, or a user did).
    gone_at_source: bool = False
    # What the extractor did for this table in the sync (its `_airflow_audit_extracts` row).
    extraction: str | None = None
    # The snapshot of the sync checked, and how: `keys` (by bucket) or `counts` (see above).
    snapshot_xmin: int | None = None
    comparison: str = "keys"
    # The latest `_sdc_batched_at` of the table when checked, where the warehouse says (see above).
    written_through: dt.datetime | None = None

    @property
    def outcome(self) -> str:
        if self.gone_at_source:
            return "gone"
        if self.missing_in_warehouse or self.duplicated_in_warehouse:
            return "mismatch"
        return "ok"


def key_kind(column_type: Any) -> str:
    """A source column's SQLAlchemy type -> its KeyColumn kind."""
    if isinstance(column_type, sa.DateTime):
        return "timestamp"
    if isinstance(column_type, sa.Date):
        return "date"
    if isinstance(column_type, sa.Boolean):
        return "boolean"
    return "text"


def notice(message: str) -> None:
    print(f"airflow-audit-reconcile: {message}", file=sys.stderr, flush=True)


class Reconciler:
    def __init__(
        self, source: sa.engine.Engine, source_schema: str, warehouse: Warehouse, mode: str
    ):
        self.source = source
        self.source_schema = source_schema
        self.warehouse = warehouse
        self.mode = mode

    def run(self, tables: list[str] | None = None) -> list[Outcome]:
        """Reconcile every table the last syncs read, or only `tables`."""
        extracts = self.warehouse.extracts()
        if tables:
            read = {e.table for e in extracts}
            unknown = [t for t in tables if t not in read]
            if unknown:
                raise UserError(
                    f"No sync has read {', '.join(unknown)} into schema "
                    f"{self.warehouse.schema!r} {self.warehouse.location()}: sync "
                    f"{'it' if len(unknown) == 1 else 'them'} first, or check the table name."
                )
            extracts = [e for e in extracts if e.table in tables]
        self.warehouse.ensure_audit_table()
        last = self.warehouse.last_checks()
        present = set(sa.inspect(self.source).get_table_names(schema=self.source_schema))
        outcomes = []
        for extract in extracts:
            table = extract.table
            if table not in present:
                outcome = self.gone(table)
            else:
                outcome = self.by_counts(extract, last.get(table)) or self.reconcile(
                    table, int(extract.snapshot_xmin)
                )
                outcome.extraction = extract.extraction
                outcome.snapshot_xmin = int(extract.snapshot_xmin)
                outcome.written_through = self.warehouse.written_through(table)
            self._record(outcome)
            outcomes.append(outcome)
        return outcomes

    def gone(self, table: str) -> Outcome:
        """A table read by earlier syncs that the source no longer has: its warehouse table is
        kept; archive mode marks its rows deleted at the source, mirror mode leaves them."""
        started = dt.datetime.now(dt.timezone.utc)
        marked = self.warehouse.mark_table_deleted(table) if self.mode == "archive" else 0
        kept = (
            f"its {marked} rows marked deleted at the source"
            if self.mode == "archive"
            else "its rows kept as last synced"
        )
        notice(
            f"{table}: no longer in the source database (dropped by an Airflow upgrade or by "
            f"hand); the warehouse table stays, {kept}, and it is no longer synced."
        )
        return Outcome(
            table=table,
            source_rows=0,
            warehouse_rows=self.warehouse.live_rows(table),
            deleted_at_source=marked,
            arrived_after_extract=0,
            missing_in_warehouse=0,
            duplicated_in_warehouse=0,
            buckets_compared=0,
            started_at=started,
            ended_at=dt.datetime.now(dt.timezone.utc),
            gone_at_source=True,
            extraction="skipped: the table is no longer in the source database",
        )

    def by_counts(self, extract: Extract, last: LastCheck | None) -> Outcome | None:
        """The outcome when counts alone prove the table exact (the module's docstring says
        when), or None: compare keys."""
        started = dt.datetime.now(dt.timezone.utc)
        if (
            extract.source_rows is None
            or extract.previous_bookmark is None
            or not (extract.extraction or "").startswith("incremental")
            or last is None
            or (last.outcome, last.snapshot_xmin) != ("ok", extract.previous_bookmark)
            or last.keys_checked_at is None
            or started - last.keys_checked_at > KEYS_AT_LEAST_EVERY
        ):
            return None
        live = self.warehouse.live_rows(extract.table)
        if live != extract.source_rows:
            return None
        if extract.records_sent != 0:
            # rows were written: equal counts prove it only with every key once
            keys = self.primary_key(extract.table)
            if not keys or not self.keys_once(extract.table, keys, live, last):
                return None
        return Outcome(
            table=extract.table,
            source_rows=extract.source_rows,
            warehouse_rows=live,
            deleted_at_source=0,
            arrived_after_extract=0,
            missing_in_warehouse=0,
            duplicated_in_warehouse=0,
            buckets_compared=0,
            started_at=started,
            ended_at=dt.datetime.now(dt.timezone.utc),
            comparison="counts",
        )

    def keys_once(self, table: str, keys: list[KeyColumn], live: int, last: LastCheck) -> bool:
        """Whether the table's live rows hold every key once.  The last check held it for the
        rows then (compared keys find a key twice; a check by counts held it the same way), so a
        key held twice since involves a row written since: where the warehouse can count the
        keys of the rows written since, those alone are counted (the rows stamped after the
        check's `written_through`; for a check that recorded none, since it ended less
        WRITERS_CLOCKS_APART); otherwise every distinct key."""
        since = None
        if last.written_through is not None:
            since = last.written_through + STAMP_STEP
        elif last.checked_at is not None:
            since = last.checked_at - WRITERS_CLOCKS_APART
        if since is not None:
            twice = self.warehouse.twice_written_since(table, keys, since)
            if twice is not None:
                return twice == 0
        return self.warehouse.distinct_live_keys(table, keys) == live

    def primary_key(self, table: str) -> list[KeyColumn]:
        inspector = sa.inspect(self.source)
        names = inspector.get_pk_constraint(table, schema=self.source_schema)["constrained_columns"]
        base = archived_table(table)
        if not names and base:  # a db clean archive: the key of the table it archives
            names = inspector.get_pk_constraint(base, schema=self.source_schema)[
                "constrained_columns"
            ]
        types = {
            c["name"]: c["type"] for c in inspector.get_columns(table, schema=self.source_schema)
        }
        return [KeyColumn(name, key_kind(types.get(name))) for name in names]

    def reconcile(self, table: str, snapshot_xmin: int) -> Outcome:
        started = dt.datetime.now(dt.timezone.utc)
        keys = self.primary_key(table)
        bookmark = str(snapshot_xmin % 2**32)
        src_table = f"{quote(self.source_schema)}.{quote(table)}"
        fresh = "age(xmin) <= age(cast(:bookmark as xid))"
        source_bucket = self.warehouse.source_bucket(keys)
        with (
            self.source.connect().execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            ) as conn,
            conn.begin(),
        ):
            for statement in self.warehouse.source_session:
                conn.execute(sa.text(statement))
            source_rows = conn.execute(sa.text(f"select count(*) from {src_table}")).scalar_one()
            # Rows changed after the tap's snapshot are left out of the source's counts: a bucket
            # is equal only if nothing in it was deleted or changed since.
            source_buckets = dict(
                conn.execute(
                    sa.text(
                        f"select {source_bucket}, count(*) from {src_table} "
                        f"where not ({fresh}) group by 1"
                    ).bindparams(bookmark=bookmark)
                ).all()
            )
            warehouse_buckets = self.warehouse.bucket_counts(table, keys)
            differing = sorted(
                b
                for b in set(source_buckets) | set(warehouse_buckets)
                if source_buckets.get(b) != warehouse_buckets.get(b)
            )
            source_keys: dict[tuple, bool] = {}
            warehouse_keys: Counter[tuple] = Counter()
            if differing:
                cols = ", ".join(quote(k.name) for k in keys)
                for row in conn.execute(
                    sa.text(
                        f"select {cols}, {fresh} from {src_table} "
                        f"where {source_bucket} = any(:buckets)"
                    ).bindparams(bookmark=bookmark, buckets=differing)
                ):
                    source_keys[normalise(row[:-1])] = bool(row[-1])
                for row in self.warehouse.keys_in(table, keys, differing):
                    warehouse_keys[normalise(row)] += 1
        deleted = [k for k in warehouse_keys if k not in source_keys]
        missing = [k for k in source_keys if k not in warehouse_keys]
        arrived = [k for k in missing if source_keys[k]]
        lost = [k for k in missing if not source_keys[k]]
        duplicated = [k for k, n in warehouse_keys.items() if n > 1]
        # Deletes are applied only when the comparison is otherwise clean: a warehouse that
        # lacks rows it should have is not a trustworthy base to remove more from.
        if deleted and not lost and not duplicated:
            self.warehouse.apply_deletes(table, keys, deleted, self.mode)
        warehouse_rows = self.warehouse.live_rows(table)
        return Outcome(
            table=table,
            source_rows=int(source_rows),
            warehouse_rows=int(warehouse_rows),
            deleted_at_source=len(deleted),
            arrived_after_extract=len(arrived),
            missing_in_warehouse=len(lost),
            duplicated_in_warehouse=len(duplicated),
            buckets_compared=len(differing),
            started_at=started,
            ended_at=dt.datetime.now(dt.timezone.utc),
        )

    def _record(self, o: Outcome) -> None:
        self.warehouse.record(
            [
                o.table,
                self.mode,
                o.source_rows,
                o.warehouse_rows,
                o.deleted_at_source,
                o.arrived_after_extract,
                o.missing_in_warehouse,
                o.duplicated_in_warehouse,
                o.buckets_compared,
                o.started_at,
                o.ended_at,
                o.outcome,
                o.extraction,
                o.snapshot_xmin,
                o.comparison,
                o.written_through,
            ]
        )
