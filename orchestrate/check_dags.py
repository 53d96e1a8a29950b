"""Load orchestrate/dags in a real Airflow and report what it sees, as JSON on stdout.

    .airflow/venv-3/bin/python orchestrate/check_dags.py [--dags-folder DIR] [--output FILE]

Run with the Python of an Airflow venv (AIRFLOW_HOME somewhere disposable). It reports:

* `import_errors`: what Airflow's DagBag could not import, per file;
* `parse_time_calls`: subprocesses, sockets, DNS look-ups and database connections a DAG file
  opened while being imported (Python audit events) — there must be none;
* `dags`: per DAG its schedule, tags, catchup, max_active_runs, and per task its retry settings
  and downstream tasks, for the tests' integrity checks (and a `cycle` flag).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# Audit events that mean "touches a process, the network or a database".
FORBIDDEN_EVENTS = (
    "subprocess.Popen",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.fork",
    "socket.connect",
    "socket.getaddrinfo",
    "sqlite3.connect",
    "urllib.Request",
)

_recording: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if _recording is not None and event in FORBIDDEN_EVENTS:
        _recording.append(f"{event} {str(args)[:120]}")


def warm_up_airflow() -> None:
    """Airflow's own lazy start-up, not the DAG files' doing: configuration, ORM set-up, and
    croniter, whose import runs `file -b python` (platform.architecture) once."""
    from datetime import datetime, timezone

    from airflow_audit_operator import operators
    from airflow_audit_operator.compat import DAG

    with DAG("warm_up", schedule="0 0 * * *", start_date=datetime(2025, 1, 1, tzinfo=timezone.utc)):
        operators.MeltanoRunOperator(task_id="warm_up", meltano_run=["warm-up"])


def parse_time_calls(dags_folder: Path) -> dict[str, list[str]]:
    """Import every DAG file once, recording forbidden audit events."""
    global _recording
    sys.addaudithook(_audit)
    calls: dict[str, list[str]] = {}
    for path in sorted(dags_folder.glob("*.py")):
        _recording = []
        spec = importlib.util.spec_from_file_location(f"_parse_check_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        try:
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
        except Exception:  # reported by the DagBag below
            pass
        finally:
            if _recording:
                calls[path.name] = _recording
            _recording = None
    return calls


def dag_bag(dags_folder: Path) -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3: examples follow the config

        return DagBag(dag_folder=str(dags_folder))
    except ImportError:
        from airflow.models.dagbag import DagBag  # Airflow 2

        return DagBag(dag_folder=str(dags_folder), include_examples=False)


def has_cycle(dag: Any) -> bool:
    state: dict[str, int] = {}

    def visit(task_id: str) -> bool:
        if state.get(task_id) == 1:
            return True
        if state.get(task_id) == 2:
            return False
        state[task_id] = 1
        if any(visit(d) for d in dag.get_task(task_id).downstream_task_ids):
            return True
        state[task_id] = 2
        return False

    return any(visit(t) for t in dag.task_ids)


def _seconds(value: Any) -> float | None:
    return value.total_seconds() if isinstance(value, timedelta) else value


def schedule_of(dag: Any) -> str | None:
    """The schedule as written: a cron expression, a preset, or None."""
    # Airflow 2 keeps it in schedule_interval, Airflow 3 in schedule.
    value = dag.schedule_interval if hasattr(dag, "schedule_interval") else dag.schedule
    return None if value is None else str(value)


def describe(dag: Any) -> dict[str, Any]:
    return {
        "fileloc": Path(dag.fileloc).name,
        "schedule": schedule_of(dag),
        "tags": sorted(dag.tags),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "cycle": has_cycle(dag),
        "tasks": {
            task.task_id: {
                "operator": type(task).__name__,
                "retries": task.retries,
                "retry_delay_s": _seconds(task.retry_delay),
                "retry_exponential_backoff": task.retry_exponential_backoff,
                "max_retry_delay_s": _seconds(task.max_retry_delay),
                "downstream": sorted(task.downstream_task_ids),
                **{
                    name: getattr(task, name)
                    for name in (
                        "meltano_run",
                        "env",
                        "tables",
                        "additional_tables",
                        "destination_schema",
                        "service_connection_name",
                        "warehouse",
                        "table",
                    )
                    if hasattr(task, name)
                },
            }
            for task in dag.tasks
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dags-folder", type=Path, default=HERE / "dags")
    parser.add_argument("--output", type=Path, help="write the JSON here (default: stdout)")
    args = parser.parse_args(argv)
    folder = args.dags_folder.resolve()
    import airflow

    warm_up_airflow()
    calls = parse_time_calls(folder)
    bag = dag_bag(folder)
    report = {
        "airflow_version": airflow.__version__,
        "import_errors": {Path(k).name: v for k, v in bag.import_errors.items()},
        "parse_time_calls": calls,
        "dags": {dag_id: describe(dag) for dag_id, dag in sorted(bag.dags.items())},
    }
    text = json.dumps(report, indent=2, default=str) + "\n"
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
