"""A throwaway PostgreSQL for the session, and Airflow databases filled on demand."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg2
import pytest

from tests.fixtures.airflow_history import fill, load_schema
from tests.fixtures.postgres import ThrowawayPostgres

VERSIONS = ["2.10.5", "3.3.2"]
# Small enough for CI, large enough to hold every kind of row the generator makes.
TEST_FILL = {"dags": 8, "days": 4, "seed": 7}


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


def source_query(url: str, sql: str) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        rows = cur.fetchall()
    conn.close()
    return rows
