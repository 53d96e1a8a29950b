"""tap-airflow-metadb: the command Meltano runs.

It looks at the Airflow database first (reachable? which Airflow? which tables?), decides the
tables to copy, removes the secret columns from the catalog, and only then hands over to
tap-postgres, in this process.  Every problem a user can fix ends in one sentence on stderr
and exit status 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_audit_core.errors import UserError, exit_on_user_error
from airflow_audit_core.naming import destination_schema
from airflow_audit_core.settings import read_config
from tap_airflow_metadb.catalog import apply_policy
from tap_airflow_metadb.grants import missing_grant_sentence
from tap_airflow_metadb.policy import (
    ColumnPlan,
    parse_allowed_columns,
    plan_table,
    primary_key_of,
)
from tap_airflow_metadb.scoping import Scope, parse_table_list, resolve_scope
from tap_airflow_metadb.snapshot import (
    LOCK_TIMEOUT_DEFAULT,
    parse_timeout,
    timeouts_in_one_sentence,
    with_timeouts,
)
from tap_airflow_metadb.source import SourceInfo, describe, inspect_source, source_url_of_sync

PROG = "tap-airflow-metadb"
# Settings of this wrapper; everything else is passed to tap-postgres as it is.
OWN_SETTINGS = (
    "source_url",
    "source_dump",
    "source_schema",
    "tables",
    "additional_tables",
    "full_refresh",
    "allow_columns",
    "fingerprint_key",
    "env_slug",
    "destination_schema",
    "handoff",
    "batch_dir",
    "lock_timeout",
    "statement_timeout",
)
HANDOFFS = ("files", "records")
STOPPED = (
    "before it finished reading; the files it wrote are removed, and the next run reads again "
    "from the last state the loader passed on."
)


def notice(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


@dataclass
class Plan:
    """What a run reads: tap-postgres' config, the source, the tables and each one's columns."""

    tap_config: dict[str, Any]
    schema: str
    info: SourceInfo
    scope: Scope
    columns: dict[str, ColumnPlan]


def plan(config: dict[str, Any], *, check_grants: bool = True) -> Plan:
    """Resolve the source, the scope and the column plans; return tap-postgres' config too."""
    schema = (config.get("source_schema") or "").strip() or "public"
    tables = parse_table_list(config.get("tables"), "AIRFLOW_AUDIT_TABLES")
    additional = parse_table_list(
        config.get("additional_tables"), "AIRFLOW_AUDIT_ADDITIONAL_TABLES"
    )
    full_refresh = parse_full_refresh(config.get("full_refresh"))
    allowed = parse_allowed_columns(
        parse_table_list(config.get("allow_columns"), "AIRFLOW_AUDIT_ALLOW_COLUMNS", columns=True)
        or []
    )
    lock_timeout = parse_timeout(
        config.get("lock_timeout"), "AIRFLOW_AUDIT_LOCK_TIMEOUT", LOCK_TIMEOUT_DEFAULT
    )
    statement_timeout = parse_timeout(
        config.get("statement_timeout"), "AIRFLOW_AUDIT_STATEMENT_TIMEOUT", "0"
    )
    url = with_timeouts(
        source_url_of_sync(
            config.get("source_url") or config.get("sqlalchemy_url"),
            config.get("source_dump"),
            notice=notice,
        ),
        lock_timeout,
        statement_timeout,
    )
    info = inspect_source(url, schema)
    scope = resolve_scope(
        tables, additional, info.tables, info.airflow_version, info.other_relations
    )
    for table, why in scope.skipped:
        notice(f"skipping default table {table}: not in this database ({why}).")
    if scope.not_airflow:
        notice(
            f"not copying {', '.join(scope.not_airflow)}: not tables of Airflow's own schema "
            "(db clean archives, other applications' tables, views); name one in "
            "AIRFLOW_AUDIT_ADDITIONAL_TABLES to copy it under the secrets policy."
        )
    columns = {
        t: plan_table(t, info.columns[t], allowed, primary_key_of(t, info.primary_keys))
        for t in scope.tables
    }
    keyless = [t for t in scope.tables if not primary_key_of(t, info.primary_keys)]
    if keyless:
        raise UserError(
            f"{', '.join(keyless)}: no primary key (a view, or a table made with CREATE TABLE AS "
            "of a table airflow-audit does not know), and the loaders upsert by key: leave "
            f"{'them' if len(keyless) > 1 else 'it'} out of AIRFLOW_AUDIT_TABLES and "
            "AIRFLOW_AUDIT_ADDITIONAL_TABLES; nothing was read."
        )
    for table, column_plan in list(columns.items()):
        if column_plan.refused:
            notice(f"not copying {table}: {column_plan.refused}.")
            del columns[table]
            scope.tables.remove(table)
    for column_plan in columns.values():
        for column, why in column_plan.left_out:
            if not why.startswith("secret"):
                notice(
                    f"leaving out {column_plan.table}.{column} ({why}); to copy it, add "
                    f"{column_plan.table}.{column} to AIRFLOW_AUDIT_ALLOW_COLUMNS."
                )
    unknown = [t for t in full_refresh if t != "*" and t not in scope.tables]
    if unknown:
        raise UserError(
            f"AIRFLOW_AUDIT_FULL_REFRESH names {', '.join(unknown)}, which this sync does not "
            f"copy: name tables it copies ({', '.join(scope.tables)}) or '*'; nothing was read."
        )
    fingerprint_key = parse_fingerprint_key(config.get("fingerprint_key"))
    fingerprinted = [f"{t}.{c}" for t, p in columns.items() for c in p.fingerprints]
    for column_plan in columns.values():
        column_plan.fingerprint_key_id = key_id(fingerprint_key) if fingerprint_key else None
    if fingerprinted and not fingerprint_key:
        notice(
            f"{', '.join(fingerprinted)} will be empty: set AIRFLOW_AUDIT_FINGERPRINT_KEY (a random "
            "secret of 32 characters or more, kept like a password) to record when a connection's "
            "password or extras or a variable's value changes, never the value."
        )
    if check_grants:
        check_privileges(url.username, schema, info, columns)
    notice(
        f"{describe(url)} holds the Airflow {info.airflow_version}: copying {len(scope.tables)} "
        f"tables ({', '.join(scope.tables)})."
    )
    tap_config = {k: v for k, v in config.items() if k not in OWN_SETTINGS}
    for name in ("host", "port", "user", "password", "database"):
        tap_config.pop(name, None)
    tap_config["sqlalchemy_url"] = url.render_as_string(hide_password=False)
    tap_config["filter_schemas"] = [schema]
    tap_config["emit_activate_version_messages"] = True
    tap_config["airflow_audit_handoff"] = parse_handoff(config.get("handoff"))
    tap_config["airflow_audit_batch_dir"] = (config.get("batch_dir") or "").strip() or None
    tap_config["airflow_audit_lock_timeout"] = lock_timeout
    tap_config["airflow_audit_statement_timeout"] = statement_timeout
    tap_config["airflow_audit_full_refresh"] = full_refresh
    tap_config["airflow_audit_destination"] = destination_of(config)
    tap_config["airflow_audit_airflow_version"] = info.airflow_version
    tap_config["airflow_audit_columns"] = {t: p.to_config() for t, p in columns.items()}
    tap_config["airflow_audit_fingerprint_key"] = fingerprint_key
    return Plan(tap_config, schema, info, scope, columns)


def check_privileges(
    user: str | None, schema: str, info: SourceInfo, columns: dict[str, ColumnPlan]
) -> None:
    """Stop, in one sentence, where the source user may not read a column the run needs.

    A flag whose secret column the user may not read (a least-privilege role) arrives as NULL.
    """
    for table, column_plan in columns.items():
        readable = info.readable.get(table, frozenset())
        needed = [*column_plan.read, "xmin"] if table in info.tables else column_plan.read
        missing = [c for c in needed if c not in readable]
        if missing:
            raise UserError(missing_grant_sentence(user, schema, table, missing))
        for derived in (column_plan.flags, column_plan.fingerprints):
            for flag, source in list(derived.items()):
                if source is not None and source not in readable:
                    derived[flag] = None
                    notice(
                        f"{table}.{flag} will be empty: user {user!r} may not read "
                        f"{table}.{source} (least privilege), and PostgreSQL computes it from it."
                    )


FINGERPRINT_KEY_MIN = 16


def parse_fingerprint_key(raw: object) -> str | None:
    """AIRFLOW_AUDIT_FINGERPRINT_KEY, or None.  A short key would let someone holding the warehouse
    try every short value against a fingerprint: refused."""
    key = str(raw or "").strip()
    if not key:
        return None
    if len(key) < FINGERPRINT_KEY_MIN:
        raise UserError(
            f"AIRFLOW_AUDIT_FINGERPRINT_KEY has {len(key)} characters, too few to keep a short "
            "secret from being guessed from its fingerprint: set a random value of 32 characters "
            "or more (for example the output of `openssl rand -hex 32`); nothing was read."
        )
    return key


def key_id(key: str) -> str:
    """Which key fingerprints were made with, saying nothing about it (a bookmark holds it)."""
    return hashlib.sha256(b"airflow-audit fingerprint key id:" + key.encode()).hexdigest()[:12]


def destination_of(config: dict[str, Any]) -> str:
    """The destination a sync's bookmarks are for: AIRFLOW_AUDIT_DESTINATION_SCHEMA, else
    airflow-<AIRFLOW_AUDIT_ENV_SLUG or local> (the loaders' rule, before any warehouse's spelling).

    Bookmarks carry it, so a state that reaches the wrong sync (two slugs run at once from one
    project share Meltano's run folder) makes that sync read in full instead of skipping rows.
    """
    return destination_schema(config.get("env_slug"), config.get("destination_schema"))


def parse_handoff(raw: object) -> str:
    """AIRFLOW_AUDIT_HANDOFF: `files` (the default: COPY into files, BATCH messages) or `records`
    (a RECORD message per row, for a Singer target outside this project)."""
    value = str(raw or "").strip().lower() or "files"
    if value not in HANDOFFS:
        raise UserError(
            f"AIRFLOW_AUDIT_HANDOFF is {raw!r}: use 'files' (the default, for the project's "
            "loaders) or 'records' (for any other Singer target); nothing was read."
        )
    return value


def parse_full_refresh(raw: object) -> list[str]:
    """AIRFLOW_AUDIT_FULL_REFRESH: tables to read in full this time (`*` or `all`: every one)."""
    if isinstance(raw, bool):
        return ["*"] if raw else []
    if isinstance(raw, str) and raw.strip().lower() in {"*", "all", "true", "1", "yes"}:
        return ["*"]
    if isinstance(raw, str) and raw.strip().lower() in {"false", "0", "no"}:
        return []
    return parse_table_list(raw, "AIRFLOW_AUDIT_FULL_REFRESH") or []


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", default=[])
    parser.add_argument("--catalog")
    parser.add_argument("--properties")
    parser.add_argument("--state")
    parser.add_argument("--discover", action="store_true")
    parser.add_argument("--about", action="store_true")
    parser.add_argument("--format")
    parser.add_argument(
        "--grants",
        metavar="ROLE",
        help="print the SQL that lets ROLE read exactly what this configuration copies",
    )
    parser.add_argument(
        "--apply", action="store_true", help="with --grants: run that SQL as the source user"
    )
    args = parser.parse_args(argv)
    if args.about:
        from tap_airflow_metadb.tap import AirflowMetadbTap

        AirflowMetadbTap.print_about(output_format=args.format)
        return
    with exit_on_user_error(PROG, stopped=STOPPED):
        run(args)


def run(args: argparse.Namespace) -> None:
    from tap_airflow_metadb.tap import AirflowMetadbTap

    config = read_config(args.config)
    if args.grants:
        from tap_airflow_metadb.grants import grants_command

        grants_command(plan(config, check_grants=False), args.grants, apply=args.apply)
        return
    if args.apply:
        raise UserError("--apply goes with --grants ROLE: nothing was changed.")
    run_plan = plan(config)
    tap_config, schema = run_plan.tap_config, run_plan.schema
    discovery_config = {k: v for k, v in tap_config.items() if k != "stream_maps"}
    with timeouts_in_one_sentence("discovering the Airflow database's tables"):
        discovered = AirflowMetadbTap(config=discovery_config, validate_config=True).catalog_dict
    keys = {t: primary_key_of(t, run_plan.info.primary_keys) for t in run_plan.columns}
    catalog = apply_policy(discovered, schema, run_plan.columns, keys)
    if catalog.pop("missing"):
        raise UserError("Discovery did not return every scoped table; run again.")
    if args.discover:
        json.dump(catalog, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    given = args.catalog or args.properties
    if given:
        # Honour column deselection made in Meltano's `select`, never stream or secret choices.
        catalog = honour_column_selection(catalog, json.loads(Path(given).read_text()))
    state = read_state(args.state) if args.state else None
    tap = AirflowMetadbTap(config=tap_config, catalog=catalog, state=state)
    tap.sync_all()


def read_state(path: str) -> dict[str, Any]:
    """The bookmarks Meltano hands over; one sentence if its file is gone or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UserError(
            f"Cannot read the state Meltano passed ({path}: {exc.__class__.__name__}): another "
            "run of this Meltano project may have replaced its run folder at the same time; "
            "run one sync per project at a time and rerun (nothing was read)."
        ) from None


def honour_column_selection(ours: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Carry over `selected: false` on columns from the catalog Meltano passed."""
    deselected: dict[str, set[str]] = {}
    for stream in given.get("streams", []):
        for entry in stream.get("metadata", []):
            crumb = entry.get("breadcrumb", [])
            if len(crumb) == 2 and entry.get("metadata", {}).get("selected") is False:
                deselected.setdefault(stream["tap_stream_id"], set()).add(crumb[1])
    for stream in ours["streams"]:
        for entry in stream["metadata"]:
            crumb = entry.get("breadcrumb", [])
            meta = entry["metadata"]
            if (
                len(crumb) == 2
                and crumb[1] in deselected.get(stream["tap_stream_id"], set())
                and meta.get("inclusion") != "automatic"
            ):
                meta["selected"] = False
    return ours
