"""Shared pytest fixtures: a throwaway PostgreSQL for the session, and Airflow databases filled
on demand.  The project's own packages are installed editable in .venv (`make install`), so
tests import them as any user would; helpers live in tests/support, test data in tests/fixtures."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.airflow_history import fill, load_schema
from tests.fixtures.postgres import ThrowawayPostgres
from tests.support import TEST_FILL


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`make test` runs a worker per core, a test file per worker at a time, the
    files of SHARE_FULL_JOBS together), each worker has its own Meltano system database, run folder
    and default dbt target/ and logs/, as the one process of a serial run has: two workers' runs of
    the same slug never share them. A test that names its own keeps it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    own = Path(tempfile.mkdtemp(prefix=f"airflow-audit-tests-{worker}-"))
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


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `--dist loadgroup` (`make test`), each test file is one unit a worker runs whole, as with
    `--dist loadfile`, except the files of SHARE_FULL_JOBS, which are one unit together."""
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        # the group is the suffix of the test's id under xdist: `...::test_x@core/test_naming`
        group = (
            "full-jobs"
            if path in SHARE_FULL_JOBS
            else path.removeprefix("tests/").removesuffix(".py")
        )
        item.add_marker(pytest.mark.xdist_group(group))


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
