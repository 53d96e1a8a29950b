"""target-airflow-audit-redshift: the project's own lossless Singer target for Amazon Redshift.

Why the project's own (docs/warehouses.md): the Hub's Redshift loader, TicketSwap's
target-redshift, is not on PyPI, and its defaults (VARCHAR(10000) and TRUNCATECOLUMNS) cut long
values without a word; pipelinewise-target-redshift does not build on Python 3.11.

How it loads, the way production Redshift loaders do:

* the Singer side is the DuckDB loader's (singer_loader.SingerLoader): spooled batches, STATE
  only after the rows before it are committed, deletes only after a complete full read
  (ACTIVATE_VERSION), `mirror` or `archive`;
* `copy` (the default): each batch is written as a gzip CSV file to S3, COPY'd into a
  temporary staging table, then one transaction deletes the target rows whose key is in the
  stage and inserts the stage.  The S3 file is removed afterwards, whatever happened;
* `insert`: the same, with the stage filled by multi-row INSERTs (psycopg2's execute_values);
  no S3.  For small databases, and what a PostgreSQL stand-in can run.

Nothing is truncated: strings and JSON text are VARCHAR(65535), Redshift's maximum, and COPY
runs without TRUNCATECOLUMNS, BLANKSASNULL, EMPTYASNULL or ACCEPTINVCHARS.  A value longer than
65535 bytes ends the run with one sentence before anything of its batch is written.  NULL is
written as a sentinel that no value of the batch equals, so an empty string stays an empty
string.  Timestamps are TIMESTAMPTZ, written in UTC.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import sys
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from airflow_audit_core.errors import UserError
from airflow_audit_core.quoting import quote, sql_string
from airflow_audit_loader.full_read import full_read_sql
from airflow_audit_loader.own_target import (
    METADATA_COLUMNS,
    SingerLoader,
    StreamTable,
    command_line,
    property_kind,
    stamp_after,
)
from airflow_audit_loader.redshift.settings import target_config as redshift_target_config

PROG = "target-airflow-audit-redshift"
# Redshift's longest VARCHAR, in bytes.
VARCHAR_MAX_BYTES = 65535
VARCHAR = f"VARCHAR({VARCHAR_MAX_BYTES})"
REDSHIFT_TYPES = {
    "integer": "BIGINT",
    "number": "DOUBLE PRECISION",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMPTZ",
    "date": "DATE",
    "time": "TIME",
    "string": VARCHAR,
    "json": VARCHAR,
}
# Type changes that keep every value, as (the catalog's name now, the catalog's name wanted); any
# type also widens to VARCHAR.
WIDENINGS = {("bigint", "double precision"), ("date", "timestamp with time zone")}
# What information_schema.columns calls each type (Redshift and PostgreSQL agree).
CATALOG_NAMES = {
    "BIGINT": "bigint",
    "DOUBLE PRECISION": "double precision",
    "BOOLEAN": "boolean",
    "TIMESTAMPTZ": "timestamp with time zone",
    "DATE": "date",
    "TIME": "time without time zone",
    VARCHAR: "character varying",
}
NULL_SENTINEL = "~AIRFLOW-AUDIT-NULL~"
# execute_values pages: at most this many rows, or about this many bytes, per INSERT statement
# (Redshift takes statements of up to 16 MB).
INSERT_PAGE_ROWS = 1000
INSERT_PAGE_BYTES = 4 * 1024 * 1024


def redshift_type(schema: dict[str, Any]) -> str:
    """A JSON-schema property -> its Redshift column type.

    A number with a `multipleOf` (a NUMERIC source column) keeps its scale as NUMERIC(38, s);
    other numbers are DOUBLE PRECISION, as in the source's float columns.
    """
    kind = property_kind(schema)
    if kind == "number" and schema.get("multipleOf"):
        exponent = Decimal(str(schema["multipleOf"])).normalize().as_tuple().exponent
        scale = max(0, -exponent) if isinstance(exponent, int) else 0
        if scale <= 37:
            return f"NUMERIC(38,{scale})"
    return REDSHIFT_TYPES[kind]


def primary_key_columns(definition: str) -> list[str]:
    """`PRIMARY KEY (dag_id, "run_id")` (pg_get_constraintdef's text) -> its column names."""
    inside = definition[definition.index("(") + 1 : definition.rindex(")")]
    return [name.strip().strip('"').replace('""', '"') for name in inside.split(",")]


def move_column(cur: Any, target: str, column: str, new_type: str, value: str, why: str) -> None:
    """Replace `column` of `target` by a new column of `new_type` holding `value` (an expression
    on the old one), under the old name: Redshift cannot change a column's type (but to a longer
    VARCHAR) or drop its NOT NULL in place.  The column ends up last, which nothing here minds
    (every statement names its columns).  In the caller's transaction."""
    copy = quote(f"{column}__airflow_audit_{why}")
    cur.execute(f"ALTER TABLE {target} ADD COLUMN {copy} {new_type}")
    cur.execute(f"UPDATE {target} SET {copy} = {value}")
    cur.execute(f"ALTER TABLE {target} DROP COLUMN {quote(column)}")
    cur.execute(f"ALTER TABLE {target} RENAME COLUMN {copy} TO {quote(column)}")


def catalog_name(column_type: str) -> str:
    return "numeric" if column_type.startswith("NUMERIC") else CATALOG_NAMES[column_type]


def utc_timestamp(value: Any) -> Any:
    """An ISO 8601 time from the tap -> `YYYY-MM-DD HH:MM:SS.ffffff+00`, UTC (naive means UTC).

    A string Python cannot parse goes through unchanged: the warehouse parses it, or fails.
    """
    if not isinstance(value, str):
        return value
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return value
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.timezone.utc)
    return parsed.strftime("%Y-%m-%d %H:%M:%S.%f") + "+00"


def json_text(value: Any) -> Any:
    """A JSON column's value as JSON text, as the other warehouses' shims write it."""
    return None if value is None else json.dumps(value, ensure_ascii=False)


def as_text(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else str(value)


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "timestamp": utc_timestamp,
    "json": json_text,
    "string": as_text,
}
TEXT_KINDS = ("string", "json")


class Batch:
    """One stream's spooled records as warehouse rows: converted, checked and deduplicated."""

    def __init__(self, loader: RedshiftTarget, table: StreamTable, batched_at: dt.datetime) -> None:
        self.columns = [*table.columns, *METADATA_COLUMNS]
        kinds = [property_kind(table.properties[c]) for c in table.columns]
        converters = [CONVERTERS.get(kind) for kind in kinds]
        text = [i for i, kind in enumerate(kinds) if kind in TEXT_KINDS]
        names = list(table.columns)
        batched = batched_at.strftime("%Y-%m-%d %H:%M:%S.%f") + "+00"
        self.kinds = [*kinds, "timestamp", "timestamp", "timestamp", "integer"]
        rows: dict[tuple, tuple] = {}
        collides = False
        for message in table.messages():
            record = message.get("record") or {}
            values = []
            for name, convert in zip(names, converters, strict=True):
                value = record.get(name)
                values.append(convert(value) if convert is not None else value)
            for i in text:
                value = values[i]
                # A character is at most 4 bytes: only long strings need encoding to measure.
                if value is not None and len(value) * 4 > VARCHAR_MAX_BYTES:
                    size = len(value.encode("utf-8"))
                    if size > VARCHAR_MAX_BYTES:
                        raise UserError(too_long(loader.schema, table, names[i], record, size))
                if value == NULL_SENTINEL:
                    collides = True
            values += [utc_timestamp(message.get("time_extracted")), batched, None]
            values.append(message.get("version"))
            key = tuple(record.get(k) for k in table.key_properties)
            rows.pop(key, None)  # a key sent twice keeps its last version, in arrival order
            rows[key] = tuple(values)
        self.rows = list(rows.values())
        self.null = NULL_SENTINEL + uuid.uuid4().hex if collides else NULL_SENTINEL

    def write_csv(self, path: Path) -> Path:
        """The batch as gzip CSV: strings quoted, NULL as the unquoted sentinel."""
        null = self.null
        quoted = [kind in (*TEXT_KINDS, "timestamp", "date", "time") for kind in self.kinds]
        boolean = [kind == "boolean" for kind in self.kinds]
        with gzip.open(path, "wt", encoding="utf-8", newline="", compresslevel=5) as out:
            for row in self.rows:
                fields = []
                for value, is_quoted, is_boolean in zip(row, quoted, boolean, strict=True):
                    if value is None:
                        fields.append(null)
                    elif is_boolean:
                        fields.append("true" if value else "false")
                    elif is_quoted or isinstance(value, str):
                        fields.append('"' + str(value).replace('"', '""') + '"')
                    else:
                        fields.append(repr(value) if isinstance(value, float) else str(value))
                out.write(",".join(fields) + "\n")
        return path


def too_long(schema: str, table: StreamTable, column: str, record: dict, size: int) -> str:
    key = ", ".join(f"{k}={record.get(k)!r}" for k in table.key_properties)
    return (
        f"{schema}.{table.table}.{column} of the row with {key} holds {size} bytes, more than "
        f"Redshift's longest VARCHAR ({VARCHAR_MAX_BYTES} bytes), so nothing of this batch was "
        "written and no value was cut: leave that table out (AIRFLOW_AUDIT_TABLES) or shorten "
        "the value at the source, then run again."
    )


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class RedshiftLogin:
    """How every Redshift client of the project logs in (this loader, airflow-audit-reconcile).

    The settings are redshift_target_config's: a password, or temporary credentials from IAM
    (a provisioned cluster's `cluster_identifier` or a Serverless `workgroup`); libpq's
    `sslmode`.  Every session runs in UTC, the time zone the loader writes timestamps in.
    """

    def __init__(self, settings: dict[str, Any], application_name: str = PROG) -> None:
        self.settings = settings
        self.application_name = application_name
        self._session = None

    def aws_session(self):
        if self._session is None:
            import boto3

            s = self.settings
            self._session = boto3.session.Session(
                aws_access_key_id=s.get("aws_access_key_id"),
                aws_secret_access_key=s.get("aws_secret_access_key"),
                aws_session_token=s.get("aws_session_token"),
                region_name=s.get("s3_region"),
            )
        return self._session

    def credentials(self) -> tuple[str, str]:
        """(user, password): the configured ones, or temporary ones from IAM."""
        s = self.settings
        if s.get("password"):
            return s["user"], s["password"]
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if s.get("cluster_identifier"):
                answer = (
                    self.aws_session()
                    .client("redshift")
                    .get_cluster_credentials(
                        DbUser=s["user"],
                        DbName=s["database"],
                        ClusterIdentifier=s["cluster_identifier"],
                        DurationSeconds=3600,
                        AutoCreate=False,
                    )
                )
                return answer["DbUser"], answer["DbPassword"]
            answer = (
                self.aws_session()
                .client("redshift-serverless")
                .get_credentials(
                    workgroupName=s["workgroup"], dbName=s["database"], durationSeconds=3600
                )
            )
            return answer["dbUser"], answer["dbPassword"]
        except (BotoCoreError, ClientError) as exc:
            raise UserError(
                f"IAM refused temporary Redshift credentials: {first_line(exc)} (check the AWS "
                "credentials of the environment and their redshift:GetClusterCredentials or "
                "redshift-serverless:GetCredentials permission)."
            ) from exc

    def connect(self):
        """A psycopg2 connection (not in autocommit), its session's time zone UTC."""
        import psycopg2

        s = self.settings
        user, password = self.credentials()
        try:
            conn = psycopg2.connect(
                host=s["host"],
                port=s["port"],
                dbname=s["database"],
                user=user,
                password=password,
                sslmode=s["sslmode"],
                connect_timeout=30,
                application_name=self.application_name,
            )
        except psycopg2.Error as exc:
            raise UserError(
                f"Cannot connect to Redshift at {s['host']}:{s['port']}/{s['database']} as "
                f"{user}: {first_line(exc)}"
            ) from exc
        with conn.cursor() as cur:
            cur.execute("SET timezone TO 'UTC'")
        conn.commit()
        return conn


class RedshiftTarget(SingerLoader):
    """Reads Singer messages and keeps the Redshift tables equal to what the tap read."""

    prog = PROG

    def __init__(
        self, config: dict[str, Any], state_out: IO[bytes], *, connect: bool = True
    ) -> None:
        self.settings = redshift_target_config(config)
        super().__init__(self.settings, state_out, schema=self.settings["schema"])
        self.method = self.settings["load_method"]
        self.conn = None
        self.login = RedshiftLogin(self.settings, PROG)
        self._s3 = None
        self.uploaded: list[str] = []
        self.schema_ready = False
        if connect:
            self.conn = self.connect()

    # -- connections ------------------------------------------------------------------

    def aws_session(self):
        return self.login.aws_session()

    def s3(self):
        if self._s3 is None:
            self._s3 = self.aws_session().client("s3")
        return self._s3

    def credentials(self) -> tuple[str, str]:
        """(user, password): the configured ones, or temporary ones from IAM."""
        return self.login.credentials()

    def connect(self):
        return self.login.connect()

    def query(self, sql: str, params: Any = None) -> list[tuple]:
        assert self.conn is not None
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
        self.conn.commit()
        return rows

    def ddl(self, *statements: str) -> None:
        """DDL outside any transaction (Redshift runs some ALTER TABLEs only so)."""
        import psycopg2

        assert self.conn is not None
        self.conn.commit()
        self.conn.autocommit = True
        try:
            with self.conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
        except psycopg2.Error as exc:
            raise UserError(
                f"Redshift refused `{statement[:120]}`: {first_line(exc)} (the grants the "
                "loading user needs are in docs/warehouses.md)."
            ) from exc
        finally:
            self.conn.autocommit = False

    def schema_exists(self) -> bool:
        return bool(self.query("SELECT 1 FROM pg_namespace WHERE nspname = %s", [self.schema]))

    def ensure_schema(self) -> None:
        # Created only when missing: a user with CREATE on an existing schema but not on the
        # database may not run CREATE SCHEMA at all, even with IF NOT EXISTS.
        if not self.schema_ready and not self.schema_exists():
            self.ddl(f"CREATE SCHEMA IF NOT EXISTS {quote(self.schema)}")
        self.schema_ready = True

    def close_connection(self) -> None:
        if self.conn is not None:
            self.conn.close()

    # -- tables -----------------------------------------------------------------------

    def column_type(self, schema: dict[str, Any]) -> str:
        return redshift_type(schema)

    def target(self, table: StreamTable) -> str:
        return f"{quote(self.schema)}.{quote(table.table)}"

    def ensure_table(self, table: StreamTable) -> None:
        self.ensure_schema()
        existing = dict(
            self.query(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                [self.schema, table.table],
            )
        )
        metadata = {c: REDSHIFT_TYPES[k] for c, k in METADATA_COLUMNS.items()}
        wanted = {**table.columns, **metadata}
        target = self.target(table)
        if not existing:
            columns = [f"{quote(c)} {t}" for c, t in wanted.items()]
            # Informational on Redshift (not enforced), enforced on PostgreSQL; the loader keeps
            # the key unique either way.
            columns.append(f"PRIMARY KEY ({', '.join(quote(k) for k in table.key_properties)})")
            self.ddl(f"CREATE TABLE IF NOT EXISTS {target} ({', '.join(columns)})")
            return
        added = []
        for column, column_type in wanted.items():
            have = existing.get(column)
            if have is None:
                added.append(f"ALTER TABLE {target} ADD COLUMN {quote(column)} {column_type}")
            elif have != catalog_name(column_type):
                self.change_type(table, column, have, column_type)
        if added:
            # Redshift adds one column per ALTER TABLE.
            self.ddl(*added)
        self.release_old_key(table)
        if table.natural_key:
            # Rows stored before Airflow 3 re-keyed the table lack the new key: replaced by
            # natural key as the re-keyed rows arrive (merge), not kept beside them.
            table.legacy_rows = bool(
                self.query(
                    f"SELECT 1 FROM {target} WHERE _sdc_deleted_at IS NULL AND ("
                    + " OR ".join(f"{quote(k)} IS NULL" for k in table.key_properties)
                    + ") LIMIT 1"
                )
            )
            if table.legacy_rows:
                print(
                    f"{PROG}: {table.table}: rows stored under the key of an earlier Airflow "
                    f"are replaced by {', '.join(table.natural_key)} as the re-keyed rows arrive.",
                    file=sys.stderr,
                    flush=True,
                )

    def release_old_key(self, table: StreamTable) -> None:
        """A primary key the source no longer has (Airflow 3 re-keyed task_instance and
        task_instance_history), undeclared, and the columns NOT NULL for it that the source no
        longer has (task_instance_history's integer `id`) made nullable, every value kept, so the
        re-keyed rows load.  In one transaction: the constraint goes (Redshift never enforced
        it, and rows archived under the old key lack the new one, so no key is declared again),
        and as Redshift cannot drop NOT NULL in place, each such column moves to a nullable copy
        of itself."""
        target = self.target(table)
        declared = [
            (name, primary_key_columns(definition))
            for name, definition in self.query(
                "SELECT con.conname, pg_get_constraintdef(con.oid) FROM pg_constraint con "
                "JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = "
                "c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND con.contype = 'p'",
                [self.schema, table.table],
            )
        ]
        old_keys = [
            (name, columns) for name, columns in declared if columns != table.key_properties
        ]
        if not old_keys:
            return
        gone = [c for _, columns in old_keys for c in columns if c not in table.properties]
        types = dict(
            self.query(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = "
                "c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0",
                [self.schema, table.table],
            )
        )
        import psycopg2

        assert self.conn is not None
        try:
            with self.conn.cursor() as cur:
                for name, _ in old_keys:
                    cur.execute(f"ALTER TABLE {target} DROP CONSTRAINT {quote(name)}")
                for column in gone:
                    move_column(cur, target, column, types[column], quote(column), "nullable")
            self.conn.commit()
        except psycopg2.Error as exc:
            self.conn.rollback()
            raise UserError(
                f"Redshift refused to drop the old primary key of {self.schema}.{table.table} "
                f"(the source's is {', '.join(table.key_properties)} now): {first_line(exc)}; "
                "nothing changed (the grants the loading user needs are in docs/warehouses.md)."
            ) from exc
        old = "; ".join(", ".join(columns) for _, columns in old_keys)
        print(
            f"{PROG}: {table.table}: the source's primary key is {', '.join(table.key_properties)} "
            f"now, not {old} (an Airflow upgrade?): the old key is no longer declared"
            + (f", and {', '.join(gone)}, gone at the source, may be null" if gone else "")
            + "; every row kept.",
            file=sys.stderr,
            flush=True,
        )

    def change_type(self, table: StreamTable, column: str, have: str, wanted: str) -> None:
        """A column an Airflow upgrade retyped (3.0: dag_run_note.user_id integer -> varchar),
        widened with every value kept, archived rows included; a narrowing is refused.  Redshift
        alters a column's type only to a longer VARCHAR, so the values move to a new column of
        the wider type, in one transaction: the column ends up last, which nothing here minds
        (every statement names its columns)."""
        if (have, catalog_name(wanted)) not in WIDENINGS and not wanted.startswith("VARCHAR"):
            raise UserError(
                f"Column {table.table}.{column} changed type in the source ({have} in the "
                f"warehouse, {wanted} now), and not to a type that holds every old value: rename "
                f"the warehouse table {self.schema}.{table.table} (its history stays there) and "
                "run again to reload it."
            )
        import psycopg2

        target = self.target(table)
        assert self.conn is not None
        try:
            with self.conn.cursor() as cur:
                cast = f"CAST({quote(column)} AS {wanted})"
                move_column(cur, target, column, wanted, cast, "wider")
            self.conn.commit()
        except psycopg2.Error as exc:
            self.conn.rollback()
            raise UserError(
                f"Redshift refused to widen {self.schema}.{table.table}.{column} from {have} to "
                f"{wanted}: {first_line(exc)}; nothing changed (the grants the loading user needs "
                "are in docs/warehouses.md)."
            ) from exc
        print(
            f"{PROG}: {table.table}.{column}: {have} in the warehouse, {wanted} at the source "
            "now (an Airflow upgrade?): widened, every row kept.",
            file=sys.stderr,
            flush=True,
        )

    # -- loading ----------------------------------------------------------------------

    def load_batch(self, table: StreamTable) -> None:
        import psycopg2

        # Converted and checked before anything is written: a value too long for Redshift
        # ends the run here, with the warehouse as it was.
        batch = Batch(self, table, self.stamp(table))
        stage = quote(f"stage_{table.table}")
        key = None
        if self.method == "copy":
            key = self.upload(table, batch)
        assert self.conn is not None
        try:
            with self.conn.cursor() as cur:
                cur.execute(f"CREATE TEMP TABLE {stage} (LIKE {self.target(table)})")
                if key is not None:
                    self.execute_copy(cur, self.copy_statement(stage, batch, key))
                else:
                    self.insert_rows(cur, stage, batch)
                self.merge(cur, stage, table, batch)
                cur.execute(f"DROP TABLE {stage}")
            self.conn.commit()
        except psycopg2.Error as exc:
            self.conn.rollback()
            raise UserError(
                f"Loading {self.schema}.{table.table} failed and nothing of this batch was "
                f"written: {first_line(exc)}"
            ) from exc
        except BaseException:
            self.conn.rollback()
            raise
        finally:
            if key is not None:
                self.remove(key)

    def stamp(self, table: StreamTable) -> dt.datetime:
        """The `_sdc_batched_at` of this batch's rows (own_target.stamp_after), read in the
        transaction that writes them."""
        assert self.conn is not None
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT max(_sdc_batched_at) FROM {self.target(table)}")
            (latest,) = cur.fetchone()
        return stamp_after(latest)

    def merge(self, cur, stage: str, table: StreamTable, batch: Batch) -> None:
        """The upsert: target rows whose key is in the stage go, then the stage goes in."""
        target = self.target(table)
        match = " AND ".join(
            f"{target}.{quote(k)} = {stage}.{quote(k)}" for k in table.key_properties
        )
        columns = ", ".join(quote(c) for c in batch.columns)
        cur.execute(f"DELETE FROM {target} USING {stage} WHERE {match}")
        if table.legacy_rows:
            natural = " AND ".join(
                f"{target}.{quote(k)} = {stage}.{quote(k)}" for k in table.natural_key
            )
            cur.execute(
                f"DELETE FROM {target} USING {stage} WHERE {target}._sdc_deleted_at IS NULL "
                f"AND {natural}"
            )
        cur.execute(f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {stage}")

    def insert_rows(self, cur, stage: str, batch: Batch) -> None:
        from psycopg2.extras import execute_values

        sql = f"INSERT INTO {stage} ({', '.join(quote(c) for c in batch.columns)}) VALUES %s"
        page: list[tuple] = []
        size = 0
        for row in batch.rows:
            page.append(row)
            size += sum(len(v) for v in row if isinstance(v, str))
            if len(page) >= INSERT_PAGE_ROWS or size >= INSERT_PAGE_BYTES:
                execute_values(cur, sql, page, page_size=len(page))
                page, size = [], 0
        if page:
            execute_values(cur, sql, page, page_size=len(page))

    # -- S3 and COPY ------------------------------------------------------------------

    def upload(self, table: StreamTable, batch: Batch) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        s = self.settings
        path = batch.write_csv(self.spool_dir / f"{table.table}-{uuid.uuid4().hex}.csv.gz")
        key = f"{s['s3_key_prefix']}{self.schema}/{table.table}/{path.name}"
        try:
            self.s3().upload_file(str(path), s["s3_bucket"], key)
        except (BotoCoreError, ClientError) as exc:
            raise UserError(
                f"Cannot write the batch of {self.schema}.{table.table} to "
                f"s3://{s['s3_bucket']}/{key}: {first_line(exc)} (check the bucket, "
                "AIRFLOW_AUDIT_REDSHIFT_S3_REGION and the AWS credentials)."
            ) from exc
        finally:
            path.unlink(missing_ok=True)
        self.uploaded.append(key)
        return key

    def remove(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.s3().delete_object(Bucket=self.settings["s3_bucket"], Key=key)
        except (BotoCoreError, ClientError) as exc:
            print(
                f"{PROG}: could not remove s3://{self.settings['s3_bucket']}/{key}: "
                f"{first_line(exc)}; it holds a loaded batch and can be deleted.",
                file=sys.stderr,
            )

    def copy_authorization(self) -> str:
        """IAM_ROLE when a COPY role is set; else the AWS credentials this process has."""
        s = self.settings
        if s.get("copy_role_arn"):
            return f"IAM_ROLE {sql_string(s['copy_role_arn'])}"
        credentials = self.aws_session().get_credentials()
        if credentials is None:
            raise UserError(
                "COPY needs a way to read the S3 bucket: set AIRFLOW_AUDIT_REDSHIFT_COPY_ROLE_ARN "
                "(a role attached to the cluster, recommended) or "
                "AIRFLOW_AUDIT_REDSHIFT_AWS_ACCESS_KEY_ID and _SECRET_ACCESS_KEY."
            )
        frozen = credentials.get_frozen_credentials()
        text = (
            f"ACCESS_KEY_ID {sql_string(frozen.access_key)} "
            f"SECRET_ACCESS_KEY {sql_string(frozen.secret_key)}"
        )
        if frozen.token:
            text += f" SESSION_TOKEN {sql_string(frozen.token)}"
        return text

    def copy_statement(self, stage: str, batch: Batch, key: str) -> str:
        """The COPY of one staged file.  Deliberately without TRUNCATECOLUMNS, BLANKSASNULL,
        EMPTYASNULL, TRIMBLANKS, ACCEPTINVCHARS and MAXERROR: a value that does not fit fails."""
        s = self.settings
        columns = ", ".join(quote(c) for c in batch.columns)
        url = f"s3://{s['s3_bucket']}/{key}"
        region = f" REGION {sql_string(s['s3_region'])}" if s.get("s3_region") else ""
        return (
            f"COPY {stage} ({columns}) "
            f"FROM {sql_string(url)} "
            f"{self.copy_authorization()}{region} "
            f"FORMAT AS CSV GZIP NULL AS {sql_string(batch.null)} "
            "DATEFORMAT 'auto' TIMEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF"
        )

    def execute_copy(self, cur, statement: str) -> None:
        """Run the COPY statement: the one seam between this loader and Redshift's S3 reader."""
        cur.execute(statement)

    # -- full reads -------------------------------------------------------------------

    def apply_full_read(self, table: StreamTable, version: int) -> None:
        assert self.conn is not None
        sql = full_read_sql(
            self.target(table), self.mode, version="%(version)s", deleted_at="%(deleted_at)s"
        )
        with self.conn.cursor() as cur:
            cur.execute(sql, {"version": version, "deleted_at": dt.datetime.now(dt.timezone.utc)})
        self.conn.commit()

    # -- the connection check -----------------------------------------------------------

    def check(self) -> Iterable[str]:
        """What `--check` reports: the login, the CREATE privileges, and S3 for `copy`."""
        ((user, database, create, temp),) = self.query(
            "SELECT current_user, current_database(), "
            "has_database_privilege(current_database(), 'CREATE'), "
            "has_database_privilege(current_database(), 'TEMP')"
        )
        on_schema = self.query(
            "SELECT has_schema_privilege(nspname, 'CREATE') AND "
            "has_schema_privilege(nspname, 'USAGE') FROM pg_namespace WHERE nspname = %s",
            [self.schema],
        )
        yield f"connected to {database} as {user}"
        if on_schema:
            if not on_schema[0][0]:
                raise UserError(
                    f"{user} cannot create tables in schema {self.schema}: grant usage, create "
                    "on it, or make the user its owner (docs/warehouses.md)."
                )
            yield f"schema {self.schema} exists; {user} can create tables in it"
        elif create:
            yield f"schema {self.schema} is missing; {user} can create it"
        else:
            raise UserError(
                f"Schema {self.schema} is missing and {user} cannot create it: grant create on "
                f"database {database}, or create the schema and grant usage, create on it "
                "(docs/warehouses.md)."
            )
        if not temp:
            raise UserError(
                f"{user} cannot create temporary tables in {database}: grant temp on database "
                f"{database} (docs/warehouses.md)."
            )
        if self.method == "copy":
            from botocore.exceptions import BotoCoreError, ClientError

            s = self.settings
            key = f"{s['s3_key_prefix']}{self.schema}/_check-{uuid.uuid4().hex}"
            try:
                self.s3().put_object(Bucket=s["s3_bucket"], Key=key, Body=b"airflow-audit")
                self.s3().delete_object(Bucket=s["s3_bucket"], Key=key)
            except (BotoCoreError, ClientError) as exc:
                raise UserError(
                    f"Cannot write and delete s3://{s['s3_bucket']}/{key}: {first_line(exc)}"
                ) from exc
            self.copy_authorization()
            yield f"s3://{s['s3_bucket']}/{s['s3_key_prefix']}: writable and deletable"


def main(argv: list[str] | None = None) -> None:
    command_line(RedshiftTarget, PROG, (__doc__ or "").splitlines()[0], argv, checks=True)


if __name__ == "__main__":
    main()
