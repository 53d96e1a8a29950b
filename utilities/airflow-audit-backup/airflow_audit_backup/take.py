"""`take`: a pg_dump -Fc of the Airflow database, with the project's connection settings.

The file is written beside FILE under a temporary name and renamed when pg_dump succeeded, so
FILE is never a partial backup.  pg_dump waits for no lock longer than AIRFLOW_AUDIT_LOCK_TIMEOUT
(an `airflow db migrate` holding one stops the backup instead of queueing Airflow behind it).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path

from airflow_audit_core.errors import UserError
from tap_airflow_metadb import backup
from tap_airflow_metadb.snapshot import LOCK_TIMEOUT_DEFAULT, parse_timeout
from tap_airflow_metadb.source import describe, resolve_source_url


def take(file: Path, *, force: bool = False, notice=print) -> None:
    file = file.expanduser().absolute()
    if file.exists() and not force:
        raise UserError(f"{file} exists: name a new file, or add --force to replace it.")
    if not file.parent.is_dir():
        raise UserError(f"{file.parent} is not a directory: create it or name another file.")
    url = resolve_source_url(os.environ.get("AIRFLOW_AUDIT_SOURCE_URL"))
    lock_timeout = parse_timeout(
        os.environ.get("AIRFLOW_AUDIT_LOCK_TIMEOUT"),
        "AIRFLOW_AUDIT_LOCK_TIMEOUT",
        LOCK_TIMEOUT_DEFAULT,
    )
    partial = file.with_name(f".{file.name}.partial-{os.getpid()}")
    args = [
        backup.client_program("pg_dump"),
        "--format=custom",
        f"--lock-wait-timeout={lock_timeout}",
        "--no-password",
        "--file",
        str(partial),
    ]
    started = time.monotonic()
    try:
        done = subprocess.run(
            args, env=backup.libpq_env(url), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        if done.returncode != 0:
            raise UserError(
                dump_problem(
                    describe(url), backup.first_error(done.stdout.decode("utf-8", "replace"))
                )
            )
        os.replace(partial, file)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    notice(
        f"took {file} from {describe(url)} in {time.monotonic() - started:.1f}s "
        f"({file.stat().st_size / 1e6:.1f} MB); verifying it."
    )


def dump_problem(where: str, error: str) -> str:
    lowered = error.lower()
    if "server version mismatch" in lowered or "aborting because of server version" in lowered:
        return (
            f"pg_dump on this machine is older than the server at {where} ({error}): install the "
            "PostgreSQL client of that server's version."
        )
    if "lock" in lowered and "timeout" in lowered:
        return (
            f"pg_dump waited longer than AIRFLOW_AUDIT_LOCK_TIMEOUT for a lock on {where} "
            f"({error}): something (an `airflow db migrate`?) holds one; try again later."
        )
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return f"{where} refused the password ({error}): check AIRFLOW_AUDIT_SOURCE_URL."
    if "permission denied" in lowered:
        return (
            f"The user of AIRFLOW_AUDIT_SOURCE_URL may not read everything at {where} ({error}): "
            "a backup needs SELECT on every table and sequence; grant it, or take the backup as "
            "Airflow's own database user."
        )
    if "could not connect" in lowered or "connection to server" in lowered:
        return f"Could not reach {where} ({error}): check the host, port and that it is running."
    return f"pg_dump of {where} failed ({error})."
