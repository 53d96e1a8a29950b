"""Which Airflow tables a run copies, with the semantics of the Datacoves sync operator.

* `tables` unset: the default set (policy.DEFAULT_TABLES);
* `tables` an empty list (`[]`): every *known Airflow table* of the metadata database (policy.py):
  `db clean` archives, Celery's tables, views and other applications' tables are not Airflow's and
  are copied only when named;
* `tables` a list: exactly those;
* `additional_tables` adds to whichever set the above chose.

Lists come as JSON (`["log","log_template"]`) or comma-separated (`log,log_template`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from airflow_audit_core.errors import UserError
from tap_airflow_metadb.policy import (
    DEFAULT_TABLES,
    NEVER_SYNCED,
    VERSION_OPTIONAL_TABLES,
    is_known_table,
)

_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")


def parse_table_list(raw: object, setting: str, *, columns: bool = False) -> list[str] | None:
    """Parse a table list (or, with `columns`, a table.column list); None when not given."""
    example = (
        '["dag_code.source_code"] or dag_code.source_code'
        if columns
        else ('["log","log_template"] or log,log_template')
    )
    if raw is None:
        return None
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            return None
        if text.startswith("["):
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as exc:
                raise UserError(
                    f"{setting} is not a valid JSON list ({exc.msg}): write it as {example}."
                ) from None
        else:
            raw = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        kind = "table.column names" if columns else "table names"
        raise UserError(f"{setting} must be a list of {kind}, such as {example}.")
    names = [item.strip() for item in raw]
    pattern = _COLUMN if columns else _TABLE
    bad = [name for name in names if not pattern.match(name)]
    if bad:
        what = "a table.column name" if columns else "a table name"
        raise UserError(
            f"{setting} names {', '.join(repr(b) for b in bad)}, which cannot be {what}: "
            f"write it like {example}."
        )
    return list(dict.fromkeys(names))


@dataclass
class Scope:
    """The tables a run copies, and the default tables skipped because they do not exist."""

    tables: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # tables of the database that "every table" left out because they are not Airflow's
    not_airflow: list[str] = field(default_factory=list)


def resolve_scope(
    tables: list[str] | None,
    additional_tables: list[str] | None,
    available: Iterable[str],
    airflow_version: str,
    other_relations: Iterable[str] = (),
) -> Scope:
    """Decide the tables to copy, or explain in one sentence why that cannot be done.

    `available` are the database's tables; `other_relations` its views and foreign tables, which
    are copied only when named.
    """
    tables_only = set(available)
    available = tables_only | set(other_relations)
    not_airflow: list[str] = []
    additional = additional_tables or []
    if tables is None:
        defaults = [t for t in DEFAULT_TABLES if t not in additional]
        named: list[str] = []
    elif not tables:
        defaults = sorted(t for t in tables_only if is_known_table(t))
        not_airflow = sorted(t for t in available - NEVER_SYNCED if not is_known_table(t))
        named = []
    else:
        defaults = []
        named = tables

    missing_named = [t for t in [*named, *additional] if t not in available]
    if missing_named:
        plural = "s" if len(missing_named) > 1 else ""
        raise UserError(
            f"Table{plural} {', '.join(missing_named)} not found in the Airflow metadata database "
            f"(Airflow {airflow_version}): check the names in AIRFLOW_AUDIT_TABLES and "
            "AIRFLOW_AUDIT_ADDITIONAL_TABLES against that version's tables."
        )

    skipped: list[tuple[str, str]] = []
    chosen: list[str] = []
    for table in defaults:
        if table in available:
            chosen.append(table)
        elif table in VERSION_OPTIONAL_TABLES:
            skipped.append((table, VERSION_OPTIONAL_TABLES[table]))
        else:
            raise UserError(
                f"The default table {table} is missing from the database (Airflow "
                f"{airflow_version}): this does not look like a complete Airflow metadata "
                "database; check AIRFLOW_AUDIT_SOURCE_URL and AIRFLOW_AUDIT_SOURCE_SCHEMA."
            )
    chosen.extend(t for t in [*named, *additional] if t not in chosen)
    not_airflow = [t for t in not_airflow if t not in chosen]
    return Scope(tables=chosen, skipped=skipped, not_airflow=not_airflow)
