"""The files the extractor hands over (contract.BATCH_FORMAT), for every loader.

The DuckDB loader reads them natively; every other loader (Redshift's, and the third-party
targets run in-process) turns them back into the records the extractor would have sent with
AIRFLOW_AUDIT_HANDOFF=records, value for value (`file_records`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from airflow_audit_core.contract import BATCH_FORMAT
from airflow_audit_core.errors import UserError
from airflow_audit_core.pg_csv import read_records


@dataclass
class HandedOver:
    """One BATCH message: its stream, files, columns and extraction time."""

    stream: str
    files: list[Path]
    columns: list[str]
    extracted_at: str | None

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> HandedOver:
        encoding = message.get("encoding") or {}
        if encoding.get("format") != BATCH_FORMAT:
            raise UserError(
                f"A BATCH message for {message.get('stream')!r} holds {encoding.get('format')!r} "
                f"files; this loader reads the extractor's {BATCH_FORMAT!r} only (set "
                "AIRFLOW_AUDIT_HANDOFF=records for a tap other than tap-airflow-metadb)."
            )
        return cls(
            stream=message["stream"],
            files=[local_path(uri) for uri in message.get("manifest") or []],
            columns=list(encoding.get("columns") or []),
            extracted_at=encoding.get("extracted_at"),
        )


def local_path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        raise UserError(f"A BATCH file is at {uri}: only local files (file://) are read.")
    path = Path(unquote(parsed.path))
    if not path.exists():
        raise UserError(
            f"The extractor's file {path} is gone (removed, or written on another machine): run "
            "the tap and the loader together (`meltano run`), with AIRFLOW_AUDIT_BATCH_DIR on a "
            "disk both see."
        )
    return path


def _timestamp(text: str) -> str:
    return datetime.fromisoformat(text).isoformat()


# A file's text -> the value the records path sends, by the column's kind (own_target.property_kind).
DECODERS = {
    "integer": int,
    "number": float,
    "boolean": lambda text: text == "t",
    "timestamp": _timestamp,
    "json": json.loads,
}


def file_records(path: Path, columns: list[str], kinds: dict[str, str]) -> Iterator[dict[str, Any]]:
    """The file's rows as records; `kinds` maps a column to its kind (strings need none)."""
    decoders = [(i, c, DECODERS.get(kinds.get(c, "string"))) for i, c in enumerate(columns)]
    with path.open(newline="", encoding="utf-8") as lines:
        for values in read_records(lines):
            record: dict[str, Any] = {}
            for position, column, decode in decoders:
                value = values[position]
                record[column] = decode(value) if decode and value is not None else value
            yield record


def remove(path: Path) -> None:
    """A file whose rows are committed."""
    with contextlib.suppress(OSError):
        os.unlink(path)


def remove_directories(files: list[Path]) -> None:
    """The extractor's run directories of these files, once empty: at the loader's end, when
    the extractor has finished (its output ended) and so writes into them no more."""
    for directory in {path.parent for path in files}:
        with contextlib.suppress(OSError):
            directory.rmdir()
