"""What the generated DAGs are made of, read from files the project keeps (never from a database).

Pure Python (no Airflow import), so the DAG files stay thin and this is unit-tested in .venv.

* `load_schedules(path)`: the Meltano schedules, from the export `meltano schedule list
  --format=json` wrote (orchestrate/export_schedules.py keeps it in step).
* `load_per_table(path)`: the per-table DAGs, one per table, their start times staggered
  across a window (default 00:00 to 00:30 UTC).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow_audit_operator.connection_settings import WAREHOUSES, SettingsError

_ID_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Meltano's presets that mean "no schedule" in Airflow.
UNSCHEDULED = ("@manual", "@none", "")
# Every generated DAG starts here; catchup is off, so only the latest interval runs.
START_DATE = datetime(2025, 1, 1, tzinfo=timezone.utc)
TAG = "airflow-audit"


def default_args(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Retries with exponential backoff: 2, 4, 8 minutes (at most 30).

    AIRFLOW_AUDIT_DAG_RETRIES (an environment variable, read while parsing) changes the count.
    """
    raw = environ.get("AIRFLOW_AUDIT_DAG_RETRIES", "").strip() or "3"
    if not raw.isdigit():
        raise SettingsError(
            f"AIRFLOW_AUDIT_DAG_RETRIES is {raw!r}: set it to a whole number of retries, such as 3."
        )
    return {
        "owner": "airflow-audit",
        "retries": int(raw),
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
    }


@dataclass(frozen=True)
class ScheduleSpec:
    """One Meltano job schedule: one DAG, one `meltano run` task per job task."""

    name: str
    schedule: str | None
    job: str
    tasks: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def dag_id(self) -> str:
        return safe_id(self.name)

    def task_ids(self) -> list[str]:
        return [f"{i:02d}_{safe_id(blocks)}" for i, blocks in enumerate(self.tasks, start=1)]


@dataclass(frozen=True)
class TableSpec:
    """One table of the per-table mode: its DAG and the minute it starts."""

    table: str
    cron: str

    @property
    def dag_id(self) -> str:
        return f"airflow_audit_table_{self.table}"


@dataclass(frozen=True)
class PerTableConfig:
    warehouse: str
    service_connection_name: str
    meltano_run: tuple[str, ...]
    destination_schema: str | None
    reconcile: bool
    tables: tuple[TableSpec, ...]


def safe_id(text: str) -> str:
    """A DAG or task id Airflow accepts: letters, digits, `_`, `-` and `.`."""
    return _ID_CHARS.sub("_", text).strip("_")[:200]


def load_schedules(path: Path) -> list[ScheduleSpec]:
    """The job schedules of the export; `elt` schedules are refused (define them as jobs)."""
    data = _read_json(path)
    schedules = data.get("schedules") if isinstance(data, dict) else None
    if not isinstance(schedules, dict):
        raise SettingsError(
            f"{path} is not a `meltano schedule list --format=json` export: regenerate it with "
            "`make schedules`."
        )
    if schedules.get("elt"):
        names = ", ".join(s.get("name", "?") for s in schedules["elt"])
        raise SettingsError(
            f"The schedules {names} run `meltano elt`, which this project does not generate "
            "DAGs for: give them a `job:` instead."
        )
    specs = []
    for entry in schedules.get("job") or []:
        interval = (entry.get("interval") or "").strip()
        if interval in UNSCHEDULED:
            schedule = None
        elif interval.startswith("@once"):
            schedule = "@once"
        else:
            schedule = entry.get("cron_interval") or interval
        job = entry.get("job") or {}
        specs.append(
            ScheduleSpec(
                name=entry["name"],
                schedule=schedule,
                job=job.get("name", ""),
                tasks=tuple(_job_tasks(job.get("tasks") or [])),
                env={str(k): str(v) for k, v in (entry.get("env") or {}).items()},
            )
        )
    return specs


def _job_tasks(tasks: list[Any]) -> list[str]:
    """A job's tasks as `meltano run` arguments: "a b c", or a list of blocks run together."""
    out = []
    for task in tasks:
        out.append(" ".join(task) if isinstance(task, list) else str(task))
    return out


def stagger(tables: list[str], window_start: str, window_end: str) -> list[TableSpec]:
    """Spread the tables' daily start times evenly across [window_start, window_end) UTC."""
    start, end = _clock(window_start), _clock(window_end)
    if end <= start:
        end += timedelta(days=1)  # a window across midnight
    step = (end - start) / max(len(tables), 1)
    specs = []
    for i, table in enumerate(tables):
        at = start + step * i
        minutes = int(at.total_seconds() // 60) % (24 * 60)
        specs.append(TableSpec(table=table, cron=f"{minutes % 60} {minutes // 60} * * *"))
    return specs


def load_per_table(path: Path) -> PerTableConfig:
    data = _read_json(path)
    if not isinstance(data, dict):
        raise SettingsError(f"{path} must hold a JSON object: see orchestrate/README.md.")
    tables = data.get("tables")
    if not isinstance(tables, list) or not tables:
        raise SettingsError(f"{path} lists no tables: give `tables` as a list of table names.")
    bad = [t for t in tables if not isinstance(t, str) or not _TABLE.match(t)]
    if bad:
        raise SettingsError(f"{path} names {bad!r}, which cannot be Airflow table names.")
    if len(set(tables)) != len(tables):
        raise SettingsError(f"{path} lists a table twice: each table gets one DAG.")
    warehouse = data.get("warehouse", "duckdb")
    if warehouse not in WAREHOUSES:
        raise SettingsError(
            f"{path} names warehouse {warehouse!r}: choose one of {', '.join(WAREHOUSES)}."
        )
    meltano_run = data.get("meltano_run") or ["tap-airflow-metadb", "target-airflow-audit-duckdb"]
    return PerTableConfig(
        warehouse=warehouse,
        service_connection_name=data.get("service_connection_name") or "load_airflow",
        meltano_run=tuple(meltano_run),
        destination_schema=data.get("destination_schema") or None,
        reconcile=bool(data.get("reconcile", True)),
        tables=tuple(
            stagger(tables, data.get("window_start", "00:00"), data.get("window_end", "00:30"))
        ),
    )


def _clock(text: str) -> timedelta:
    m = _CLOCK.match(str(text).strip())
    if not m:
        raise SettingsError(f"{text!r} is not a time of day: write it as HH:MM, such as 00:30.")
    return timedelta(hours=int(m.group(1)), minutes=int(m.group(2)))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SettingsError(
            f"{path} is missing: regenerate it with `make schedules` (or restore it from git)."
        ) from None
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno}).") from None
