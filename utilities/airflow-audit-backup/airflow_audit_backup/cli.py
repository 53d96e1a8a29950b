"""`airflow-audit-backup take|verify`: the pg_dump practice as two commands.

    meltano invoke airflow-audit-backup take FILE       # pg_dump -Fc of the source, then verify
    meltano invoke airflow-audit-backup verify FILE [--expect-version 2.10.5] [--json]

Exit status: 0 the backup is usable (warnings may list what to fix after restoring it), 1 it
restored but is not usable as it is (the problems say why), 2 it could not be verified at all
(not a backup, truncated, not Airflow's, older than 2.4: one sentence).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from airflow_audit_backup import take as taking
from airflow_audit_backup.verify import Report, verify_restored
from airflow_audit_core.errors import UserError
from tap_airflow_metadb import backup

PROG = "airflow-audit-backup"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (
        ("verify", "restore FILE into a new scratch database and report on it"),
        ("take", "pg_dump -Fc the Airflow database into FILE, then verify it"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("file", type=Path, help="the backup (custom, directory, tar or plain)")
        p.add_argument(
            "--expect-version",
            help="the Airflow version the backup should come from (e.g. 2.10.5)",
        )
        p.add_argument(
            "--retention-days",
            type=int,
            default=90,
            help="what `airflow db clean` would remove at this retention (default 90)",
        )
        p.add_argument("--json", action="store_true", help="print one JSON object")
        if name == "take":
            p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    args = parser.parse_args(argv)
    # A SIGTERM (a scheduler stopping the task) ends the run as Ctrl-C does: through `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if args.command == "take":
            taking.take(
                args.file, force=args.force, notice=lambda m: print(f"{PROG}: {m}", file=sys.stderr)
            )
        report = verify(args.file, args.expect_version, args.retention_days)
    except UserError as exc:
        if args.json:
            print(json.dumps({"airflow_version": None, "usable": False, "problems": [str(exc)]}))
        print(f"{PROG}: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    if args.json:
        print(json.dumps(report.to_json(), indent=2, default=str))
    else:
        print(render(args.file, report))
    sys.exit(0 if report.usable else 1)


def verify(dump: Path, expect_version: str | None, retention_days: int) -> Report:
    dump = dump.expanduser().absolute()
    url, session = backup.restore_for(dump, os.getpid())
    try:
        schema = (os.environ.get("AIRFLOW_AUDIT_SOURCE_SCHEMA") or "").strip() or "public"
        return verify_restored(
            url, expect_version=expect_version, retention_days=retention_days, schema=schema
        )
    finally:
        backup.end_restore(session)


def render(dump: Path, r: Report) -> str:
    out = [
        f"Backup {dump}",
        f"  Airflow {r.airflow_version} (schema of Airflow {r.same_schema_as}; alembic revision "
        f"{r.revision})",
        f"  {'USABLE' if r.usable else 'NOT USABLE as it is'}",
    ]
    if r.problems:
        out += ["", "Problems:"] + [f"  - {p}" for p in r.problems]
    if r.warnings:
        out += ["", "Warnings:"] + [f"  - {w}" for w in r.warnings]
    out += ["", f"Connections to set up in the new environment ({len(r.connections)}):"]
    out += [
        f"  {c['conn_id']}  {c['conn_type']}  {c['host'] or ''}".rstrip() for c in r.connections
    ]
    out += ["", f"Variables to set ({len(r.variables)}): {', '.join(r.variables)}"]
    out += [
        "",
        f"Pools ({len(r.pools)}): " + ", ".join(f"{p['pool']} ({p['slots']})" for p in r.pools),
    ]
    if r.users:
        out += ["", f"Users ({len(r.users)}):"]
        out += [
            f"  {u['username']}{'' if u['active'] else ' (inactive)'}: {', '.join(u['roles']) or 'no role'}"
            for u in r.users
        ]
    if r.roles:
        out += [
            "",
            "Roles: " + ", ".join(f"{x['role']} ({x['permissions']} permissions)" for x in r.roles),
        ]
    out += ["", "Size per table:"]
    for t in sorted(r.tables, key=lambda t: -(t["bytes"] or 0)):
        out.append(f"  {t['table']:<34} {t['rows']:>12,} rows {t['bytes'] / 1e6:>10.1f} MB")
    clean = r.db_clean
    if clean.get("as_of"):
        out += [
            "",
            f"`airflow db clean` at {clean['retention_days']} days before the newest activity "
            f"({clean['as_of']}) would remove:",
        ]
        out += [f"  {t:<34} {n:>12,} rows" for t, n in clean["rows"].items() if n]
        if not any(clean["rows"].values()):
            out.append("  nothing")
    return "\n".join(out)


if __name__ == "__main__":
    main()
