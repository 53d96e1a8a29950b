"""The tables the stages leave for each other in the raw schema.

* `_airflow_audit_extracts`: written by the extractor, one row per table it read (the snapshot
  it read in); reconciliation reads it to know what to compare.
* `_sync_audit`: written by reconciliation, one row per table and sync (the outcome).
"""

from __future__ import annotations

EXTRACTS_STREAM = "_airflow_audit_extracts"
SYNC_AUDIT = "_sync_audit"
