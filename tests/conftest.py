"""Shared pytest fixtures: a throwaway PostgreSQL for the session, and Airflow databases filled
on demand.  The project's own packages are installed editable in .venv (`make install`), so
tests import them as any user would; helpers live in tests/support, test data in tests/fixtures."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.airflow_history import fill, load_schema
from tests.fixtures.postgres import ThrowawayPostgres
from tests.support import TEST_FILL

_OWN_DIR: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`make test` runs a worker per core, each running a unit of tests at a time:
    pytest_collection_modifyitems), each worker has its own Meltano system database, run folder
    and default dbt target/ and logs/, as the one process of a serial run has: two workers' runs of
    the same slug never share them. A test that names its own keeps it."""
    global _OWN_DIR
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    own = _OWN_DIR = Path(tempfile.mkdtemp(prefix=f"airflow-audit-tests-{worker}-"))
    os.environ.setdefault("MELTANO_DATABASE_URI", f"sqlite:///{own / 'meltano.db'}")
    # Meltano's run folder (.meltano/run/<plugin>/state.json ...) is one per project: each worker
    # gets a .meltano of its own whose plugin venvs are the project's, linked.
    shared = Path(__file__).resolve().parents[1] / ".meltano"
    sys_dir = own / "meltano"
    sys_dir.mkdir()
    for entry in shared.iterdir():
        if entry.name not in {"run", "logs", "meltano.db", "analytics.json"}:
            (sys_dir / entry.name).symlink_to(entry)
    os.environ.setdefault("MELTANO_SYS_DIR_ROOT", str(sys_dir))
    for name, folder in (
        ("DBT_TARGET_PATH", "target"),
        ("DBT_DUCKDB_TARGET_PATH", "target"),
        ("DBT_LOG_PATH", "logs"),
        ("DBT_DUCKDB_LOG_PATH", "logs"),
    ):
        os.environ.setdefault(name, str(own / folder))


# The files that read the session's full job of each Airflow version (tests.support.sync.full_job):
# it is built once per process, so they run in one worker and build it once (about 40 s a version).
SHARE_FULL_JOBS = {
    "tests/end_to_end/test_pipeline.py",
    "tests/report/test_report.py",
    "tests/transform/test_marts.py",
}

# Long files whose tests share nothing but the session's PostgreSQL (no fixture of a wider scope than
# the test, a warehouse and a slug of their own): each test is a unit of its own, so that one file
# does not keep one worker busy for minutes while the other has nothing left.
ONE_UNIT_PER_TEST = {
    "tests/end_to_end/test_history.py",
    "tests/end_to_end/test_incremental.py",
    "tests/end_to_end/test_incremental_marts.py",
    "tests/end_to_end/test_incremental_marts_clear.py",
}

# What each test took in a recent `make test` (`make test-durations` writes it): the units are handed
# to the workers longest first, so the last ones are short. A test not in it counts as
# UNKNOWN_SECONDS (an integration test) or a second.
DURATIONS = Path(__file__).with_name("durations.json")
UNKNOWN_SECONDS = 30.0


def unit_of(item: pytest.Item) -> str:
    """The test's unit: the worker that runs a unit runs all its tests, in one process."""
    path, _, name = item.nodeid.partition("::")
    if path in SHARE_FULL_JOBS:
        return "full-jobs"
    unit = path.removeprefix("tests/").removesuffix(".py")
    return f"{unit}::{name}" if path in ONE_UNIT_PER_TEST else unit


def estimated_seconds(item: pytest.Item, durations: dict[str, float]) -> float:
    if item.nodeid in durations:
        return durations[item.nodeid]
    return UNKNOWN_SECONDS if item.get_closest_marker("integration") else 1.0


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `--dist loadgroup` (`make test`), each unit (unit_of) is run whole by one worker, and the
    units are queued longest first (xdist keeps the order of collection with
    `--no-loadscope-reorder`); within a unit the tests keep their order."""
    durations = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    seconds: dict[str, float] = {}
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        unit = unit_of(item)
        seconds[unit] = seconds.get(unit, 0.0) + estimated_seconds(item, durations)
        first.setdefault(unit, index)
        # the group is the suffix of the test's id under xdist: `...::test_x@core/test_naming`
        item.add_marker(pytest.mark.xdist_group(unit))
    items.sort(key=lambda item: (-seconds[unit_of(item)], first[unit_of(item)]))


_TOOK: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Under `make test-durations`, what each test took (setup, call and teardown), by its id."""
    if os.environ.get("AIRFLOW_AUDIT_TEST_DURATIONS"):
        nodeid = report.nodeid.split("@", 1)[0]
        _TOOK[nodeid] = _TOOK.get(nodeid, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the durations of `make test-durations`, in the controller (not a worker); and remove
    this worker's own Meltano and dbt folders (pytest_configure), unless a test failed (its dbt logs
    are there)."""
    target = os.environ.get("AIRFLOW_AUDIT_TEST_DURATIONS")
    if target and _TOOK and not os.environ.get("PYTEST_XDIST_WORKER"):
        rounded = {nodeid: round(took, 1) for nodeid, took in sorted(_TOOK.items())}
        Path(target).write_text(json.dumps(rounded, indent=0) + "\n")
    if _OWN_DIR is not None and not session.testsfailed:
        shutil.rmtree(_OWN_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres]:
    with ThrowawayPostgres() as server:
        yield server


@pytest.fixture(scope="session")
def airflow_db(postgres: ThrowawayPostgres) -> Callable[..., str]:
    """make(version, name) -> URL of a new database holding a filled Airflow schema."""

    def make(version: str, name: str, *, filled: bool = True, **fill_args: int) -> str:
        url = postgres.create_database(name)
        load_schema(url, version)
        if filled:
            fill(url, version, **{**TEST_FILL, **fill_args})
        return url

    return make
