"""Where the Meltano project is, which `meltano` runs it, and the environment it runs with.

Pure Python (no Airflow import): the operators call these, the unit tests call them directly.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow_audit_operator.connection_settings import SettingsError

# Airflow 3 rewrites the database URL to this inside a task, so tasks cannot reach its ORM.
BLOCKED_DB_URL = "airflow-db-not-allowed"
# Variables of the Airflow venv that must not leak into Meltano's Python.
PYTHON_ENV_LEAKS = ("VIRTUAL_ENV", "PYTHONHOME", "__PYVENV_LAUNCHER__")

# Meltano's log lines: "<timestamp> [error    ] <logger> <message>".
_MELTANO_LINE = re.compile(r"^\S+Z \[(?P<level>\w+)\s*\]\s+(?P<logger>\S+)\s+(?P<message>.*)$")
# Meltano's own error lines that only say that a plugin failed, not why.
_GENERIC_ERRORS = re.compile(r"^(\w+ failed|Block run completed|Run completed)\.?$")


def failure_reason(lines: Sequence[str]) -> str:
    """Why a `meltano run` failed, in one line, from its output.

    Meltano's first error line, unless it only says "Extractor failed": then the plugin's own
    last line before it (airflow-audit's plugins end with their one-sentence error; a crash
    ends with its exception line). Without Meltano's log format: the last line.
    """
    parsed = [(_MELTANO_LINE.match(line.strip()), line.strip()) for line in lines]
    for i, (match, _) in enumerate(parsed):
        if not match or match["level"] not in ("error", "critical"):
            continue
        message = match["message"].strip()
        if not _GENERIC_ERRORS.match(message):
            return message
        for earlier, _ in reversed(parsed[:i]):
            if earlier and earlier["logger"] != "meltano" and earlier["message"].strip():
                return earlier["message"].strip()
        return message
    return next((text for _, text in reversed(parsed) if text), "")


_RECONCILED = re.compile(
    r"airflow-audit-reconcile: (?P<table>[^:\s]+): source (?P<source>\d+), "
    r"warehouse (?P<warehouse>\d+): (?P<outcome>\w+)"
)


def reconcile_outcome(lines: Sequence[str], table: str) -> dict[str, Any]:
    """`airflow-audit-reconcile`'s line for `table` -> its figures and outcome."""
    for line in lines:
        match = _RECONCILED.search(line)
        if match and match["table"] == table:
            return {
                "table": table,
                "source_rows": int(match["source"]),
                "warehouse_rows": int(match["warehouse"]),
                "outcome": match["outcome"],
            }
    raise SettingsError(f"airflow-audit-reconcile printed no outcome for {table}.")


def find_project_dir(explicit: str | os.PathLike | None, environ: Mapping[str, str]) -> Path:
    """project_dir, else AIRFLOW_AUDIT_PROJECT_DIR, else the project this package sits in."""
    raw = explicit or environ.get("AIRFLOW_AUDIT_PROJECT_DIR", "").strip()
    if raw:
        path = Path(raw).expanduser()
        if not (path / "meltano.yml").is_file():
            raise SettingsError(
                f"{path} holds no meltano.yml: point project_dir (or AIRFLOW_AUDIT_PROJECT_DIR) "
                "at the airflow-audit project."
            )
        return path.resolve()
    # orchestrate/plugins/airflow_audit_operator/meltano_command.py -> the project root
    here = Path(__file__).resolve().parents[3]
    if (here / "meltano.yml").is_file():
        return here
    raise SettingsError(
        "Cannot tell where the airflow-audit project is: pass project_dir, or set "
        "AIRFLOW_AUDIT_PROJECT_DIR on the workers."
    )


def find_meltano(
    explicit: str | os.PathLike | None, project_dir: Path, environ: Mapping[str, str]
) -> Path:
    """meltano_bin, else AIRFLOW_AUDIT_MELTANO_BIN, else the project's .venv, else PATH."""
    raw = explicit or environ.get("AIRFLOW_AUDIT_MELTANO_BIN", "").strip()
    if raw:
        path = Path(raw).expanduser()
        if not os.access(path, os.X_OK) or path.is_dir():
            raise SettingsError(
                f"{path} is not an executable meltano: fix meltano_bin or "
                "AIRFLOW_AUDIT_MELTANO_BIN."
            )
        return path
    local = project_dir / ".venv" / "bin" / "meltano"
    if os.access(local, os.X_OK):
        return local
    found = shutil.which("meltano", path=environ.get("PATH"))
    if found:
        return Path(found)
    raise SettingsError(
        f"No meltano found (neither {local} nor on PATH): run `make install` in the project, "
        "or set AIRFLOW_AUDIT_MELTANO_BIN."
    )


def source_settings(
    *,
    conn_url: str | None,
    environ: Mapping[str, str],
    configured_url: str | None,
    configured_schema: str | None,
) -> dict[str, str]:
    """Where the tap reads from, in this order.

    1. `source_conn_id`'s connection (`conn_url`);
    2. AIRFLOW_AUDIT_SOURCE_URL already set on the worker (nothing to add);
    3. Airflow's own database (`[database] sql_alchemy_conn`), which Airflow 2 workers can
       read; Airflow 3 hides it from tasks, so there 1 or 2 is needed.
    """
    settings: dict[str, str] = {}
    if configured_schema and not environ.get("AIRFLOW_AUDIT_SOURCE_SCHEMA"):
        settings["AIRFLOW_AUDIT_SOURCE_SCHEMA"] = configured_schema
    if conn_url:
        settings["AIRFLOW_AUDIT_SOURCE_URL"] = conn_url
        return settings
    if environ.get("AIRFLOW_AUDIT_SOURCE_URL", "").strip():
        return settings
    url = (configured_url or "").strip()
    if not url or url.startswith(BLOCKED_DB_URL):
        raise SettingsError(
            "This Airflow does not let tasks read its database URL (Airflow 3 hides it): "
            "create a postgres connection to the Airflow database and pass its id as "
            "source_conn_id, or set AIRFLOW_AUDIT_SOURCE_URL on the workers."
        )
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme not in ("postgresql", "postgres"):
        raise SettingsError(
            f"This Airflow keeps its metadata in a {scheme} database, and airflow-audit reads "
            "PostgreSQL only: run Airflow on PostgreSQL, or pass source_conn_id."
        )
    settings["AIRFLOW_AUDIT_SOURCE_URL"] = url
    return settings


def subprocess_environment(
    base: Mapping[str, str],
    *,
    settings: Mapping[str, str | None],
    clear: Iterable[str],
    meltano_bin: Path,
) -> dict[str, str]:
    """The worker's environment, minus `clear` and Python-venv leaks, plus `settings`.

    A setting of None keeps the worker's own value (or its absence).  Secrets travel only
    here, in the child's environment: never on a command line, never in a log line.
    """
    env = {k: v for k, v in base.items() if k not in PYTHON_ENV_LEAKS}
    for name in clear:
        env.pop(name, None)
    env.update({k: v for k, v in settings.items() if v is not None})
    bin_dir = str(meltano_bin.parent)
    path = env.get("PATH", "")
    if bin_dir not in path.split(os.pathsep):
        env["PATH"] = f"{bin_dir}{os.pathsep}{path}" if path else bin_dir
    return env


@contextlib.contextmanager
def project_lock(
    project_dir: Path, environ: Mapping[str, str], on_wait: Callable[[Path], None]
) -> Iterator[None]:
    """One airflow-audit run at a time per Meltano project on this machine.

    Meltano keeps a plugin's run files in one place per project (`.meltano/run/<plugin>`), and
    DuckDB takes one writer: two overlapping runs (an hourly run and a per-table DAG, say) would
    break each other. A second run waits here instead (`on_wait` is told once).
    """
    sys_dir = Path(environ.get("MELTANO_SYS_DIR_ROOT") or project_dir / ".meltano")
    sys_dir.mkdir(parents=True, exist_ok=True)
    path = sys_dir / "airflow-audit-run.lock"
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(path)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
