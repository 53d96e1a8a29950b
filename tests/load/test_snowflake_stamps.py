"""Snowflake's loader stamps each write after every row its table holds, whatever the hosts' clocks
(fakesnow: Snowflake's SQL on DuckDB).

The incremental marts read the rows loaded after the last build's latest `_sdc_batched_at`. A
loader on a host whose clock is behind the one that wrote last (a manual run from a laptop,
another Airflow worker) would stamp its rows before that, and the marts would skip them.  Here the
rows of `dag_run` are stamped an hour ahead, as such a host would have left them, and the next
load must stamp its rows a microsecond after them, while `task_instance`, stamped by this host, gets this
host's time.  Real Snowflake's MERGE and TIMESTAMP_TZ stay unverified.
"""

from __future__ import annotations

import time

import pytest

from tests.load.test_warehouses import (
    RAW,
    FakeSnowflake,
    extract,
    fakesnow_overlay,  # noqa: F401  (the fixture)
    fakesnow_write,
    load,
    resolved_config,
)

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration

HOUR_US = 3_600_000_000


def stamps(fake: FakeSnowflake, table: str) -> list[int]:
    """The table's distinct `_sdc_batched_at`, as microseconds since the epoch."""
    return [
        s
        for (s,) in fake.query(
            f"select distinct epoch_us(_SDC_BATCHED_AT) from {RAW}.{table} order by 1"
        )
    ]


def test_snowflake_stamps_each_write_after_every_row_its_table_holds(
    airflow_db,
    fakesnow_overlay,  # noqa: F811  (the fixture, imported above)
    tmp_path,
):
    url = airflow_db("2.10.5", "snowflake_stamps_source", dags=2, days=1)
    fake = FakeSnowflake(tmp_path, fakesnow_overlay)
    archive = resolved_config(tmp_path, "archive")
    messages = extract(url)
    load(fake, archive, messages)

    fakesnow_write(
        fake, f"update {RAW}.DAG_RUN set _SDC_BATCHED_AT = _SDC_BATCHED_AT + interval 1 hour"
    )
    latest = stamps(fake, "DAG_RUN")[-1]
    assert latest > time.time_ns() // 1000 + HOUR_US / 2, "the stamps were not moved ahead"

    before = time.time_ns() // 1000
    load(fake, archive, messages)
    after = time.time_ns() // 1000
    # every row of the second load, in one batch: a microsecond after the latest stamp
    assert stamps(fake, "DAG_RUN") == [latest + 1]
    # a table this host stamped last: this host's time
    (stamped,) = stamps(fake, "TASK_INSTANCE")
    assert before <= stamped <= after
