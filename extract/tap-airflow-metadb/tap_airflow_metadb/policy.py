"""What leaves the Airflow database: an allowlist, failing closed.

A column leaves only when it is known to be safe:

* it belongs to a known Airflow table and is a known column of it (`airflow_columns.csv`, the
  inventory of the real schemas of every release the project holds), and
* it is not a secret (`SECRET_COLUMNS`: never leaves, nothing opts it in), and
* it is not left out by default (`OPT_IN_COLUMNS`: leaves only when a user names it in
  AIRFLOW_AUDIT_ALLOW_COLUMNS).

Kept columns that can carry a secret in free text are masked inside the tap before they leave
(`REDACTED_COLUMNS`, see redact.py).  Where a secret matters for an audit, a boolean computed by
PostgreSQL arrives instead (`SECRET_FLAGS`): the value never enters the tap's process.

Everything else is left out with a notice: a column the inventory does not know (a newer Airflow,
a local patch), tables that are not Airflow's (`db clean` archives, Celery's result tables, other
applications).  An archive table named explicitly gets the policy of the table it archives; any
other unknown table named explicitly keeps only its columns of types that cannot hold text.

The README's "Secrets never leave" section and the tests read this module.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

# Tables whose primary key Airflow 3 changed, with the key that names the same row in every
# release (a unique constraint in both).  The tap puts it in the stream's SCHEMA message as
# NATURAL_KEY_KEYWORD; every loader then replaces rows stored under the old key instead of
# keeping them beside the re-keyed ones (an in-place upgrade, docs in the README).
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "task_instance": ("dag_id", "task_id", "run_id", "map_index"),
    "task_instance_history": ("dag_id", "task_id", "run_id", "map_index", "try_number"),
}

# The tables the Datacoves Airflow sync operator copies by default.
DEFAULT_TABLES: tuple[str, ...] = (
    "ab_permission",
    "ab_role",
    "ab_user",
    "dag",
    "dag_run",
    "dag_tag",
    "import_error",
    "job",
    "task_fail",
    "task_instance",
)

# Default tables that some Airflow versions simply do not have: skipped with a notice.
VERSION_OPTIONAL_TABLES: dict[str, str] = {
    "task_fail": "Airflow 3 removed task_fail (failures are in task_instance and task_instance_history)",
    "ab_permission": "the FAB auth tables exist only with the FAB auth manager (apache-airflow-providers-fab on Airflow 3)",
    "ab_role": "the FAB auth tables exist only with the FAB auth manager (apache-airflow-providers-fab on Airflow 3)",
    "ab_user": "the FAB auth tables exist only with the FAB auth manager (apache-airflow-providers-fab on Airflow 3)",
}

# Tables that are never part of "every table": Alembic's bookkeeping is not audit data.
NEVER_SYNCED: frozenset[str] = frozenset({"alembic_version", "alembic_version_fab"})

_HITL = {
    "subject": "a human-in-the-loop request's free text (Airflow 3)",
    "body": "a human-in-the-loop request's free text (Airflow 3)",
    "options": "the choices offered to a person (free text, Airflow 3)",
    "defaults": "default answers (free text, Airflow 3)",
    "params": "parameters shown to a person (may hold run data, Airflow 3)",
    "params_input": "what a person typed in (free text, Airflow 3)",
    "chosen_options": "what a person chose (free text, Airflow 3)",
}

# table -> column -> why it never leaves.  Airflow 2 and 3 names together.
SECRET_COLUMNS: dict[str, dict[str, str]] = {
    "ab_user": {"password": "password hash"},
    "ab_register_user": {
        "password": "password hash",
        "registration_hash": "registration token",
    },
    "connection": {
        "password": "connection password",
        "extra": "connection extras (tokens, keys, key files)",
    },
    "connection_test_request": {
        "password": "connection password (Airflow 3)",
        "extra": "connection extras (Airflow 3)",
        "token": "request token (Airflow 3)",
    },
    "variable": {"val": "variable value"},
    "session": {"data": "web session data", "session_id": "web session id (a bearer credential)"},
    "xcom": {"value": "task data passed between tasks"},
    "rendered_task_instance_fields": {
        "rendered_fields": "rendered templates (may hold resolved secrets)",
        "k8s_pod_yaml": "rendered pod spec (may hold environment secrets)",
    },
    "trigger": {"kwargs": "trigger arguments (may hold credentials)"},
    "dag_run": {"conf": "run configuration passed by the user"},
    "backfill": {"dag_run_conf": "run configuration of a backfill's runs (Airflow 3)"},
    "callback_request": {"callback_data": "pickled callback payload (Airflow 2)"},
    "callback": {
        "data": "callback payload (Airflow 3)",
        "output": "what a callback printed (Airflow 3)",
    },
    "deadline_alert": {"callback_def": "a deadline's callback with its arguments (Airflow 3)"},
    "dag": {"deadline": "deadline alerts with their callbacks' arguments (Airflow 3)"},
    "task_instance": {
        "executor_config": "pickled executor config (may hold pod specs)",
        "next_kwargs": "arguments a deferred task resumes with (may hold trigger payloads)",
    },
    "task_instance_history": {
        "executor_config": "pickled executor config",
        "next_kwargs": "arguments a deferred task resumed with",
    },
    "task_state_store": {"value": "task state values (Airflow 3)"},
    "asset_state_store": {"value": "asset state values (Airflow 3)"},
    "dag_pickle": {"pickle": "pickled DAG objects (Airflow 2)"},
    "hitl_detail": dict(_HITL),
    "hitl_detail_history": dict(_HITL),
    "dag_bundle": {"template_params": "parameters of a bundle's signed URLs (Airflow 3)"},
    "revoked_token": {"jti": "ids of revoked API tokens (Airflow 3)"},
    "asset": {"extra": "an asset's user-defined extras (free JSON, Airflow 3)"},
    "asset_event": {"extra": "an asset event's user-defined extras (free JSON, Airflow 3)"},
    "dataset": {"extra": "a dataset's user-defined extras (free JSON, Airflow 2)"},
    "dataset_event": {"extra": "a dataset event's user-defined extras (free JSON, Airflow 2)"},
}

# table -> column -> why it is left out unless named in AIRFLOW_AUDIT_ALLOW_COLUMNS.  No mart
# needs them, and they hold what a DAG file holds: param defaults, literal values of templated
# fields, op_kwargs, hard-coded credentials.
OPT_IN_COLUMNS: dict[str, dict[str, str]] = {
    "serialized_dag": {
        "data": "serialized DAGs (param defaults, templated fields' literal values, op_kwargs)",
        "data_compressed": "serialized DAGs, zlib-compressed",
    },
    "dag_code": {"source_code": "DAG files' source code (hard-coded credentials are common)"},
    "dag_version": {"version_data": "a DAG version's bundle data (Airflow 3)"},
}

# table -> column -> how it is masked before it leaves (redact.py).
LOG_EXTRA = "log_extra"
FREE_TEXT = "free_text"
REDACTED_COLUMNS: dict[str, dict[str, str]] = {
    "log": {"extra": LOG_EXTRA},
    "import_error": {"stacktrace": FREE_TEXT},
    "connection": {"host": FREE_TEXT, "description": FREE_TEXT, "schema": FREE_TEXT},
    "connection_test_request": {
        "host": FREE_TEXT,
        "schema": FREE_TEXT,
        "result_message": FREE_TEXT,
    },
    "dag_warning": {"message": FREE_TEXT},
    "dag": {"description": FREE_TEXT},
    "dag_owner_attributes": {"link": FREE_TEXT},
    "dag_bundle": {"signed_url_template": FREE_TEXT},
    "dag_run_note": {"content": FREE_TEXT},
    "task_instance_note": {"content": FREE_TEXT},
    "sla_miss": {"description": FREE_TEXT},
    "slot_pool": {"description": FREE_TEXT},
    "variable": {"description": FREE_TEXT},
    "deadline_alert": {"description": FREE_TEXT},
    "backfill_dag_run": {"exception_reason": FREE_TEXT},
    # an asset defined by URI alone is named by it
    "asset": {"uri": FREE_TEXT, "name": FREE_TEXT},
    "asset_active": {"uri": FREE_TEXT, "name": FREE_TEXT},
    "dag_schedule_asset_name_reference": {"name": FREE_TEXT},
    "dataset": {"uri": FREE_TEXT},
    "dag_schedule_asset_uri_reference": {"uri": FREE_TEXT},
    "task_instance": {"retry_reason": FREE_TEXT},
    "task_instance_history": {"retry_reason": FREE_TEXT},
}

# table -> flag column -> the secret column it says something about (never its value).  PostgreSQL
# computes it (`coalesce(password, '') <> ''`), so the value never reaches the tap.
SECRET_FLAGS: dict[str, dict[str, str]] = {
    "ab_user": {"has_password": "password"},
    "connection": {"has_password": "password", "has_extra": "extra"},
}

# table -> fingerprint column -> the secret column it fingerprints: HMAC-SHA256 of the stored value
# under the user's AIRFLOW_AUDIT_FINGERPRINT_KEY, computed by PostgreSQL (tap.fingerprint_column),
# so the value never reaches the tap and the warehouse can tell that a value changed, never what it
# is: without the key, even a short value cannot be guessed from its fingerprint.  No key: NULL.
SECRET_FINGERPRINTS: dict[str, dict[str, str]] = {
    "connection": {"password_fingerprint": "password", "extra_fingerprint": "extra"},
    "variable": {"val_fingerprint": "val"},
}

# `airflow db clean` keeps what it deletes in _airflow_deleted__<table>__<YYYYMMDDHHMMSS> (2.x also
# wrote <table>__<timestamp>-style names before 2.6); the 3.0 migration keeps pickled XComs in
# _xcom_archive.  Named explicitly, they get the policy of the table they archive.
_ARCHIVE = re.compile(r"^_airflow_deleted__(?P<table>[a-z_]+?)__\d{8,}$")
_FIXED_ARCHIVES = {"_xcom_archive": "xcom"}

# PostgreSQL types whose values cannot carry text: an unknown table keeps only these.
_NON_TEXT_TYPES = re.compile(
    r"^(smallint|integer|bigint|numeric.*|real|double precision|boolean|date|"
    r"time(stamp)?( ?\(\d+\))?( with(out)? time zone)?|interval.*|uuid|oid)$"
)

INVENTORY_FILE = Path(__file__).with_name("airflow_columns.csv")


@cache
def known_columns() -> Mapping[str, frozenset[str]]:
    """table -> the columns Airflow's own schemas have, in any release the project holds."""
    columns: dict[str, set[str]] = {}
    with INVENTORY_FILE.open() as f:
        for row in csv.DictReader(f):
            columns.setdefault(row["table"], set()).add(row["column"])
    return {t: frozenset(c) for t, c in columns.items()}


def secret_columns(table: str) -> frozenset[str]:
    """The columns of `table` that never leave the database."""
    return frozenset(SECRET_COLUMNS.get(policy_table(table) or table, {}))


def archived_table(table: str) -> str | None:
    """The Airflow table an archive table holds rows of, or None."""
    if table in _FIXED_ARCHIVES:
        return _FIXED_ARCHIVES[table]
    match = _ARCHIVE.match(table)
    return match.group("table") if match else None


def is_known_table(table: str) -> bool:
    return table in known_columns() and table not in NEVER_SYNCED


def policy_table(table: str) -> str | None:
    """The known Airflow table whose policy `table` follows (itself, or the table it archives)."""
    if table in known_columns():
        return table
    base = archived_table(table)
    return base if base in known_columns() else None


def primary_key_of(table: str, primary_keys: Mapping[str, Iterable[str]]) -> tuple[str, ...]:
    """The table's primary key; for an archive made by `CREATE TABLE AS` (no key of its own, as
    `airflow db clean` makes them), the key of the table it archives."""
    own = tuple(primary_keys.get(table, ()))
    if own:
        return own
    base = archived_table(table)
    return tuple(primary_keys.get(base, ())) if base else ()


@dataclass
class ColumnPlan:
    """What one table sends: the columns read, the flags PostgreSQL computes, what is masked."""

    table: str
    read: list[str]
    flags: dict[str, str] = field(default_factory=dict)  # flag -> source column
    redact: dict[str, str] = field(default_factory=dict)  # column -> LOG_EXTRA | FREE_TEXT
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (column, why) for notices
    refused: str | None = None  # why the whole table stays in (its key is left out)
    types: dict[str, str] = field(default_factory=dict)  # column read -> its PostgreSQL type
    natural_key: list[str] = field(default_factory=list)  # NATURAL_KEYS, when all are read
    fingerprints: dict[str, str] = field(default_factory=dict)  # column -> secret column
    fingerprint_key_id: str | None = None  # which key the fingerprints are under (not the key)

    @property
    def fingerprint(self) -> str:
        """What the warehouse table is made of: the columns read with their types, the flags and
        the masking.  A bookmark is only good for the same fingerprint: when an Airflow upgrade
        adds or retypes a column (or a user opts one in), the table is read in full once, so
        the change reaches every warehouse row, not only the rows changed since."""
        shape = {
            "read": sorted((c, self.types.get(c, "")) for c in self.read),
            "flags": sorted(self.flags),
            "redact": sorted(self.redact.items()),
        }
        if self.fingerprints:  # a new key makes every fingerprint new: read the table again
            shape["fingerprints"] = [sorted(self.fingerprints), self.fingerprint_key_id]
        return hashlib.md5(json.dumps(shape).encode()).hexdigest()[:16]

    def to_config(self) -> dict[str, object]:
        return {
            "read": self.read,
            "flags": self.flags,
            "redact": self.redact,
            "fingerprint": self.fingerprint,
            "natural_key": self.natural_key,
            "fingerprints": self.fingerprints,
        }


def plan_table(
    table: str,
    columns: Mapping[str, str],
    allowed: Iterable[str] = (),
    primary_key: Iterable[str] = (),
) -> ColumnPlan:
    """Decide, column by column, what `table` sends.

    `columns` maps each column to its PostgreSQL type; `allowed` are the "table.column" names the
    user opted in (AIRFLOW_AUDIT_ALLOW_COLUMNS).  Secret columns are never read.  A table whose
    primary key is left out (`revoked_token.jti`) cannot be synced by key: it is refused whole.
    """
    allowed = set(allowed)
    primary_key = tuple(primary_key)
    base = policy_table(table)
    plan = ColumnPlan(table=table, read=[])
    secrets = SECRET_COLUMNS.get(base or "", {})
    opt_in = OPT_IN_COLUMNS.get(base or "", {})
    known = known_columns().get(base or "", frozenset())
    for column, data_type in columns.items():
        opted = f"{table}.{column}" in allowed
        if column in secrets:
            plan.left_out.append((column, f"secret: {secrets[column]}"))
        elif column in opt_in and not opted:
            plan.left_out.append((column, f"left out by default: {opt_in[column]}"))
        elif base is None and not opted and not _NON_TEXT_TYPES.match(data_type):
            plan.left_out.append((column, f"a {data_type} column of a table Airflow does not have"))
        elif base is not None and column not in known and not opted:
            plan.left_out.append((column, "a column no Airflow release airflow-audit knows has"))
        else:
            plan.read.append(column)
            plan.types[column] = data_type
            how = REDACTED_COLUMNS.get(base or "", {}).get(column)
            if how:  # opting in never turns masking off
                plan.redact[column] = how
    for flag, source in SECRET_FLAGS.get(base or "", {}).items():
        if source in columns:
            plan.flags[flag] = source
    for fingerprint, source in SECRET_FINGERPRINTS.get(base or "", {}).items():
        if source in columns:
            plan.fingerprints[fingerprint] = source
    natural = NATURAL_KEYS.get(base or "", ())
    # Only where the key is another one (Airflow 3's); on 2.x the natural key is the key itself.
    if natural and all(c in plan.read for c in natural) and list(natural) != list(primary_key):
        plan.natural_key = list(natural)
    hidden_key = [c for c in primary_key if c not in plan.read]
    if hidden_key:
        plan.refused = f"its primary key ({', '.join(hidden_key)}) does not leave the database"
        plan.read, plan.flags, plan.redact, plan.types = [], {}, {}, {}
        plan.fingerprints = {}
    return plan


def parse_allowed_columns(names: Iterable[str]) -> list[str]:
    """AIRFLOW_AUDIT_ALLOW_COLUMNS entries as table.column, refusing secret columns."""
    from airflow_audit_core.errors import UserError

    out = []
    for name in names:
        table, dot, column = name.partition(".")
        if not dot or not table or not column:
            raise UserError(
                f"AIRFLOW_AUDIT_ALLOW_COLUMNS names {name!r}: write each column as table.column, "
                "such as dag_code.source_code."
            )
        if column in secret_columns(table):
            raise UserError(
                f"AIRFLOW_AUDIT_ALLOW_COLUMNS names {name}, a secret column "
                f"({SECRET_COLUMNS[policy_table(table) or table][column]}), which never leaves the "
                "Airflow database: remove it from the setting."
            )
        out.append(name)
    return out
