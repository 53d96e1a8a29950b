"""A `pg_dump` backup of the Airflow database, restored into a new scratch database.

Reading a backup is reading the source: `AIRFLOW_AUDIT_SOURCE_DUMP` makes the tap and
reconciliation of one `meltano run` read a restore of the file instead of a live database, and
`airflow-audit-backup verify` inspects one.  The rules:

* the dump (custom, directory, tar or plain format) is restored into a *new* database, named
  `airflow_audit_restore_<random>`, on a scratch server: one this module starts itself
  (scratch_server.py: `initdb`/`pg_ctl`, else the `pgserver` wheel), or the existing server
  `AIRFLOW_AUDIT_SCRATCH_URL` names, where it only ever creates and drops its own database;
* a restore is all or nothing (one transaction); what it could not restore is one sentence;
* the database, and the server when this module started it, are gone afterwards, whether the run
  succeeds, fails or is killed: a watchdog process outlives the run and removes them when the
  run's process is gone, and every later restore removes what a killed watchdog left.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from airflow_audit_core.errors import UserError
from tap_airflow_metadb import scratch_server

DUMP_SETTING = "AIRFLOW_AUDIT_SOURCE_DUMP"
SCRATCH_SETTING = "AIRFLOW_AUDIT_SCRATCH_URL"
DATABASE_PREFIX = "airflow_audit_restore_"
SESSIONS_DIR = Path(tempfile.gettempdir()) / "airflow-audit-restores"
PLAIN_TRAILER = b"-- PostgreSQL database dump complete"
TAKE_AGAIN = "take the backup again (`meltano invoke airflow-audit-backup take FILE`)"


def dump_format(path: Path) -> str:
    """`custom`, `directory`, `tar` or `plain`; anything else is one sentence."""
    if not path.exists():
        raise UserError(f"{path} does not exist: name a pg_dump file or directory.")
    if path.is_dir():
        if (path / "toc.dat").is_file():
            return "directory"
        raise UserError(
            f"{path} is a directory without a toc.dat: not a pg_dump directory-format backup "
            "(pg_dump -Fd); name the backup file or directory itself."
        )
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError as exc:
        raise UserError(
            f"{path} cannot be read ({exc.strerror}): check the path and its permissions."
        ) from None
    if head.startswith(b"PGDMP"):
        return "custom"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "tar"
    if b"PostgreSQL database dump" in head[:400]:
        return "plain"
    if not head:
        raise UserError(f"{path} is empty: not a pg_dump backup; {TAKE_AGAIN}.")
    raise UserError(
        f"{path} is not a pg_dump backup (neither custom, directory, tar nor plain format): "
        "name a file pg_dump wrote."
    )


def client_program(name: str, near: Path | None = None) -> str:
    """pg_restore/psql/pg_dump: beside the scratch server's binaries, on PATH, or the newest
    /usr/lib/postgresql/<version>/bin."""
    if near is not None and (near / name).exists():
        return str(near / name)
    found = shutil.which(name)
    if found:
        return found
    system = scratch_server.find_system_bin_dir()
    if system is not None and (system / name).exists():
        return str(system / name)
    wheel = scratch_server.find_pgserver_bin_dir()
    if wheel is not None and (wheel / name).exists():
        return str(wheel / name)
    raise UserError(
        f"{name} is not installed: install PostgreSQL's client programs "
        "(`apt-get install postgresql-client`, or `pip install pgserver`)."
    )


# URL query parameters (libpq's own names) and the variable libpq reads each from.
LIBPQ_QUERY_ENV = {
    "host": "PGHOST",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "passfile": "PGPASSFILE",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}
# Variables that say which server and user: only the URL decides them.
_TARGET_ENV = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSERVICE")


def libpq_env(url: URL) -> dict[str, str]:
    """The connection as libpq variables, so no password is on a command line.  The URL says the
    server, user and database; a password may also come from ~/.pgpass or PGPASSFILE, and TLS
    settings from the URL's query (sslmode, sslrootcert, sslcert, sslkey) or PGSSL* variables,
    as for any libpq client."""
    env = {k: v for k, v in os.environ.items() if k not in _TARGET_ENV}
    env.update(
        PGHOST=url.host or "localhost",
        PGPORT=str(url.port or 5432),
        PGUSER=url.username or "",
        PGDATABASE=url.database or "postgres",
        PGCONNECT_TIMEOUT="15",
        PGAPPNAME="airflow-audit-backup",
    )
    if url.password:
        env["PGPASSWORD"] = url.password
    for name, variable in LIBPQ_QUERY_ENV.items():
        value = url.query.get(name)
        if value:
            env[variable] = value if isinstance(value, str) else value[0]
    return env


def first_error(output: str) -> str:
    """The first line a PostgreSQL client program printed as an error, shortened."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for ln in lines:
        if "error:" in ln.lower() or ln.startswith(("ERROR", "FATAL", "psql:")):
            text = re.sub(r"^(pg_restore|psql|pg_dump): (error: )?", "", ln)
            return text[:300]
    return (lines[0] if lines else "no message")[:300]


def restore(dump: Path, url: URL) -> None:
    """Restore `dump` into the empty database `url` names, in one transaction."""
    kind = dump_format(dump)
    env = libpq_env(url)
    if kind == "plain":
        with dump.open("rb") as f:
            f.seek(max(0, dump.stat().st_size - 4096))
            if PLAIN_TRAILER not in f.read():
                raise UserError(
                    f"{dump} is cut short: a plain pg_dump file ends with '-- PostgreSQL "
                    f"database dump complete' and this one does not; {TAKE_AGAIN}."
                )
        args = [
            client_program("psql"),
            "--no-psqlrc",
            "--quiet",
            "--single-transaction",
            "--set=ON_ERROR_STOP=1",
            "--file=-",
        ]
        # A plain dump sets owners and grants for the source's roles, which the scratch server
        # does not have: those statements are left out as pg_restore --no-owner leaves them out.
        source = _plain_without_owners(dump)
    else:
        if kind == "tar":
            _check_tar(dump)
        args = [
            client_program("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--no-comments",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
            url.database or "",
            str(dump),
        ]
        source = None
    proc = subprocess.Popen(
        args,
        env=env,
        stdin=subprocess.PIPE if source is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    if source is not None:
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            for chunk in source:
                proc.stdin.write(chunk)
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
    assert proc.stdout is not None
    with proc.stdout:
        output = proc.stdout.read().decode("utf-8", "replace")
    if proc.wait() != 0:
        raise UserError(restore_problem(dump, first_error(output)))


def restore_problem(dump: Path, error: str) -> str:
    lowered = error.lower()
    if "unsupported version" in lowered:
        return (
            f"{dump} was written by a newer pg_dump than this machine's pg_restore can read "
            f"({error}): install the PostgreSQL client of the server the backup came from."
        )
    if any(
        s in lowered
        for s in (
            "end of file",
            "could not read",
            "did not find magic",
            "unexpected end",
            "corrupt",
        )
    ):
        return f"{dump} is truncated or damaged ({error}); {TAKE_AGAIN}."
    return f"{dump} could not be restored ({error}); {TAKE_AGAIN}."


def _check_tar(dump: Path) -> None:
    try:
        with tarfile.open(dump) as tar:
            for _member in tar:
                pass
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise UserError(f"{dump} is truncated or damaged ({exc}); {TAKE_AGAIN}.") from None


_OWNER_OR_GRANT = re.compile(
    rb"^(ALTER [A-Z ]+ .* OWNER TO |GRANT |REVOKE |ALTER DEFAULT PRIVILEGES |COMMENT ON SCHEMA public )"
)


def _plain_without_owners(dump: Path) -> Iterator[bytes]:
    """The plain dump's lines, without owner changes and grants (statements, not data: data lines
    sit between COPY and `\\.`)."""
    in_copy = False
    with dump.open("rb") as f:
        for line in f:
            if in_copy:
                if line.rstrip(b"\r\n") == b"\\.":
                    in_copy = False
                yield line
                continue
            if line.startswith(b"COPY ") and line.rstrip().endswith(b"FROM stdin;"):
                in_copy = True
            elif _OWNER_OR_GRANT.match(line):
                continue
            yield line


# --------------------------------------------------------------------------------------------
# A restored backup and its lifetime
# --------------------------------------------------------------------------------------------


@dataclass
class Restored:
    """A backup restored into a new database on a scratch server."""

    url: URL
    database: str
    server: dict  # scratch_server.ThrowawayPostgres.state()

    def close(self) -> None:
        remove(self.server, self.database)


def scratch_server_for(environ: Mapping[str, str]) -> scratch_server.ThrowawayPostgres:
    pg = scratch_server.ThrowawayPostgres(env_var=SCRATCH_SETTING)
    if (environ.get(SCRATCH_SETTING) or "").strip():
        url = environ[SCRATCH_SETTING].strip()
        try:
            parsed = make_url(url)
        except Exception:
            raise UserError(
                f"{SCRATCH_SETTING} is not a database URL: write it as "
                "postgresql://user:password@host:5432/postgres."
            ) from None
        if parsed.get_backend_name() != "postgresql":
            raise UserError(f"{SCRATCH_SETTING} must name a PostgreSQL server.")
    try:
        return pg.start(stop_at_exit=False)
    except scratch_server.PostgresUnavailable as exc:
        raise UserError(str(exc)) from None
    except scratch_server.PostgresStartError as exc:
        raise UserError(
            "The scratch PostgreSQL server to restore into did not start "
            f"({str(exc).splitlines()[0]}): set {SCRATCH_SETTING} to an existing server."
        ) from None


def open_restored(dump: Path, environ: Mapping[str, str] = os.environ) -> Restored:
    """Restore `dump` into a new database; the caller closes it (or a watchdog does)."""
    dump_format(dump)  # a file that is not a backup stops here, before any server starts
    sweep()
    pg = scratch_server_for(environ)
    database = DATABASE_PREFIX + secrets.token_hex(6)
    try:
        try:
            pg.create_database(database, if_exists="error")
        except Exception as exc:
            raise UserError(
                f"Could not create a scratch database on {_where(pg)} ({_first_line(exc)}): "
                f"give the user of {SCRATCH_SETTING} CREATEDB, or leave it empty to let "
                "airflow-audit start its own server."
            ) from None
        url = make_url(pg.url_for(database))
        restore(dump, url)
    except BaseException:
        remove(pg.state(), database)
        raise
    return Restored(url, database, pg.state())


def remove(server: dict, database: str) -> None:
    """Drop the scratch database; stop (and delete) the server when this project started it."""
    pg = scratch_server.ThrowawayPostgres.from_state(server)
    if server.get("backend") == "external":
        with contextlib.suppress(Exception):
            pg.drop_database(database)
        return
    with contextlib.suppress(Exception):
        pg.stop(remove_data=True)


def _where(pg: scratch_server.ThrowawayPostgres) -> str:
    url = make_url(pg.url)
    return f"{url.host}:{url.port or 5432}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------------------------
# One restore per `meltano run`, shared by the tap and reconciliation, removed by a watchdog
# --------------------------------------------------------------------------------------------


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), to tell a pid from its reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, started: str | None) -> bool:
    return _start_time(pid) == started if started else scratch_server._pid_alive(pid)


def run_owner() -> int:
    """The process whose end ends the restore: the `meltano run` (or `meltano invoke`) that
    started this plugin, else this process."""
    parent = os.getppid()
    try:
        cmdline = Path(f"/proc/{parent}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return os.getpid()
    if any(b"meltano" in os.path.basename(part) for part in cmdline[:2]):
        return parent
    return os.getpid()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    SESSIONS_DIR.mkdir(mode=0o700, exist_ok=True)
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def source_url_of_run(
    dump_setting: str, environ: Mapping[str, str] = os.environ, notice=None
) -> URL:
    """The URL of this run's restore of the backup `AIRFLOW_AUDIT_SOURCE_DUMP` names.

    The first plugin of the run restores it; the others (reconciliation) find it by the run's
    process.  A watchdog drops it when that process is gone."""
    dump = Path(os.path.expanduser(dump_setting.strip())).absolute()
    url, _session = restore_for(dump, run_owner(), environ, notice)
    return url


def restore_for(
    dump: Path, owner: int, environ: Mapping[str, str] = os.environ, notice=None
) -> tuple[URL, Path]:
    """A restore of `dump` that lives as long as process `owner` (or until end_restore)."""
    owner_started = _start_time(owner)
    key = hashlib.sha256(f"{dump}\0{owner}\0{owner_started}".encode()).hexdigest()[:16]
    session = SESSIONS_DIR / f"{key}.json"
    with _locked(SESSIONS_DIR / f"{key}.lock"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            return make_url(json.loads(session.read_text())["url"]), session
        started = time.monotonic()
        try:
            restored = open_restored(dump, environ)
        except BaseException:
            (SESSIONS_DIR / f"{key}.lock").unlink(missing_ok=True)
            raise
        record = {
            "url": restored.url.render_as_string(hide_password=False),
            "database": restored.database,
            "server": restored.server,
            "dump": str(dump),
            "owner": owner,
            "owner_started": owner_started,
        }
        fd = os.open(session, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(record, f)
        _start_watchdog(session)
        if notice is not None:
            notice(
                f"restored {dump} ({dump_format(dump)} format) into the new scratch database "
                f"{restored.database} in {time.monotonic() - started:.1f}s; reading it as the "
                "source of this run (it is dropped when the run ends)."
            )
        return restored.url, session


def end_restore(session: Path) -> None:
    """Drop a restore now (its watchdog then finds nothing left to do)."""
    _end_session(session)


def _start_watchdog(session: Path) -> None:
    """A process in its own session (a kill of the run's process group spares it), not waited for."""
    devnull = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    os.posix_spawn(
        sys.executable,
        [sys.executable, "-m", "tap_airflow_metadb.backup", "watch", str(session)],
        os.environ,
        file_actions=devnull,
        setsid=True,
    )


def _end_session(session: Path) -> None:
    try:
        record = json.loads(session.read_text())
    except (OSError, ValueError):
        return
    remove(record["server"], record["database"])
    with contextlib.suppress(FileNotFoundError):
        session.unlink()
    with contextlib.suppress(FileNotFoundError):
        session.with_suffix(".lock").unlink()


def watch(session: Path, interval: float = 0.5) -> None:
    """Wait for the run that owns `session` to end, then remove its restore."""
    try:
        record = json.loads(session.read_text())
    except (OSError, ValueError):
        return
    while _alive(record["owner"], record.get("owner_started")) and session.exists():
        time.sleep(interval)
    _end_session(session)


def sweep() -> None:
    """Remove restores whose run and watchdog are both gone (a machine that killed both), and lock
    files an hour old that no restore uses."""
    if not SESSIONS_DIR.is_dir():
        return
    for lock in SESSIONS_DIR.glob("*.lock"):
        with contextlib.suppress(OSError):
            if not lock.with_suffix(".json").exists() and time.time() - lock.stat().st_mtime > 3600:
                lock.unlink()
    for session in SESSIONS_DIR.glob("*.json"):
        try:
            record = json.loads(session.read_text())
        except (OSError, ValueError):
            continue
        if not _alive(record.get("owner", -1), record.get("owner_started")):
            _end_session(session)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "watch":
        watch(Path(args[1]))
        return 0
    print("usage: python -m tap_airflow_metadb.backup watch SESSION_FILE", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
