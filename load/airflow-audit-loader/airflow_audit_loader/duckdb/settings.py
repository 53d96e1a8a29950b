"""DuckDB, the embedded default: the settings registry, and where the file is."""

from __future__ import annotations

import os
import re
from pathlib import Path

from airflow_audit_core.errors import UserError
from airflow_audit_loader.registry import Setting

DEFAULT_PATH = "output/airflow_audit.duckdb"
DEFAULT_BATCH_SIZE_ROWS = 200_000

SETTINGS = (
    Setting("path", "AIRFLOW_AUDIT_DUCKDB_PATH", login=True),
    Setting("batch_size_rows", kind="integer", value=200000),
    Setting("lock_timeout_seconds", kind="integer", value=600),
)


def resolve_path(configured: str | None) -> Path:
    """The DuckDB file: AIRFLOW_AUDIT_DUCKDB_PATH, relative paths from the project root."""
    raw = (configured or "").strip() or DEFAULT_PATH
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = Path(os.environ.get("MELTANO_PROJECT_ROOT", os.getcwd())) / path
    if re.search(r"[\x00]", str(path)):
        raise UserError(f"The DuckDB path {raw!r} is not a usable file name.")
    return path
