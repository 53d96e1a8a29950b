"""What a restored backup holds: which Airflow wrote it, whether it is whole, what a new
environment must fix, how big it is and what `airflow db clean` would remove.

Everything here reads a restore on a scratch server (tap_airflow_metadb/backup.py), never the
live database, and never reads a secret: connections by id, type and host (the host without its
URL credentials), variables by key, users by name.  A check that finds something adds a
`problem` (the backup is not usable as it is: exit 1) or a `warning` (usable, with something
to fix after restoring it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import psycopg2
from sqlalchemy.engine import URL

from airflow_audit_core.errors import UserError
from airflow_audit_core.quoting import quote as quote_identifier
from tap_airflow_metadb import airflow_versions, policy
from tap_airflow_metadb.redact import MASK, redact_text

#: Airflow's `db clean` rules (airflow/utils/db_cleanup.py, `config_list`, 2.4 to 3.3): the
#: table and the column its age is measured by.  `dag_run` keeps each DAG's latest scheduled run.
DB_CLEAN_RULES: tuple[tuple[str, str], ...] = (
    ("job", "latest_heartbeat"),
    ("dag", "last_parsed_time"),
    ("dag_run", "start_date"),
    ("dataset_event", "timestamp"),
    ("asset_event", "timestamp"),
    ("import_error", "timestamp"),
    ("log", "dttm"),
    ("sla_miss", "timestamp"),
    ("task_fail", "start_date"),
    ("task_instance", "start_date"),
    ("task_instance_history", "start_date"),
    ("task_reschedule", "start_date"),
    ("xcom", "timestamp"),
    ("callback_request", "created_at"),
    ("trigger", "created_date"),
    ("dag_version", "created_at"),
    ("deadline", "deadline_time"),
)
#: Tables of Airflow's schema that a deployment may lack without harm: the FAB auth manager's
#: (a provider on 3.x, with its own alembic table and, on 3.x, the web `session` table) and the
#: Celery result backend's. Found on a database `airflow db migrate` of 3.3.2 made without FAB.
OPTIONAL_PREFIXES = ("ab_", "celery_")
OPTIONAL_TABLES = frozenset({"alembic_version_fab"})
OPTIONAL_TABLES_3X = frozenset({"session"})
INVENTORY_RELEASES = ("2.4.3", "2.7.3", "2.9.3", "2.10.5", "3.3.2")
LISTED = 50  # rows listed per finding; the counts are always whole


@dataclass
class Report:
    airflow_version: str | None = None
    schema_version: str | None = None
    revision: str | None = None
    same_schema_as: str | None = None
    usable: bool = True
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    connections: list[dict[str, Any]] = field(default_factory=list)
    variables: list[str] = field(default_factory=list)
    pools: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    roles: list[dict[str, Any]] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)
    db_clean: dict[str, Any] = field(default_factory=dict)

    def problem(self, sentence: str) -> None:
        self.problems.append(sentence)
        self.usable = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _version(v: str) -> tuple[int, int, int]:
    return airflow_versions._version_tuple(v)


def head_of_release(version: str) -> str | None:
    """The alembic head a release leaves the database at (a release without migrations keeps
    the previous one's)."""
    candidates = [
        (v, rev)
        for v, rev in airflow_versions.RELEASE_HEADS.items()
        if _version(v) <= _version(version)
    ]
    return max(candidates, key=lambda c: _version(c[0]))[1] if candidates else None


def releases_sharing(schema_version: str) -> str:
    """`2.10.3 to before 3.0.0`: the releases that leave the database at this schema."""
    later = sorted(
        (v for v in airflow_versions.RELEASE_HEADS if _version(v) > _version(schema_version)),
        key=_version,
    )
    if not later:
        return f"{schema_version} or later"
    return f"{schema_version} up to, not including, {later[0]}"


def expected_tables(revision: str, schema_version: str) -> set[str] | None:
    """The tables Airflow's migrations create at this revision, as the inventory knows them: the
    exact set where an inventoried release has this schema, else those of both releases around it."""
    by_release: dict[str, set[str]] = {}
    with policy.INVENTORY_FILE.open() as f:
        next(f)
        for line in f:
            table, _column, _types, releases = line.rstrip("\n").split(",", 3)
            for release in releases.split():
                by_release.setdefault(release, set()).add(table)
    for release in INVENTORY_RELEASES:
        if head_of_release(release) == revision:
            return by_release.get(release)
    lower = [r for r in INVENTORY_RELEASES if _version(r) <= _version(schema_version)]
    upper = [r for r in INVENTORY_RELEASES if _version(r) > _version(schema_version)]
    if not lower:
        return None
    tables = set(by_release[lower[-1]])
    if upper:
        tables &= by_release[upper[0]]
    return tables


def safe_host(host: str | None) -> str | None:
    """A connection's host without credentials: URL user info and `user:password@` dropped,
    anything secret-shaped masked."""
    if not host:
        return host
    text = host.strip()
    if "://" in text:
        try:
            parts = urlsplit(text)
            netloc = parts.hostname or ""
            if parts.port:
                netloc += f":{parts.port}"
            text = f"{parts.scheme}://{netloc}{parts.path}"
        except ValueError:
            text = text.split("://", 1)[0] + "://" + text.rsplit("@", 1)[-1]
    elif "@" in text:
        text = text.rsplit("@", 1)[-1]
    text = redact_text(text)
    return text if MASK not in text else text.split(MASK)[0] + MASK


class Backup:
    """Queries on one restored Airflow database."""

    def __init__(self, url: URL, schema: str = "public") -> None:
        self.schema = schema
        self.conn = psycopg2.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            password=url.password,
            dbname=url.database,
            connect_timeout=15,
            application_name="airflow-audit-backup",
        )
        self.conn.set_session(readonly=True, autocommit=True)
        self.tables = {
            t: self.columns_of(t)
            for (t,) in self.rows(
                "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = %s and c.relkind in ('r', 'p') order by 1",
                (schema,),
            )
        }

    def close(self) -> None:
        self.conn.close()

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def value(self, sql: str, params: tuple = ()) -> Any:
        found = self.rows(sql, params)
        return found[0][0] if found else None

    def columns_of(self, table: str) -> set[str]:
        return {
            c
            for (c,) in self.rows(
                "select a.attname from pg_attribute a join pg_class c on c.oid = a.attrelid "
                "join pg_namespace n on n.oid = c.relnamespace where n.nspname = %s and "
                "c.relname = %s and a.attnum > 0 and not a.attisdropped",
                (self.schema, table),
            )
        }

    def t(self, table: str) -> str:
        return f"{quote_identifier(self.schema)}.{quote_identifier(table)}"

    def has(self, table: str, *columns: str) -> bool:
        return table in self.tables and set(columns) <= self.tables[table]


def verify_restored(
    url: URL,
    *,
    expect_version: str | None = None,
    retention_days: int = 90,
    schema: str = "public",
) -> Report:
    """The report on a restored backup.  Not an Airflow database, or one older than 2.4: a
    UserError (one sentence)."""
    db = Backup(url, schema)
    try:
        report = Report()
        identify(db, report, expect_version)
        integrity(db, report)
        to_fix(db, report)
        sizes(db, report, retention_days)
        return report
    finally:
        db.close()


def identify(db: Backup, report: Report, expect_version: str | None) -> None:
    if "alembic_version" not in db.tables:
        others = ", ".join(list(db.tables)[:5]) or "no tables"
        raise UserError(
            f"The backup is not of an Airflow metadata database: it has no alembic_version table "
            f"in schema {db.schema!r} (it holds {others}); name a backup of Airflow's database, "
            "or the schema Airflow uses with AIRFLOW_AUDIT_SOURCE_SCHEMA."
        )
    revision = (db.value(f"select version_num from {db.t('alembic_version')}") or "").strip()
    version = airflow_versions.airflow_version_for(revision) if revision else None
    if version is None:
        raise UserError(
            f"The backup's Airflow schema is at alembic revision {revision or '(none)'!r}, which "
            f"no Airflow release from 2.0 to {airflow_versions.LATEST_KNOWN_VERSION} has: it is "
            "newer than this airflow-audit (upgrade airflow-audit) or not Airflow's."
        )
    if not airflow_versions.is_supported(version):
        raise UserError(
            f"The backup holds the schema of Airflow {version}, older than "
            f"{airflow_versions.MIN_SUPPORTED}: restore it into that Airflow and run `airflow db "
            "migrate` (or `airflow db upgrade`) there before auditing it."
        )
    report.revision = revision
    report.schema_version = version
    report.same_schema_as = releases_sharing(version)
    report.airflow_version = version
    if expect_version:
        try:
            expected_head = head_of_release(expect_version)
        except ValueError:
            raise UserError(
                f"--expect-version {expect_version!r} is not an Airflow version: write it as 2.10.5."
            ) from None
        if expected_head == revision:
            report.airflow_version = expect_version
        else:
            newer = _version(version) > _version(expect_version)
            report.problem(
                f"The backup was taken from the schema of Airflow {report.same_schema_as} "
                f"(revision {revision}), not {expect_version}: restoring it into Airflow "
                f"{expect_version} needs "
                + (
                    "`airflow db downgrade` to that version's revision first, or an Airflow at "
                    "least as new as the backup."
                    if newer
                    else "`airflow db migrate` after the restore, before Airflow starts."
                )
            )


def integrity(db: Backup, report: Report) -> None:
    expected = expected_tables(report.revision or "", report.schema_version or "")
    if expected is not None:
        missing = sorted(
            t
            for t in expected - set(db.tables)
            if not t.startswith(OPTIONAL_PREFIXES)
            and t not in OPTIONAL_TABLES
            and not (
                t in OPTIONAL_TABLES_3X and _version(report.schema_version or "0") >= (3, 0, 0)
            )
        )
        if missing:
            report.problem(
                f"Tables of Airflow {report.schema_version}'s schema are missing: "
                f"{', '.join(missing)}; the backup is partial (a pg_dump with --table or "
                "--exclude-table?): take it again of the whole database."
            )
    if db.has("dag_run", "state", "dag_id", "run_id"):
        stuck = db.rows(
            f"select dag_id, run_id, state from {db.t('dag_run')} "
            "where state in ('running', 'queued') order by dag_id, run_id"
        )
        if stuck:
            shown = "; ".join(f"{d}/{r} ({s})" for d, r, s in stuck[:10])
            report.warnings.append(
                f"{len(stuck)} DAG runs were running or queued when the backup was taken ({shown}"
                f"{' ...' if len(stuck) > 10 else ''}): after a restore they look stuck; mark "
                "them failed or clear them in the new environment."
            )
    if db.has("task_instance", "dag_id", "run_id") and db.has("dag_run", "dag_id", "run_id"):
        orphans = db.value(
            f"select count(*) from {db.t('task_instance')} ti where not exists (select 1 from "
            f"{db.t('dag_run')} dr where dr.dag_id = ti.dag_id and dr.run_id = ti.run_id)"
        )
        if orphans:
            report.problem(
                f"{orphans} task instances have no DAG run (their dag_id and run_id match none): "
                "the backup is inconsistent (taken without its foreign keys, or of a damaged "
                "database); Airflow's UI and scheduler cannot show or schedule them."
            )
    if db.has("task_instance", "dag_id", "run_id", "task_id", "map_index"):
        mixed = db.value(
            f"select count(*) from (select 1 from {db.t('task_instance')} group by dag_id, "
            "run_id, task_id having bool_or(map_index = -1) and bool_or(map_index >= 0)) m"
        )
        if mixed:
            report.problem(
                f"{mixed} tasks are both mapped and unmapped in the same DAG run (rows with "
                "map_index -1 and >= 0): the backup's task instances contradict each other."
            )
    if db.has("task_instance_history", "dag_id", "run_id", "task_id", "map_index", "try_number"):
        later = db.value(
            f"select count(*) from {db.t('task_instance_history')} h join "
            f"{db.t('task_instance')} ti using (dag_id, run_id, task_id, map_index) "
            "where h.try_number > ti.try_number"
        )
        if later:
            # (equal is Airflow's own: a cleared or failed try is recorded before the next one
            # is numbered)
            report.problem(
                f"{later} rows of task_instance_history hold a try after their task instance's "
                "current try: the history of retried tasks contradicts the tasks."
            )
    sequences(db, report)


def sequences(db: Backup, report: Report) -> None:
    owned = db.rows(
        "select seq.relname, tab.relname, att.attname from pg_depend d "
        "join pg_class seq on seq.oid = d.objid and seq.relkind = 'S' "
        "join pg_class tab on tab.oid = d.refobjid "
        "join pg_namespace n on n.oid = tab.relnamespace "
        "join pg_attribute att on att.attrelid = tab.oid and att.attnum = d.refobjsubid "
        "where d.deptype in ('a', 'i') and n.nspname = %s order by 2",
        (db.schema,),
    )
    behind = []
    for seq, table, column in owned:
        last, called = db.rows(f"select last_value, is_called from {db.t(seq)}")[0]
        top = db.value(f"select max({quote_identifier(column)}) from {db.t(table)}")
        next_value = last + 1 if called else last
        if top is not None and next_value <= top:
            behind.append(f"{table}.{column} (next {next_value}, max {top})")
    if behind:
        report.problem(
            f"Sequences are behind their tables' largest ids: {', '.join(behind)}; Airflow's next "
            "insert there fails on a duplicate key: after restoring, run "
            "`select setval(<sequence>, max(<column>)) from <table>` for each."
        )


def to_fix(db: Backup, report: Report) -> None:
    if db.has("connection", "conn_id", "conn_type", "host"):
        report.connections = [
            {"conn_id": c, "conn_type": t, "host": safe_host(h)}
            for c, t, h in db.rows(
                f"select conn_id, conn_type, host from {db.t('connection')} order by conn_id"
            )
        ]
    if db.has("variable", "key"):
        report.variables = [k for (k,) in db.rows(f"select key from {db.t('variable')} order by 1")]
    if db.has("slot_pool", "pool", "slots"):
        report.pools = [
            {"pool": p, "slots": s}
            for p, s in db.rows(f"select pool, slots from {db.t('slot_pool')} order by pool")
        ]
    if db.has("ab_user", "id", "username") and db.has("ab_user_role", "user_id", "role_id"):
        active = "u.active" if "active" in db.tables["ab_user"] else "true"
        report.users = [
            {"username": u, "active": a, "roles": list(r or [])}
            for u, a, r in db.rows(
                f"select u.username, {active}, array_agg(r.name order by r.name) "
                f"filter (where r.name is not null) from {db.t('ab_user')} u "
                f"left join {db.t('ab_user_role')} ur on ur.user_id = u.id "
                f"left join {db.t('ab_role')} r on r.id = ur.role_id "
                "group by u.username, 2 order by u.username"
            )
        ]
    if db.has("ab_role", "id", "name") and db.has("ab_permission_view_role", "role_id"):
        report.roles = [
            {"role": n, "permissions": c}
            for n, c in db.rows(
                f"select r.name, count(pv.role_id) from {db.t('ab_role')} r left join "
                f"{db.t('ab_permission_view_role')} pv on pv.role_id = r.id "
                "group by r.name order by r.name"
            )
        ]


def sizes(db: Backup, report: Report, retention_days: int) -> None:
    for table in db.tables:
        rows = db.value(f"select count(*) from {db.t(table)}")
        size = db.value("select pg_total_relation_size(%s::regclass)", (db.t(table),))
        report.tables.append({"table": table, "rows": rows, "bytes": size})
    newest = [
        f"(select max({quote_identifier(c)}) from {db.t(t)})"
        for t, c in (("dag_run", "start_date"), ("log", "dttm"), ("job", "latest_heartbeat"))
        if db.has(t, c)
    ]
    as_of = db.value(f"select greatest({', '.join(newest)})") if newest else None
    if as_of is None:
        report.db_clean = {"retention_days": retention_days, "as_of": None, "rows": {}}
        return
    cutoff = as_of - dt.timedelta(days=retention_days)
    would = {}
    for table, column in DB_CLEAN_RULES:
        if not db.has(table, column):
            continue
        if table == "dag_run":
            # db clean keeps each DAG's latest scheduled run, whatever its age
            def scheduled(alias: str) -> str:
                if "run_type" in db.tables["dag_run"]:
                    return f"{alias}.run_type <> 'manual'"
                return f"not coalesce({alias}.external_trigger, false)"

            would[table] = db.value(
                f"select count(*) from {db.t('dag_run')} r where r.start_date < %s and "
                f"(not ({scheduled('r')}) or exists (select 1 from {db.t('dag_run')} later "
                "where later.dag_id = r.dag_id and later.start_date > r.start_date and "
                f"{scheduled('later')}))",
                (cutoff,),
            )
        else:
            would[table] = db.value(
                f"select count(*) from {db.t(table)} where {quote_identifier(column)} < %s",
                (cutoff,),
            )
    report.db_clean = {
        "retention_days": retention_days,
        "as_of": as_of.isoformat(),
        "clean_before": cutoff.isoformat(),
        "rows": would,
    }
