"""The Airflow metadata database: where it is, which Airflow wrote it, which tables it has."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError

from airflow_audit_core.errors import UserError
from tap_airflow_metadb import airflow_versions, backup
from tap_airflow_metadb.snapshot import timeout_sentence

URL_SETTINGS = ("AIRFLOW_AUDIT_SOURCE_URL", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
AIRFLOW_CONN = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
PASSWORD_CMD = "AIRFLOW_AUDIT_SOURCE_PASSWORD_CMD"
COMMAND_TIMEOUT_S = 60


def run_command(command: str, what: str, setting: str) -> str:
    """A configured command's output (Airflow's own `_cmd` convention: run by the shell, stdout
    stripped), or one sentence."""
    import subprocess

    try:
        done = subprocess.run(
            command,
            shell=True,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise UserError(
            f"{setting} did not finish within {COMMAND_TIMEOUT_S} s: fix the command that prints "
            f"{what}; nothing was read."
        ) from None
    output = done.stdout.strip()
    if done.returncode != 0 or not output:
        why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise UserError(
            f"{setting} did not print {what} ({why if done.returncode else 'it printed nothing'}): "
            "fix the command; nothing was read."
        )
    return output


def resolve_source_url(configured: str | None, environ: Mapping[str, str] = os.environ) -> URL:
    """The source URL: AIRFLOW_AUDIT_SOURCE_URL, else Airflow's own database setting, however
    Airflow reads it (SQL_ALCHEMY_CONN, or its _CMD form).  No password is needed in the URL:
    like any libpq client, the connection may use ~/.pgpass or PGPASSFILE, a client
    certificate (sslcert/sslkey in the URL's query), peer or trust authentication over a Unix
    socket (`?host=/var/run/postgresql`), or a password AIRFLOW_AUDIT_SOURCE_PASSWORD_CMD prints
    (an RDS or Cloud SQL IAM token, a vault read)."""
    raw = (configured or "").strip()
    origin = "AIRFLOW_AUDIT_SOURCE_URL"
    if not raw:
        for name in URL_SETTINGS:
            if environ.get(name, "").strip():
                raw, origin = environ[name].strip(), name
                break
    if not raw and environ.get(f"{AIRFLOW_CONN}_CMD", "").strip():
        origin = f"{AIRFLOW_CONN}_CMD"
        raw = run_command(environ[origin], "Airflow's database URL", origin)
    if not raw and environ.get(f"{AIRFLOW_CONN}_SECRET", "").strip():
        raise UserError(
            f"Airflow reads its database URL from a secrets backend ({AIRFLOW_CONN}_SECRET), "
            "which only Airflow itself can query: run the sync through the project's Airflow "
            "operator or DAGs (they ask Airflow), or set AIRFLOW_AUDIT_SOURCE_URL."
        )
    if not raw:
        raise UserError(
            "No Airflow database to read: set AIRFLOW_AUDIT_SOURCE_URL to its URL "
            "(postgresql://user:password@host:5432/airflow), or run where Airflow's "
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN (or its _CMD form) is set."
        )
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://") :]
    try:
        url = make_url(raw)
    except ArgumentError:
        raise UserError(
            f"{origin} is not a database URL: write it as "
            "postgresql://user:password@host:5432/airflow."
        ) from None
    if url.get_backend_name() != "postgresql":
        raise UserError(
            f"{origin} points at a {url.get_backend_name()} database: airflow-audit reads "
            "Airflow metadata databases on PostgreSQL only."
        )
    command = environ.get(PASSWORD_CMD, "").strip()
    if command:
        url = url.set(password=run_command(command, "a password", PASSWORD_CMD))
    return url.set(drivername="postgresql+psycopg2")


def source_url_of_sync(
    configured_url: str | None,
    configured_dump: str | None,
    environ: Mapping[str, str] = os.environ,
    notice=None,
) -> URL:
    """What a sync reads: a restore of the backup AIRFLOW_AUDIT_SOURCE_DUMP names (backup.py),
    else the live database resolve_source_url finds."""
    dump = (configured_dump or environ.get(backup.DUMP_SETTING) or "").strip()
    if dump:
        return backup.source_url_of_run(dump, environ, notice)
    return resolve_source_url(configured_url, environ)


def describe(url: URL) -> str:
    """host:port/database (a Unix socket's directory as the host), never the password."""
    host = url.host or url.query.get("host") or "localhost"
    host = host if isinstance(host, str) else host[0]
    return f"{host}:{url.port or 5432}/{url.database or ''}"


@dataclass(frozen=True)
class SourceInfo:
    """What a look at the database found."""

    airflow_version: str
    revision: str
    tables: frozenset[str]  # ordinary and partitioned tables
    columns: Mapping[str, Mapping[str, str]]  # table -> column -> PostgreSQL type, in order
    readable: Mapping[str, frozenset[str]] = field(default_factory=dict)  # what the user may select
    other_relations: frozenset[str] = frozenset()  # views, foreign tables, materialized views
    primary_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


# pg_catalog, not information_schema: information_schema hides the columns the user may not read,
# and the tap must tell "not granted" (one sentence with the GRANT) from "not there".
CATALOG_QUERY = """
select c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod),
       has_column_privilege(c.oid, a.attnum, 'SELECT')
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and (a.attnum > 0 or a.attname = 'xmin') and not a.attisdropped
where n.nspname = :schema and c.relkind in ('r', 'p', 'v', 'm', 'f')
order by c.relname, a.attnum
"""
PRIMARY_KEYS_QUERY = """
select c.relname, a.attname
from pg_index i
join pg_class c on c.oid = i.indrelid
join pg_namespace n on n.oid = c.relnamespace
join lateral unnest(i.indkey) with ordinality as k(attnum, position) on true
join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
where n.nspname = :schema and i.indisprimary
order by c.relname, k.position
"""


def inspect_source(url: URL, schema: str) -> SourceInfo:
    """Connect, identify the Airflow version from Alembic, and list the tables and columns."""
    engine = sa.create_engine(url, connect_args={"connect_timeout": 15})
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(CATALOG_QUERY), {"schema": schema}).all()
            columns: dict[str, dict[str, str]] = {}
            readable: dict[str, set[str]] = {}
            kinds: dict[str, str] = {}
            for table, kind, column, data_type, may_read in rows:
                kinds[table] = kind
                if may_read:
                    readable.setdefault(table, set()).add(column)
                if column != "xmin":  # the row version: read by the tap, never sent
                    columns.setdefault(table, {})[column] = data_type
            if "alembic_version" not in columns:
                raise UserError(
                    f"The database {describe(url)} has no Airflow metadata in schema {schema!r} "
                    "(no alembic_version table): point AIRFLOW_AUDIT_SOURCE_URL at Airflow's "
                    "own database, and set AIRFLOW_AUDIT_SOURCE_SCHEMA if Airflow uses another "
                    "schema."
                )
            primary_keys: dict[str, list[str]] = {}
            for table, column in conn.execute(sa.text(PRIMARY_KEYS_QUERY), {"schema": schema}):
                primary_keys.setdefault(table, []).append(column)
            revision = conn.execute(
                sa.text(f'select version_num from "{schema}".alembic_version')
            ).scalar()
    except OperationalError as exc:
        locked = timeout_sentence(f"the Airflow database {describe(url)}", exc)
        raise UserError(locked or connection_problem(url, exc)) from None
    except ProgrammingError as exc:
        raise UserError(
            f"Cannot read the Airflow database {describe(url)} as user {url.username!r}: "
            f"{first_line(exc)}; grant it SELECT on Airflow's tables "
            "(meltano invoke tap-airflow-metadb --grants ROLE prints the statements)."
        ) from None
    finally:
        engine.dispose()

    revision = revision or ""
    version = airflow_versions.airflow_version_for(revision)
    if version is not None and not airflow_versions.is_supported(version):
        raise UserError(
            f"The database {describe(url)} was written by Airflow {version} (alembic revision "
            f"{revision}), which airflow-audit does not support: it reads Airflow "
            f"{airflow_versions.MIN_SUPPORTED} and later; upgrade Airflow first."
        )
    # A release without migrations keeps its predecessor's head: say "schema", not "release".
    label = f"{version} schema" if version else f"schema of unknown alembic revision {revision!r}"
    return SourceInfo(
        airflow_version=label,
        revision=revision,
        tables=frozenset(t for t, k in kinds.items() if k in ("r", "p")),
        columns=columns,
        readable={t: frozenset(c) for t, c in readable.items()},
        other_relations=frozenset(t for t, k in kinds.items() if k not in ("r", "p")),
        primary_keys={t: tuple(c) for t, c in primary_keys.items()},
    )


def connection_problem(url: URL, exc: OperationalError) -> str:
    """One sentence for a failed connection."""
    message = str(exc.orig if exc.orig is not None else exc).lower()
    where = describe(url)
    if "no password supplied" in message or "fe_sendauth" in message:
        return (
            f"The Airflow database {where} asks user {url.username!r} for a password and none "
            "was given: put it in AIRFLOW_AUDIT_SOURCE_URL, in ~/.pgpass or the file PGPASSFILE "
            "names, or have AIRFLOW_AUDIT_SOURCE_PASSWORD_CMD print it (an IAM token, a vault "
            "read); or connect with a client certificate (?sslcert=...&sslkey=...)."
        )
    if "password authentication failed" in message:
        return (
            f"The Airflow database {where} refused the password of user {url.username!r}: "
            "check the user and password in AIRFLOW_AUDIT_SOURCE_URL (or .pgpass, or what "
            "AIRFLOW_AUDIT_SOURCE_PASSWORD_CMD prints)."
        )
    if "certificate" in message or "ssl" in message:
        return (
            f"The TLS connection to the Airflow database {where} failed "
            f"({first_line(exc.orig or exc)}): check sslmode, sslrootcert (the CA that signed "
            "the server's certificate), and sslcert/sslkey in AIRFLOW_AUDIT_SOURCE_URL's query."
        )
    if "does not exist" in message and "database" in message:
        return (
            f"The server at {url.host}:{url.port or 5432} has no database {url.database!r}: "
            "check the database name in AIRFLOW_AUDIT_SOURCE_URL."
        )
    return (
        f"Cannot reach the Airflow database {where} ({first_line(exc.orig or exc)}): check that "
        "it is running and that the host and port in AIRFLOW_AUDIT_SOURCE_URL are right."
    )


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0].strip().rstrip(".") if text else type(exc).__name__
