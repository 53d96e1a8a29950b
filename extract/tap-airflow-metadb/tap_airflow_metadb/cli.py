"""tap-airflow-metadb: the command Meltano runs.

It looks at the Airflow database first (reachable? which Airflow? which tables?), decides the
tables to copy, removes the secret columns from the catalog, and only then hands over to
tap-postgres, in this process.  Every problem a user can fix ends in one sentence on stderr
and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tap_airflow_metadb.catalog import apply_policy, secret_stream_maps
from tap_airflow_metadb.errors import UserError
from tap_airflow_metadb.scoping import Scope, parse_table_list, resolve_scope
from tap_airflow_metadb.source import SourceInfo, describe, inspect_source, resolve_source_url

PROG = "tap-airflow-metadb"
# Settings of this wrapper; everything else is passed to tap-postgres as it is.
OWN_SETTINGS = (
    "source_url",
    "source_schema",
    "tables",
    "additional_tables",
    "full_refresh",
    "env_slug",
    "destination_schema",
)


def notice(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def load_json(paths: list[str]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in paths:
        merged.update(json.loads(Path(path).read_text()))
    return merged


def plan(config: dict[str, Any]) -> tuple[dict[str, Any], str, SourceInfo, Scope]:
    """Resolve the source and the scope; return tap-postgres' config and what was found."""
    schema = (config.get("source_schema") or "").strip() or "public"
    tables = parse_table_list(config.get("tables"), "AIRFLOW_AUDIT_TABLES")
    additional = parse_table_list(
        config.get("additional_tables"), "AIRFLOW_AUDIT_ADDITIONAL_TABLES"
    )
    full_refresh = parse_full_refresh(config.get("full_refresh"))
    url = resolve_source_url(config.get("source_url") or config.get("sqlalchemy_url"))
    info = inspect_source(url, schema)
    scope = resolve_scope(tables, additional, info.tables, info.airflow_version)
    for table, why in scope.skipped:
        notice(f"skipping default table {table}: not in this database ({why}).")
    notice(
        f"{describe(url)} holds the Airflow {info.airflow_version}: copying {len(scope.tables)} "
        f"tables ({', '.join(scope.tables)})."
    )
    tap_config = {k: v for k, v in config.items() if k not in OWN_SETTINGS}
    for key in ("host", "port", "user", "password", "database"):
        tap_config.pop(key, None)
    tap_config["sqlalchemy_url"] = url.render_as_string(hide_password=False)
    tap_config["filter_schemas"] = [schema]
    tap_config["emit_activate_version_messages"] = True
    tap_config["airflow_audit_full_refresh"] = full_refresh
    tap_config["airflow_audit_destination"] = destination_of(config)
    user_maps = dict(tap_config.get("stream_maps") or {})
    user_maps.update(secret_stream_maps(schema, scope.tables))
    tap_config["stream_maps"] = user_maps
    return tap_config, schema, info, scope


def destination_of(config: dict[str, Any]) -> str:
    """The destination a sync's bookmarks are for: AIRFLOW_AUDIT_DESTINATION_SCHEMA, else
    airflow-<AIRFLOW_AUDIT_ENV_SLUG or local> (the loaders' rule, before any warehouse's spelling).

    Bookmarks carry it, so a state that reaches the wrong sync (two slugs run at once from one
    project share Meltano's run folder) makes that sync read in full instead of skipping rows.
    """
    schema = str(config.get("destination_schema") or "").strip()
    return schema or f"airflow-{str(config.get('env_slug') or '').strip() or 'local'}"


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
    args = parser.parse_args(argv)
    if args.about:
        from tap_airflow_metadb.tap import AirflowMetadbTap

        AirflowMetadbTap.print_about(output_format=args.format)
        return
    try:
        run(args)
    except UserError as exc:
        notice(str(exc))
        sys.exit(2)


def run(args: argparse.Namespace) -> None:
    from tap_airflow_metadb.tap import AirflowMetadbTap

    config = load_json(args.config)
    tap_config, schema, _info, scope = plan(config)
    discovery_config = {k: v for k, v in tap_config.items() if k != "stream_maps"}
    discovered = AirflowMetadbTap(config=discovery_config, validate_config=True).catalog_dict
    catalog = apply_policy(discovered, schema, scope.tables)
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
    state = json.loads(Path(args.state).read_text()) if args.state else None
    tap = AirflowMetadbTap(config=tap_config, catalog=catalog, state=state)
    tap.sync_all()


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
