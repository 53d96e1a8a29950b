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
    # DuckDB's own limits, for the loader and for dbt (transform/macros/airflow_audit_duckdb_limits.sql);
    # empty: DuckDB's defaults (80% of the memory, a thread per core).
    Setting("memory_limit", "AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT"),
    Setting("threads", "AIRFLOW_AUDIT_DUCKDB_THREADS"),
)


MEMORY_AMOUNT = r"(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)"
MEMORY_UNITS = {"kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
MEMORY_UNITS.update({"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40})


def memory_bytes(amount: str) -> int:
    """A memory limit as limits() takes it or DuckDB shows it ('384MB', '18.8 GiB') -> bytes."""
    match = re.fullmatch(MEMORY_AMOUNT, amount.strip(), re.IGNORECASE)
    if not match:
        raise ValueError(f"not an amount of memory: {amount!r}")
    return int(float(match[1]) * MEMORY_UNITS[match[2].lower()])


def limits(config: dict) -> list[str]:
    """The SET statements for DuckDB's memory limit and threads, where configured."""
    statements = []
    memory = str(config.get("memory_limit") or "").strip()
    if memory:
        if not re.fullmatch(MEMORY_AMOUNT, memory, re.IGNORECASE):
            raise UserError(
                f"AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT is {memory!r}: give an amount such as 4GB or "
                "512MiB (empty: DuckDB's default, 80% of the memory)."
            )
        statements.append(f"SET memory_limit = '{memory}'")
    threads = str(config.get("threads") or "").strip()
    if threads:
        if not threads.isdigit() or int(threads) < 1:
            raise UserError(
                f"AIRFLOW_AUDIT_DUCKDB_THREADS is {threads!r}: give a whole number of threads, 1 "
                "or more (empty: one per core)."
            )
        statements.append(f"SET threads = {int(threads)}")
    return statements


def resolve_path(configured: str | None) -> Path:
    """The DuckDB file: AIRFLOW_AUDIT_DUCKDB_PATH, relative paths from the project root."""
    raw = (configured or "").strip() or DEFAULT_PATH
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = Path(os.environ.get("MELTANO_PROJECT_ROOT", os.getcwd())) / path
    if re.search(r"[\x00]", str(path)):
        raise UserError(f"The DuckDB path {raw!r} is not a usable file name.")
    return path
