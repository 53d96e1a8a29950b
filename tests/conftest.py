"""Shared pytest fixtures: a throwaway PostgreSQL for the session, and Airflow databases filled
on demand.  The project's own packages are installed editable in .venv (`make install`), so
tests import them as any user would; helpers live in tests/support, test data in tests/fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.fixtures.airflow_history import fill, load_schema
from tests.fixtures.postgres import ThrowawayPostgres
from tests.support import TEST_FILL


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
