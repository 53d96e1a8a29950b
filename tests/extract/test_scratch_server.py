"""The throwaway PostgreSQL (tap_airflow_metadb.scratch_server) leaves nothing behind: run as root,
it runs the server as an unprivileged user, and a directory asked for that this user cannot reach
(pytest's, readable by root alone) is replaced by one under /tmp, removed again when the server
stops."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import psycopg2
import pytest

from tests.fixtures.postgres import ThrowawayPostgres

# A real PostgreSQL: not in `make test-unit`.
pytestmark = pytest.mark.integration


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another user")
def test_a_stand_in_for_an_unreachable_directory_is_removed_when_the_server_stops(tmp_path):
    requested = tmp_path / "pg"
    tmp_path.chmod(0o700)
    pg = ThrowawayPostgres(requested, use_env=False)
    pg.start(stop_at_exit=False)
    try:
        stand_in = pg.base_dir
        # the server user could not reach pytest's directory: the cluster lives under /tmp
        assert stand_in is not None and stand_in.parent == Path(tempfile.gettempdir())
        assert stand_in.name.startswith("airflow-audit-pg-")
        with psycopg2.connect(pg.url) as conn, conn.cursor() as cur:
            cur.execute("select 1")
            assert cur.fetchone() == (1,)
    finally:
        pg.stop()
    assert not stand_in.exists()
    # what was asked for is the caller's: kept
    assert requested.is_dir()
