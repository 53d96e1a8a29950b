"""The tables the stages leave for each other in the raw schema.

* `_airflow_audit_extracts`: written by the extractor, one row per table it read (the snapshot
  it read in); reconciliation reads it to know what to compare.
* `_sync_audit`: written by reconciliation, one row per table and sync (the outcome).

And one keyword the extractor adds to a stream's SCHEMA message: NATURAL_KEY_KEYWORD, the columns
naming the same row in every Airflow release when Airflow 3 changed the table's primary key.
"""

from __future__ import annotations

EXTRACTS_STREAM = "_airflow_audit_extracts"
SYNC_AUDIT = "_sync_audit"
NATURAL_KEY_KEYWORD = "x-airflow-audit-natural-key"
