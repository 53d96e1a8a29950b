"""Least privilege, enforced by PostgreSQL: a read-only role that can select only what leaves.

`meltano invoke tap-airflow-metadb --grants ROLE` prints the SQL for the tables the configuration
copies (AIRFLOW_AUDIT_TABLES, ..., AIRFLOW_AUDIT_ALLOW_COLUMNS); `--apply` runs it, as the user of
AIRFLOW_AUDIT_SOURCE_URL (who must own the tables or hold them WITH GRANT OPTION).  The role gets:

* USAGE on Airflow's schema;
* nothing on any table of the schema but the ones the run copies (every earlier table grant of
  the role in that schema is revoked first: give the tap a role of its own);
* on each of those, SELECT on the columns the policy lets leave, plus `xmin` (the row version the
  incremental reads and the reconciliation compare), and never on a secret column: the secrets
  policy is then enforced twice, by the tap and by PostgreSQL.

The flags `has_password` / `has_extra` need the secret column they describe; under this role they
arrive empty (NULL), which the tap says in a notice.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import sqlalchemy as sa

from airflow_audit_core.errors import UserError
from airflow_audit_core.quoting import quote

if TYPE_CHECKING:
    from tap_airflow_metadb.cli import Plan


def column_grant(schema: str, table: str, columns: list[str], role: str) -> str:
    cols = ", ".join(quote(c) for c in columns)
    return f"grant select ({cols}) on table {quote(schema)}.{quote(table)} to {quote(role)};"


def missing_grant_sentence(user: str | None, schema: str, table: str, missing: list[str]) -> str:
    """One sentence: which columns the source user may not read, and the GRANT that fixes it."""
    role = user or "the source user"
    names = ", ".join(f"{table}.{c}" for c in missing)
    plural = "s" if len(missing) > 1 else ""
    return (
        f"User {role!r} may not read column{plural} {names} of the Airflow database, which this "
        f"run copies: run `{column_grant(schema, table, missing, role)}` as the tables' owner "
        f"(or `meltano invoke tap-airflow-metadb --grants {role}` for every statement), or leave "
        "the table out of AIRFLOW_AUDIT_TABLES."
    )


def grant_statements(plan: Plan, role: str) -> list[str]:
    schema = plan.schema
    statements = [
        f"-- airflow-audit: read-only access for {role} to the {len(plan.columns)} tables this "
        f"configuration copies from Airflow {plan.info.airflow_version}.",
        f"grant usage on schema {quote(schema)} to {quote(role)};",
        f"revoke all on all tables in schema {quote(schema)} from {quote(role)};",
        column_grant(schema, "alembic_version", ["version_num"], role),
    ]
    for table, column_plan in plan.columns.items():
        columns = list(column_plan.read)
        if table in plan.info.tables:
            columns.append("xmin")
        statements.append(column_grant(schema, table, columns, role))
    return statements


def grants_command(plan: Plan, role: str, *, apply: bool) -> None:
    statements = grant_statements(plan, role)
    print("\n".join(statements))
    if not apply:
        return
    engine = sa.create_engine(plan.tap_config["sqlalchemy_url"])
    try:
        with engine.begin() as conn:
            exists = conn.execute(
                sa.text("select 1 from pg_roles where rolname = :role"), {"role": role}
            ).scalar()
            if not exists:
                raise UserError(
                    f"Role {role!r} does not exist: create it first (create role {quote(role)} "
                    "login password '...'), then run --grants again; nothing was changed."
                )
            for statement in statements:
                if not statement.startswith("--"):
                    conn.execute(sa.text(statement))
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise UserError(
            f"Could not grant to {role!r} ({reason}): run --grants --apply as the owner of "
            "Airflow's tables; nothing was changed."
        ) from None
    finally:
        engine.dispose()
    print(
        f"-- applied: {role} may now read what airflow-audit copies, and nothing else.",
        file=sys.stderr,
    )
