"""A throwaway PostgreSQL server: the scratch server a backup is restored into.

Where the server comes from, in this order:

1. An existing server's URL (``AIRFLOW_AUDIT_SCRATCH_URL`` for the product; the tests pass their
   own variable): that server is used as it is (nothing is started or stopped; databases are
   created and dropped in it).
2. ``initdb``/``pg_ctl`` on ``PATH`` or under ``/usr/lib/postgresql/<version>/bin`` (highest
   version): a new cluster is created in a temporary directory (or a directory you pass).
3. The ``pgserver`` wheel (``pip install pgserver``) when importable: the PostgreSQL binaries it
   ships are run the same way as in 2.
4. Otherwise :class:`PostgresUnavailable` is raised with one sentence saying what to install.

The cluster accepts password (scram-sha-256) connections on 127.0.0.1 only, on a free port, so
``url`` always carries a password (the MeltanoLabs tap-postgres refuses URLs without one). It is
tuned for speed, not durability (fsync, synchronous_commit and full_page_writes are off): what
it holds is a copy, thrown away after use.

PostgreSQL refuses to run as root. When this runs as root the data directory is owned by, and the
server runs as, the ``postgres`` system user, or a system user ``airflow-audit-pg`` created with
``useradd`` when there is no ``postgres`` user.

The tests, the demo and the benchmarks start their servers with it too (tests/fixtures/postgres.py).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import hashlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

ENV_URL = "AIRFLOW_AUDIT_SCRATCH_URL"
DEFAULT_SUPERUSER = "airflow_audit"
DEFAULT_PASSWORD = "airflow-audit-throwaway-pw"
FALLBACK_SYSTEM_USER = "airflow-audit-pg"
STATE_FILE = "state.json"
URL_FILE = "url"

INSTALL_HINT = (
    "No PostgreSQL server is available to restore into: install one with `apt-get install "
    "postgresql` (or `pip install pgserver`), or point {env} at an existing server "
    "(a postgresql://user:password@host:port/postgres URL whose user may create databases)."
)


class PostgresUnavailable(RuntimeError):
    """No way to get a PostgreSQL server was found."""


class PostgresStartError(RuntimeError):
    """The server was found but did not start (the message carries the end of its log)."""


# ---------------------------------------------------------------------------------------------
# Finding binaries
# ---------------------------------------------------------------------------------------------


def _version_key(path: str) -> tuple:
    m = re.search(r"/postgresql/([0-9.]+)/bin", path)
    if not m:
        return (0,)
    return tuple(int(p) for p in m.group(1).split(".") if p.isdigit())


def find_system_bin_dir() -> Path | None:
    """Directory holding initdb and pg_ctl: from PATH first, else the highest /usr/lib/postgresql/*/bin."""
    initdb = shutil.which("initdb")
    pg_ctl = shutil.which("pg_ctl")
    if initdb and pg_ctl:
        real = Path(os.path.realpath(initdb)).parent
        if (real / "pg_ctl").exists() and (real / "postgres").exists():
            return real
        if Path(initdb).parent == Path(pg_ctl).parent:
            return Path(initdb).parent
    candidates = [
        d
        for d in glob.glob("/usr/lib/postgresql/*/bin")
        if os.path.exists(os.path.join(d, "initdb")) and os.path.exists(os.path.join(d, "pg_ctl"))
    ]
    if candidates:
        return Path(sorted(candidates, key=_version_key)[-1])
    return None


def find_pgserver_bin_dir() -> Path | None:
    """The bin directory of the ``pgserver`` wheel, found without importing it (its import has side effects)."""
    try:
        spec = importlib.util.find_spec("pgserver")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    bin_dir = Path(spec.origin).parent / "pginstall" / "bin"
    if (bin_dir / "initdb").exists() and (bin_dir / "pg_ctl").exists():
        return bin_dir
    return None


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _ensure_run_user() -> tuple[str, int, int]:
    """(name, uid, gid) of the system user the server runs as when we are root."""
    import pwd

    for name in ("postgres", FALLBACK_SYSTEM_USER):
        try:
            pw = pwd.getpwnam(name)
            return name, pw.pw_uid, pw.pw_gid
        except KeyError:
            continue
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    subprocess.run(
        [
            useradd,
            "--system",
            "--no-create-home",
            "--user-group",
            "--shell",
            "/usr/sbin/nologin",
            FALLBACK_SYSTEM_USER,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    pw = pwd.getpwnam(FALLBACK_SYSTEM_USER)
    return FALLBACK_SYSTEM_USER, pw.pw_uid, pw.pw_gid


def _user_groups(uid: int, gid: int) -> set[int]:
    import grp
    import pwd

    name = pwd.getpwuid(uid).pw_name
    groups = {gid}
    for g in grp.getgrall():
        if name in g.gr_mem:
            groups.add(g.gr_gid)
    return groups


def _can_traverse(path: Path, uid: int, gid: int, *, need_write: bool = False) -> bool:
    """Whether user uid can reach `path` (x on every ancestor; rwx on path itself when need_write)."""
    if uid == 0:
        return True
    groups = _user_groups(uid, gid)
    path = path.resolve()
    chain = [*reversed(path.parents), path]
    for i, p in enumerate(chain):
        try:
            st = p.stat()
        except FileNotFoundError:
            return False
        if st.st_uid == uid:
            bits = stat.S_IXUSR | (
                (stat.S_IWUSR | stat.S_IRUSR) if need_write and i == len(chain) - 1 else 0
            )
        elif st.st_gid in groups:
            bits = stat.S_IXGRP | (
                (stat.S_IWGRP | stat.S_IRGRP) if need_write and i == len(chain) - 1 else 0
            )
        else:
            bits = stat.S_IXOTH | (
                (stat.S_IWOTH | stat.S_IROTH) if need_write and i == len(chain) - 1 else 0
            )
        if st.st_mode & bits != bits:
            return False
    return True


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no server log was written)"
    return "\n".join(text.splitlines()[-lines:])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def replace_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(
        (parts.scheme, parts.netloc, "/" + quote(dbname), parts.query, parts.fragment)
    )


def _connect(url: str, **kwargs: Any):
    import psycopg2

    return psycopg2.connect(url, **kwargs)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


class ThrowawayPostgres:
    """A PostgreSQL server that lives as long as you need it (see the module docstring).

    :param base_dir: directory for the cluster (``<base_dir>/data``). Default: a new temporary
        directory, removed again by :meth:`stop`. A directory you pass is kept (only its ``data``
        is removed by ``stop(remove_data=True)``).
    :param user/password: superuser created by initdb (ignored for an external server).
    :param port: TCP port; default a free one.
    :param bin_dir: force a directory holding initdb/pg_ctl/postgres (skips the lookup).
    :param use_env: honour the existing server named by ``env_var`` (default True).
    :param env_var: the variable holding an existing server's URL (``AIRFLOW_AUDIT_SCRATCH_URL``).
    :param startup_timeout: seconds to wait for the server to accept connections.
    :param settings: server settings over the defaults, e.g. ``{"wal_level": "replica",
        "max_wal_senders": "4"}`` for :meth:`base_backup`.
    """

    def __init__(
        self,
        base_dir: str | os.PathLike | None = None,
        *,
        user: str = DEFAULT_SUPERUSER,
        password: str = DEFAULT_PASSWORD,
        port: int | None = None,
        bin_dir: str | os.PathLike | None = None,
        use_env: bool = True,
        env_var: str = ENV_URL,
        startup_timeout: float = 60.0,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.settings = dict(settings or {})
        self.user = user
        self.password = password
        self.port = port
        self.startup_timeout = startup_timeout
        self._requested_base = Path(base_dir).absolute() if base_dir else None
        self._requested_bin = Path(bin_dir) if bin_dir else None
        self._use_env = use_env
        self._env_var = env_var
        self.base_dir: Path | None = None
        self.data_dir: Path | None = None
        self.bin_dir: Path | None = None
        self.backend: str | None = None  # "external" | "system" | "pgserver"
        self.run_user: str | None = None
        self._uid: int | None = None
        self._gid: int | None = None
        self._external_url: str | None = None
        self._owns_base_dir = False
        # the directory under /tmp that stands in for a requested one the server user cannot reach
        self._stand_in_base = False
        self._started = False
        self._atexit_registered = False

    # -- public API -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``postgresql://USER:PASSWORD@127.0.0.1:PORT/postgres`` (or the external URL)."""
        if self._external_url:
            return self._external_url
        if not self._started:
            raise RuntimeError("ThrowawayPostgres is not started")
        return (
            f"postgresql://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@127.0.0.1:{self.port}/postgres"
        )

    def url_for(self, dbname: str) -> str:
        return replace_database(self.url, dbname)

    @property
    def log_file(self) -> Path | None:
        return self.data_dir / "server.log" if self.data_dir else None

    def start(self, *, stop_at_exit: bool = True) -> ThrowawayPostgres:
        """Start (or attach to) the server. Returns self. Idempotent."""
        if self._started:
            return self
        env_url = os.environ.get(self._env_var, "").strip() if self._use_env else None
        if env_url:
            self._external_url = env_url
            self.backend = "external"
            self._started = True
            return self

        bin_dir, backend = self._resolve_binaries()
        self.backend = backend
        if _is_root():
            self.run_user, self._uid, self._gid = _ensure_run_user()
        else:
            self.run_user, self._uid, self._gid = None, os.getuid(), os.getgid()
        if _is_root() and not _can_traverse(bin_dir, self._uid, self._gid):
            bin_dir = self._copy_binaries_somewhere_readable(bin_dir)
        self.bin_dir = bin_dir

        self._prepare_dirs()
        assert self.data_dir is not None
        try:
            self._start_cluster()
        except BaseException:
            self._force_stop()
            if self._owns_base_dir and self.base_dir is not None:
                shutil.rmtree(self.base_dir, ignore_errors=True)
            raise
        self._started = True
        if stop_at_exit and not self._atexit_registered:
            atexit.register(self._atexit_stop)
            self._atexit_registered = True
        return self

    def _start_cluster(self) -> None:
        assert self.data_dir is not None
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        if self.port is None:
            self.port = free_port()
        self._write_conf()

        last_error: Exception | None = None
        for _attempt in range(3):
            try:
                self._pg_ctl_start()
                self._wait_ready()
                last_error = None
                break
            except PostgresStartError as exc:
                last_error = exc
                log = _tail(self.log_file) if self.log_file else ""
                self._force_stop()
                if "Address already in use" in log or "could not bind" in log:
                    self.port = free_port()
                    self._write_conf()
                    continue
                break
        if last_error is not None:
            raise last_error

    def stop(self, *, remove_data: bool = True) -> None:
        """Stop the server (not an external one) and remove what start() created."""
        if self.backend == "external":
            self._started = False
            return
        if self.data_dir is not None and self.data_dir.exists():
            self._pg_ctl_stop()
        self._started = False
        if remove_data:
            if self._owns_base_dir and self.base_dir is not None:
                shutil.rmtree(self.base_dir, ignore_errors=True)
            elif self.data_dir is not None:
                shutil.rmtree(self.data_dir, ignore_errors=True)
                if self._stand_in_base and self.base_dir is not None:
                    # left empty: else another server uses it (the same requested directory)
                    with contextlib.suppress(OSError):
                        self.base_dir.rmdir()

    def is_running(self) -> bool:
        if self.backend == "external":
            return True
        pid = self._postmaster_pid()
        return pid is not None and _pid_alive(pid)

    def connect(self, dbname: str = "postgres", **kwargs: Any):
        """A psycopg2 connection to `dbname`."""
        return _connect(self.url_for(dbname), **kwargs)

    def create_database(self, name: str, *, if_exists: str = "replace") -> str:
        """Create database `name` and return its URL.

        :param if_exists: ``"replace"`` (drop and recreate), ``"reuse"`` or ``"error"``.
        """
        conn = _connect(self.url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                exists = cur.fetchone() is not None
                if exists:
                    if if_exists == "error":
                        raise RuntimeError(f"database {name!r} already exists")
                    if if_exists == "reuse":
                        return self.url_for(name)
                    cur.execute(f"DROP DATABASE {_quote_ident(name)} WITH (FORCE)")
                cur.execute(
                    f"CREATE DATABASE {_quote_ident(name)} TEMPLATE template0 ENCODING 'UTF8'"
                )
        finally:
            conn.close()
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        conn = _connect(self.url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
        finally:
            conn.close()

    def base_backup(self, destination: Path) -> Path:
        """A physical copy of the running cluster (``pg_basebackup -X stream``), as a backup tool
        takes it; needs ``wal_level`` replica and ``max_wal_senders`` > 0 (``settings``)."""
        assert self.bin_dir is not None and self.base_dir is not None
        destination = self.base_dir / destination.name
        destination.mkdir(mode=0o700)
        if _is_root():
            os.chown(destination, self._uid, self._gid)
        res = self._run(
            [
                str(self.bin_dir / "pg_basebackup"),
                "--dbname",
                f"host=127.0.0.1 port={self.port} user={self.user} password={self.password}",
                "-D",
                str(destination),
                "-X",
                "stream",
                "--checkpoint=fast",
                "--no-sync",
            ]
        )
        if res.returncode != 0:
            raise PostgresStartError(f"pg_basebackup failed: {res.stdout[-2000:]}")
        return destination

    def restore(self, backup: Path) -> None:
        """Stop the server, put `backup` in place of its data and start it in archive recovery:
        it replays the backup's WAL, ends recovery and starts a new timeline, as a point-in-time
        recovery or a promoted replica does. Same port, same URL."""
        assert self.data_dir is not None
        self._pg_ctl_stop()
        shutil.rmtree(self.data_dir)
        shutil.copytree(backup, self.data_dir, symlinks=True)
        # The socket's lock file (the socket lives in the data directory) came along: the old one.
        for stale in self.data_dir.glob(".s.PGSQL.*"):
            stale.unlink()
        (self.data_dir / "recovery.signal").touch()
        if _is_root():
            for root, dirs, files in os.walk(self.data_dir):
                for name in [*dirs, *files]:
                    os.chown(os.path.join(root, name), self._uid, self._gid, follow_symlinks=False)
            os.chown(self.data_dir, self._uid, self._gid)
        os.chmod(self.data_dir, 0o700)
        # No WAL archive: recovery replays the WAL the backup holds, asks the archive for more,
        # gets none, and ends there on a new timeline.
        self.settings["restore_command"] = "'false'"
        self._write_conf()
        self._pg_ctl_start()
        self._wait_ready()

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = (self._external_url and "external") or (self.data_dir and str(self.data_dir))
        return f"<ThrowawayPostgres backend={self.backend} port={self.port} at={where}>"

    # -- state for the CLI ------------------------------------------------------------------

    def state(self) -> dict:
        return {
            "backend": self.backend,
            "url": self.url,
            "base_dir": str(self.base_dir) if self.base_dir else None,
            "data_dir": str(self.data_dir) if self.data_dir else None,
            "bin_dir": str(self.bin_dir) if self.bin_dir else None,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "run_user": self.run_user,
            "owns_base_dir": self._owns_base_dir,
            "stand_in_base": self._stand_in_base,
        }

    @classmethod
    def from_state(cls, state: dict) -> ThrowawayPostgres:
        pg = cls(user=state["user"], password=state["password"], port=state["port"], use_env=False)
        pg.backend = state["backend"]
        if pg.backend == "external":
            pg._external_url = state["url"]
        else:
            pg.base_dir = Path(state["base_dir"]) if state.get("base_dir") else None
            pg.data_dir = Path(state["data_dir"]) if state.get("data_dir") else None
            pg.bin_dir = Path(state["bin_dir"]) if state.get("bin_dir") else None
            pg.run_user = state.get("run_user")
            pg._owns_base_dir = bool(state.get("owns_base_dir"))
            pg._stand_in_base = bool(state.get("stand_in_base"))
            if pg.run_user:
                import pwd

                pw = pwd.getpwnam(pg.run_user)
                pg._uid, pg._gid = pw.pw_uid, pw.pw_gid
        pg._started = True
        return pg

    # -- internals --------------------------------------------------------------------------

    def _resolve_binaries(self) -> tuple[Path, str]:
        if self._requested_bin:
            return self._requested_bin, "system"
        system = find_system_bin_dir()
        if system:
            return system, "system"
        wheel = find_pgserver_bin_dir()
        if wheel:
            return wheel, "pgserver"
        raise PostgresUnavailable(INSTALL_HINT.format(env=self._env_var))

    def _copy_binaries_somewhere_readable(self, bin_dir: Path) -> Path:
        """The pgserver wheel may sit below a directory the server user cannot enter: copy it to /tmp.

        Its binaries find their vendored libraries through an RPATH relative to site-packages
        (``$ORIGIN/../../../pgserver.libs``), so the layout ``pgserver/pginstall`` + ``pgserver.libs``
        is kept.
        """
        install = bin_dir.parent  # .../site-packages/pgserver/pginstall
        site = install.parent.parent
        digest = hashlib.md5(str(install).encode()).hexdigest()[:10]
        dest = Path(tempfile.gettempdir()) / f"airflow-audit-pginstall-{digest}"
        rel = install.relative_to(site)
        if not (dest / rel / "bin" / "postgres").exists():
            tmp = Path(str(dest) + f".tmp{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(install, tmp / rel, symlinks=True)
            for libs in site.glob(f"{rel.parts[0]}.libs"):
                shutil.copytree(libs, tmp / libs.name, symlinks=True)
            for root, _dirs, files in os.walk(tmp):
                os.chmod(root, 0o755)
                for f in files:
                    p = os.path.join(root, f)
                    if not os.path.islink(p):
                        mode = os.stat(p).st_mode
                        os.chmod(p, mode | 0o444 | (0o111 if mode & 0o100 else 0))
            shutil.rmtree(dest, ignore_errors=True)
            tmp.rename(dest)
        return dest / rel / "bin"

    def _prepare_dirs(self) -> None:
        assert self._uid is not None and self._gid is not None
        if self._requested_base is not None:
            base = self._requested_base
            base.mkdir(parents=True, exist_ok=True)
            if _is_root() and not _can_traverse(base, self._uid, self._gid):
                # The server user cannot reach the requested directory: keep the cluster under /tmp.
                tag = hashlib.md5(str(base).encode()).hexdigest()[:10]
                base = Path(tempfile.gettempdir()) / f"airflow-audit-pg-{tag}"
                base.mkdir(mode=0o755, exist_ok=True)
                os.chmod(base, 0o755)
                self._stand_in_base = True
            self.base_dir = base
            self._owns_base_dir = False
        else:
            parent = Path(tempfile.gettempdir())
            self.base_dir = Path(tempfile.mkdtemp(prefix="airflow-audit-pg-", dir=parent))
            os.chmod(self.base_dir, 0o755)
            self._owns_base_dir = True
        self.data_dir = self.base_dir / "data"
        if not self.data_dir.exists():
            self.data_dir.mkdir(mode=0o700)
        if _is_root():
            os.chown(self.data_dir, self._uid, self._gid)
        os.chmod(self.data_dir, 0o700)

    def _run(self, args: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.STDOUT)
        kwargs.setdefault("text", True)
        env = dict(os.environ)
        for var in ("PGDATA", "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"):
            env.pop(var, None)
        env["LC_ALL"] = "C"
        env["LANG"] = "C"
        if _is_root():
            kwargs["user"] = self._uid
            kwargs["group"] = self._gid
            kwargs["extra_groups"] = []
            env["HOME"] = str(self.base_dir)
            env["USER"] = env["LOGNAME"] = self.run_user or ""
            kwargs.setdefault("cwd", str(self.base_dir))
        return subprocess.run(args, env=env, **kwargs)

    def _initdb(self) -> None:
        assert self.base_dir is not None and self.data_dir is not None and self.bin_dir is not None
        fd, pwfile = tempfile.mkstemp(prefix="pw-", dir=self.base_dir)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(self.password + "\n")
            if _is_root():
                os.chown(pwfile, self._uid, self._gid)
            os.chmod(pwfile, 0o600)
            res = self._run(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.user,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            )
        finally:
            with contextlib.suppress(OSError):
                os.unlink(pwfile)
        if res.returncode != 0:
            raise PostgresStartError(
                f"initdb failed (exit {res.returncode}):\n{res.stdout[-4000:]}"
            )

    def _write_conf(self) -> None:
        assert self.data_dir is not None
        sock_dir = str(self.data_dir)
        if len(sock_dir) + len("/.s.PGSQL.65535") > 100:
            sock_dir = ""  # path too long for a unix socket: TCP only
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{sock_dir}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "wal_level": "minimal",
            "max_wal_senders": "0",
            "max_wal_size": "4GB",
            "checkpoint_timeout": "30min",
            "shared_buffers": "256MB",
            "maintenance_work_mem": "256MB",
            "max_connections": "100",
            "timezone": "'UTC'",
            "log_timezone": "'UTC'",
            "logging_collector": "off",
            "log_line_prefix": "'%m [%p] '",
            "password_encryption": "'scram-sha-256'",
            **self.settings,
        }
        # postgresql.auto.conf is read last and is ours to rewrite on every start.
        text = "# written by tap_airflow_metadb/scratch_server.py\n" + "".join(
            f"{k} = {v}\n" for k, v in conf.items()
        )
        path = self.data_dir / "postgresql.auto.conf"
        path.write_text(text)
        if _is_root():
            os.chown(path, self._uid, self._gid)

    def _pg_ctl_start(self) -> None:
        assert self.data_dir is not None and self.bin_dir is not None
        log = self.data_dir / "server.log"
        res = self._run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(log), "-W", "start"],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if res.returncode != 0:
            raise PostgresStartError(
                f"pg_ctl start failed (exit {res.returncode}): {res.stdout.strip()}\n"
                f"--- last lines of {log} ---\n{_tail(log)}"
            )

    def _wait_ready(self) -> None:
        import psycopg2

        assert self.data_dir is not None
        deadline = time.monotonic() + self.startup_timeout
        url = (
            f"postgresql://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@127.0.0.1:{self.port}/postgres"
        )
        last = ""
        started = time.monotonic()
        while time.monotonic() < deadline:
            pid = self._postmaster_pid()
            if pid is not None and not _pid_alive(pid):
                break
            if pid is None and time.monotonic() - started > 0.5 and self.log_file is not None:
                with contextlib.suppress(OSError):
                    log = self.log_file.read_text(errors="replace")
                    if "FATAL:" in log or "PANIC:" in log:
                        break  # the postmaster gave up before writing postmaster.pid
            try:
                conn = psycopg2.connect(url, connect_timeout=3)
                conn.close()
                return
            except psycopg2.OperationalError as exc:
                last = str(exc).strip()
                if "password authentication failed" in last:
                    break
            time.sleep(0.1)
        raise PostgresStartError(
            f"PostgreSQL in {self.data_dir} did not accept connections on 127.0.0.1:{self.port} (gave up after "
            f"{time.monotonic() - started:.1f}s of {self.startup_timeout:.0f}s; last error: {last or 'none'}).\n"
            f"--- last lines of {self.log_file} ---\n{_tail(self.log_file)}"
        )

    def _postmaster_pid(self) -> int | None:
        if self.data_dir is None:
            return None
        try:
            first = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
            return int(first.strip())
        except (OSError, ValueError, IndexError):
            return None

    def _pg_ctl_stop(self) -> None:
        assert self.data_dir is not None
        pid = self._postmaster_pid()
        if pid is None or not _pid_alive(pid):
            return
        if self.bin_dir is not None and (self.bin_dir / "pg_ctl").exists():
            res = self._run(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "30",
                    "stop",
                ],
                stdin=subprocess.DEVNULL,
            )
            if res.returncode == 0:
                return
        self._force_stop()

    def _force_stop(self) -> None:
        """Stop our own postmaster by its pid (from postmaster.pid), escalating to SIGKILL."""
        pid = self._postmaster_pid()
        if pid is None:
            return
        for sig, wait in ((signal.SIGINT, 10.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            if not _pid_alive(pid):
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            end = time.monotonic() + wait
            while time.monotonic() < end and _pid_alive(pid):
                time.sleep(0.1)

    def _atexit_stop(self) -> None:
        with contextlib.suppress(Exception):
            if self._started:
                self.stop()
