"""Which Airflow tables a run copies, with the semantics of the Datacoves sync operator.

* `tables` unset: the default set (policy.DEFAULT_TABLES);
* `tables` an empty list (`[]`): every table of the metadata database;
* `tables` a list: exactly those;
* `additional_tables` adds to whichever set the above chose.

Lists come as JSON (`["log","log_template"]`) or comma-separated (`log,log_template`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from tap_airflow_metadb.errors import UserError
from tap_airflow_metadb.policy import DEFAULT_TABLES, NEVER_SYNCED, VERSION_OPTIONAL_TABLES

_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_table_list(raw: object, setting: str) -> list[str] | None:
    """Parse a table list; None when the setting is not given (empty string or null)."""
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
                    f"{setting} is not a valid JSON list ({exc.msg}): write it as "
                    '["log","log_template"] or as log,log_template.'
                ) from None
        else:
            raw = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise UserError(
            f"{setting} must be a list of table names, such as "
            '["log","log_template"] or log,log_template.'
        )
    names = [item.strip() for item in raw]
    bad = [name for name in names if not _TABLE.match(name)]
    if bad:
        raise UserError(
            f"{setting} names {', '.join(repr(b) for b in bad)}, which cannot be a table name: "
            "use Airflow's table names, such as dag_run or task_instance."
        )
    return list(dict.fromkeys(names))


@dataclass
class Scope:
    """The tables a run copies, and the default tables skipped because they do not exist."""

    tables: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)


def resolve_scope(
    tables: list[str] | None,
    additional_tables: list[str] | None,
    available: Iterable[str],
    airflow_version: str,
) -> Scope:
    """Decide the tables to copy, or explain in one sentence why that cannot be done."""
    available = set(available)
    additional = additional_tables or []
    if tables is None:
        defaults = [t for t in DEFAULT_TABLES if t not in additional]
        named: list[str] = []
    elif not tables:
        defaults = sorted(available - NEVER_SYNCED)
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
    return Scope(tables=chosen, skipped=skipped)
