"""target-airflow-audit-bigquery: z3z1ma's target-bigquery, under the project's rules.

The target loads each stream into a scratch table (load jobs) and MERGEs it into the table at
the end of the run.  It ignores ACTIVATE_VERSION and names tables after the whole stream name
(`public_dag_run`).  The shim therefore:

* renames streams to the Airflow table name (`dag_run`) before the target sees them;
* remembers each full read that completed, and after the target has merged everything runs
  the DELETE (mirror) or UPDATE of `_sdc_deleted_at` (archive) for rows of other versions,
  after deleting the rows stored under a key Airflow 3 replaced that the full read brought
  back under the new one;
* loads into dataset `airflow_<slug>`, with real columns (`denormalized`), JSON as JSON text;
* stamps each batch in UTC after every row its table holds (wrapped_target.StampedBatches), and
  `_sdc_received_at` in UTC: the SDK the target pins stamps both in local time without a zone.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping

from airflow_audit_core.contract import NATURAL_KEY_KEYWORD
from airflow_audit_loader import wrapped_target
from airflow_audit_loader.bigquery.settings import target_config as bigquery_target_config
from airflow_audit_loader.full_read import DELETED_AT_COLUMN, VERSION_COLUMN, full_read_sql

PROG = "target-airflow-audit-bigquery"


def full_read_statements(
    project: str,
    dataset: str,
    completed: Mapping[str, int],
    mode: str,
    rekeyed: Mapping[str, tuple[list[str], list[str]]] | None = None,
) -> list[tuple[str, int]]:
    """(DML, version) per table whose full read completed, with BigQuery named parameters.

    `rekeyed`: table -> (its key, the natural key the extractor named) for the tables Airflow 3
    re-keyed (task_instance, task_instance_history).  The target merges on the new key, so rows
    stored under the old one (a new key column null) stay beside the re-keyed rows: first, the
    live ones whose natural key this full read brought under the new key go, so that none is held
    twice or counted deleted at the source in archive mode."""
    statements = []
    for table, version in sorted(completed.items()):
        target = f"`{project}.{dataset}.{table}`"
        if rekeyed and table in rekeyed:
            keys, natural = rekeyed[table]
            old_key = " OR ".join(f"d.`{k}` IS NULL" for k in keys)
            same = " AND ".join(f"s.`{k}` = d.`{k}`" for k in natural)
            new_key = " AND ".join(f"s.`{k}` IS NOT NULL" for k in keys)
            statements.append(
                (
                    f"DELETE FROM {target} AS d WHERE d.{DELETED_AT_COLUMN} IS NULL AND ({old_key})"
                    f" AND EXISTS (SELECT 1 FROM {target} AS s WHERE s.{VERSION_COLUMN} = @version"
                    f" AND {new_key} AND {same})",
                    version,
                )
            )
        statements.append(
            (full_read_sql(target, mode, version="@version", deleted_at="@deleted_at"), version)
        )
    return statements


def latest_stamp_sql(escaped_table: str) -> str:
    """The latest stamp of a table the target writes (its merge target under upsert)."""
    return f"SELECT MAX(_sdc_batched_at) FROM {escaped_table}"


@functools.cache
def stamped_sink_class(sink_class: type) -> type:
    """z3-target-bigquery's sink class for a stream, its batches stamped as the project stamps
    them (one class per base, so the target sees the same class for every stream)."""

    class StampedBigQuerySink(wrapped_target.StampedBatches, sink_class):
        def latest_stamp(self) -> dt.datetime | None:
            # Under upsert, `table` is the run's scratch table and `merge_target` the real one.
            table = self.merge_target or self.overwrite_target or self.table
            rows = self.client.query(
                latest_stamp_sql(table.get_escaped_name()), location=self.config["location"]
            ).result()
            return next(iter(rows))[0]

        def _add_sdc_metadata_to_record(self, record: dict, message: dict, context: dict) -> None:
            super()._add_sdc_metadata_to_record(record, message, context)
            record["_sdc_received_at"] = dt.datetime.now(dt.timezone.utc).isoformat()

    StampedBigQuerySink.__name__ = StampedBigQuerySink.__qualname__ = (
        f"Stamped{sink_class.__name__}"
    )
    return StampedBigQuerySink


def target_class() -> type:
    from google.cloud import bigquery
    from target_bigquery.core import bigquery_client_factory
    from target_bigquery.target import TargetBigQuery

    class AirflowAuditTargetBigQuery(wrapped_target.FullReadMixin, TargetBigQuery):
        table_name_only = True

        def get_sink_class(self, stream_name: str | None = None) -> type:
            return stamped_sink_class(super().get_sink_class(stream_name))

        def complete_full_read(self, message_dict: dict) -> None:
            # Rows are merged into the table only at the end of the run: act after that.
            completed: dict[str, int] = self.__dict__.setdefault("_completed_reads", {})
            sink = self.get_sink(message_dict["stream"])
            completed[sink.table_name] = int(message_dict["version"])
            natural = list((sink.schema or {}).get(NATURAL_KEY_KEYWORD) or [])
            keys = list(sink.key_properties or [])
            if natural and keys and natural != keys:
                rekeyed = self.__dict__.setdefault("_rekeyed", {})
                rekeyed[sink.table_name] = (keys, natural)

        def _process_endofpipe(self) -> None:
            super()._process_endofpipe()
            completed: dict[str, int] = self.__dict__.get("_completed_reads", {})
            if not completed:
                return
            # hard_delete is not a setting of this target: the shim's own (warehouses.py).
            mode = "mirror" if self.config.get("hard_delete") else "archive"
            client = bigquery_client_factory(self._credentials)
            now = dt.datetime.now(dt.timezone.utc)
            rekeyed = self.__dict__.get("_rekeyed", {})
            for sql, version in full_read_statements(
                self.config["project"], self.config["dataset"], completed, mode, rekeyed
            ):
                parameters = [bigquery.ScalarQueryParameter("version", "INT64", version)]
                if "@deleted_at" in sql:
                    parameters.append(bigquery.ScalarQueryParameter("deleted_at", "TIMESTAMP", now))
                job_config = bigquery.QueryJobConfig(query_parameters=parameters)
                client.query(sql, job_config=job_config, location=self.config["location"]).result()
                wrapped_target.LOG.info("Applied the full read: %s", sql)

    return AirflowAuditTargetBigQuery


def main(argv: list[str] | None = None) -> None:
    wrapped_target.run(PROG, argv, target_config=bigquery_target_config, target_class=target_class)


if __name__ == "__main__":
    main()
