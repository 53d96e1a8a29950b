"""The tables the stages leave for each other in the raw schema.

* `_airflow_audit_extracts`: written by the extractor, one row per table it read (the snapshot
  it read in); reconciliation reads it to know what to compare.
* `_sync_audit`: written by reconciliation, one row per table and sync (the outcome).

And the loaders' stamp on every row they write, `_sdc_batched_at`: each write's is after every
stamp its table holds (own_target.stamp_after), so the rows written after a point are the rows
stamped after the latest stamp then, whatever the hosts' clocks; the incremental marts and
reconciliation's `written_through` rely on it.

And one keyword the extractor adds to a stream's SCHEMA message: NATURAL_KEY_KEYWORD, the columns
naming the same row in every Airflow release when Airflow 3 changed the table's primary key.
"""

from __future__ import annotations

EXTRACTS_STREAM = "_airflow_audit_extracts"
SYNC_AUDIT = "_sync_audit"
NATURAL_KEY_KEYWORD = "x-airflow-audit-natural-key"
# `_sdc_batched_at`'s precision on every warehouse: the first stamp after another.
STAMP_STEP_MICROSECONDS = 1

# The extractor hands each table it reads over in files (a Singer BATCH message per read, its
# manifest the files' file:// URIs) in this format: PostgreSQL's CSV (pg_csv.py), one record a
# row, no header.  Booleans are t/f, timestamps ISO 8601 in UTC, bytea hex, JSON as text.
# The message's `encoding` also holds `columns` (the file's columns, in order) and
# `extracted_at`.  The loader that reads a file removes it once its rows are committed.
BATCH_FORMAT = "postgresql-csv"
