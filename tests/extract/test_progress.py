"""Progress on a long read: the sentence a person watches, and its cost (one increment a row)."""

from __future__ import annotations

import io
import time

from tap_airflow_metadb.progress import CountingWriter, Progress, duration


def test_the_sentence_says_rows_share_time_left_and_rate():
    p = Progress("task_instance", lambda m: None, estimate=1_000_000, every=60)
    p.rows = 250_000
    text = p.sentence(p.started + 10)
    assert text == (
        "task_instance: 250,000 rows read, about 25% of the ~1,000,000 PostgreSQL estimates, "
        "about 30s left (25,000 rows/s)."
    )
    # no estimate (an incremental read, or a table never analyzed): rows and rate only
    q = Progress("log", lambda m: None, estimate=None, every=60)
    q.rows = 90
    assert q.sentence(q.started + 3) == "log: 90 rows read (30 rows/s)."
    # past the estimate (statistics are old): never 100% or a negative time left
    p.rows = 1_200_000
    assert "about 100%" not in p.sentence(p.started + 10) and "left" not in p.sentence(
        p.started + 10
    )


def test_durations_read_as_a_person_reads_them():
    assert [duration(s) for s in (4.4, 75, 3600 * 2 + 61)] == ["4s", "1m15s", "2h01m"]


def test_the_watcher_speaks_while_the_read_runs_and_stops_with_it():
    said: list[str] = []
    with Progress("dag_run", said.append, estimate=100, every=0.01) as p:
        writer = CountingWriter(io.BytesIO(), p)
        for _ in range(40):
            writer.write(b"a,b\n")
        deadline = time.monotonic() + 5
        while not said and time.monotonic() < deadline:
            time.sleep(0.01)
    assert said and said[-1].startswith("dag_run: 40 rows read, about 40% of the ~100")
    after = len(said)
    time.sleep(0.05)
    assert len(said) == after, "the watcher outlived the read"
