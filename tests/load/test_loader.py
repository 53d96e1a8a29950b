"""The DuckDB loader, as Meltano runs it: the installed executable fed real Singer messages.

PyPI's target-duckdb 0.8.0 drops a batch's first row when DuckDB takes it for a CSV header;
these tests prove this loader loses nothing at batch boundaries, never duplicates, deletes only
after a complete full-table read, and passes STATE on only once the rows before it are stored.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from tests.support import ROOT

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration

TARGET = ROOT / ".meltano/loaders/target-airflow-audit-duckdb/venv/bin/target-airflow-audit-duckdb"
STREAM = "public-dag_run"
SCHEMA = {
    "type": "SCHEMA",
    "stream": STREAM,
    "key_properties": ["id"],
    "schema": {
        "properties": {
            "id": {"type": ["integer"]},
            "dag_id": {"type": ["string", "null"]},
            "state": {"type": ["string", "null"]},
            "start_date": {"type": ["string", "null"], "format": "date-time"},
            "conf": {"type": ["string", "number", "integer", "array", "object", "boolean"]},
            "note": {"type": ["string", "null"]},
            # Columns named like Singer message fields (Airflow 3's dag_bundle has `version`).
            "version": {"type": ["string", "null"]},
            "time_extracted": {"type": ["string", "null"]},
        }
    },
}


def record(i: int, version: int | None = None, **overrides) -> dict:
    # Every value a string on purpose: a CSV sniffer takes such a first row for a header.
    row = {
        "id": i,
        "dag_id": f"dag_{i % 7}",
        "state": "success" if i % 3 else "failed",
        "start_date": f"2024-01-{1 + i % 28:02d}T10:00:00.123456+02:00",
        "conf": {"n": i, "nested": [i, "x"]} if i % 2 else None,
        "note": 'multi\nline, with "quotes" and , commas' if i % 5 == 0 else f"run {i}",
        "version": f"v{i}",
        "time_extracted": "not a time",
    }
    row.update(overrides)
    message = {
        "type": "RECORD",
        "stream": STREAM,
        "record": row,
        "time_extracted": "2024-05-01T00:00:00+00:00",
    }
    if version is not None:
        message["version"] = version
    return message


def run_target(messages: list[dict], tmp_path: Path, **config) -> list[str]:
    return run_target_done(messages, tmp_path, **config).stdout.splitlines()


def run_target_done(messages: list[dict], tmp_path: Path, **config) -> subprocess.CompletedProcess:
    config = {"path": str(tmp_path / "wh.duckdb"), "batch_size_rows": 7, **config}
    config_file = tmp_path / "target-config.json"
    config_file.write_text(json.dumps(config))
    stdin = "".join(json.dumps(m, separators=(",", ":")) + "\n" for m in messages)
    done = subprocess.run(
        [str(TARGET), "--config", str(config_file)],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def rows(tmp_path: Path, where: str = "") -> list[tuple]:
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        return con.execute(
            f'select id, dag_id, state, note, _sdc_deleted_at is not null from "airflow-local".dag_run {where} order by id'
        ).fetchall()


@pytest.mark.parametrize("count", [1, 6, 7, 8, 14, 15, 100])
def test_no_row_lost_at_batch_boundaries(tmp_path, count):
    run_target([SCHEMA, *(record(i) for i in range(1, count + 1))], tmp_path)
    got = rows(tmp_path)
    assert [r[0] for r in got] == list(range(1, count + 1))
    assert got[4][3] == 'multi\nline, with "quotes" and , commas' if count >= 5 else True


def test_types_and_time_zones(tmp_path):
    run_target([SCHEMA, record(1), record(2)], tmp_path)
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'airflow-local' and table_name = 'dag_run'"
            ).fetchall()
        )
        start, conf = con.execute(
            "select strftime(start_date at time zone 'UTC', '%Y-%m-%d %H:%M:%S.%f'), conf::varchar "
            'from "airflow-local".dag_run where id = 1'
        ).fetchone()
    assert types["id"] == "BIGINT"
    assert types["start_date"] == "TIMESTAMP WITH TIME ZONE"
    assert types["conf"] == "JSON"
    assert start == "2024-01-02 08:00:00.123456"
    assert json.loads(conf) == {"n": 1, "nested": [1, "x"]}
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        own = con.execute(
            'select "version", "time_extracted", _sdc_extracted_at::varchar '
            'from "airflow-local".dag_run where id = 2'
        ).fetchone()
    assert own == ("v2", "not a time", "2024-05-01 00:00:00+00")


def test_resent_rows_are_upserted_not_duplicated(tmp_path):
    run_target([SCHEMA, *(record(i) for i in range(1, 11))], tmp_path)
    # The tap's inclusive bookmark re-sends boundary rows; a row may even repeat in one batch.
    run_target(
        [SCHEMA, record(9), record(10, state="queued"), record(10, state="running"), record(11)],
        tmp_path,
    )
    got = rows(tmp_path)
    assert [r[0] for r in got] == list(range(1, 12))
    assert got[9][2] == "running"


def test_resent_rows_equal_to_the_stored_ones_are_confirmed_and_a_key_stored_twice_repaired(
    tmp_path,
):
    """The upsert finds the stored rows under a batch's keys once and works on them by row id:
    a row sent again unchanged keeps its `_sdc_batched_at` (what the incremental marts read), a
    changed row gets a new one, and a key the table holds twice (a hand edit) is stored once
    again, as sent, whether the row sent equals one of the two or not."""
    run_target([SCHEMA, *(record(i) for i in range(1, 11))], tmp_path)
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        for i in (4, 6):
            con.execute(
                "insert into \"airflow-local\".dag_run select * replace ('hand edit' as note) "
                'from "airflow-local".dag_run where id = ?',
                [i],
            )
        before = dict(
            con.execute('select id, _sdc_batched_at from "airflow-local".dag_run').fetchall()
        )
    resent = [
        record(2),
        record(4),
        record(5, state="queued"),
        record(6, note="new"),
        record(7, note="only the note changed"),
        record(12),
    ]
    run_target([SCHEMA, *resent], tmp_path)
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        now = con.execute(
            'select id, state, note, _sdc_batched_at from "airflow-local".dag_run order by id'
        ).fetchall()
    assert [r[0] for r in now] == [*range(1, 11), 12]
    by_id = {i: (state, note, batched_at) for i, state, note, batched_at in now}
    assert by_id[2][2] == before[2]
    assert by_id[4][:2] == (record(4)["record"]["state"], "run 4")
    assert by_id[5][0] == "queued"
    assert by_id[6][1] == "new"
    assert by_id[7][1] == "only the note changed"
    assert {i for i in by_id if by_id[i][2] != before.get(i)} == {4, 5, 6, 7, 12}


def test_a_changed_row_moves_to_the_end_and_a_dropped_column_is_emptied(tmp_path):
    """A changed row is written anew at the end of the table (after every row it kept), where the
    rows of the last sync lie together; the others keep their place, so their row groups keep
    one `_sdc_batched_at` and a build's filter on the change time skips them (README "How
    fast"). What the batch does not carry becomes NULL, as in a new row."""
    run_target([SCHEMA, *(record(i) for i in range(1, 11))], tmp_path)
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        before = [
            i
            for (i,) in con.execute(
                'select id from "airflow-local".dag_run order by rowid'
            ).fetchall()
        ]
    # `note` no longer sent (a column the source dropped): the SCHEMA without it
    narrower = json.loads(json.dumps(SCHEMA))
    del narrower["schema"]["properties"]["note"]
    changed = [record(i, state="queued") for i in (3, 8)]
    for message in changed:
        del message["record"]["note"]
    run_target([narrower, *changed, record(11)], tmp_path)
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        now = con.execute(
            'select id, rowid, state, note from "airflow-local".dag_run order by id'
        ).fetchall()
    assert [r[0] for r in now] == list(range(1, 12))
    # in storage order (a checkpoint may renumber the row ids, never reorder the rows)
    stored = [i for i, _, _, _ in sorted(now, key=lambda row: row[1])]
    assert stored[:8] == [i for i in before if i not in (3, 8)]
    assert sorted(stored[8:]) == [3, 8, 11]
    assert {i: (state, note) for i, _, state, note in now if i in (3, 8)} == {
        3: ("queued", None),
        8: ("queued", None),
    }
    # the rows not sent keep their note
    assert now[0][3] == "run 1"


def test_a_write_is_stamped_after_every_row_before_it_whatever_the_clock(tmp_path):
    """`_sdc_batched_at` orders writes even when the host that writes has a clock behind the one
    that wrote last (here: the stored rows stamped an hour ahead of this host): the changed and
    the new rows are stamped after them, not at this host's now, so the marts' "loaded after the
    last build" and reconciliation's "written after the last check" still find them."""
    run_target([SCHEMA, *(record(i) for i in range(1, 6))], tmp_path)
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        (ahead,) = con.execute(
            'update "airflow-local".dag_run set _sdc_batched_at = now() + interval 1 hour '
            "returning _sdc_batched_at"
        ).fetchone()
    run_target([SCHEMA, record(2, state="queued"), record(6)], tmp_path)
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        stamps = dict(
            con.execute('select id, _sdc_batched_at from "airflow-local".dag_run').fetchall()
        )
    assert {i: stamps[i] for i in (1, 3, 4, 5)} == dict.fromkeys((1, 3, 4, 5), ahead)
    assert stamps[2] == stamps[6] == ahead + dt.timedelta(microseconds=1)
    # and on this host's clock once it is ahead of the latest stamp
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        con.execute(
            'update "airflow-local".dag_run set _sdc_batched_at = _sdc_batched_at - interval 2 hours'
        )
    before = dt.datetime.now(dt.timezone.utc)
    run_target([SCHEMA, record(7)], tmp_path)
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        (stamp,) = con.execute(
            'select _sdc_batched_at from "airflow-local".dag_run where id = 7'
        ).fetchone()
    assert before <= stamp <= dt.datetime.now(dt.timezone.utc)


def test_full_table_deletes_only_after_the_read_completes(tmp_path):
    activate = {"type": "ACTIVATE_VERSION", "stream": STREAM}
    run_target(
        [
            SCHEMA,
            {**activate, "version": 1},
            *(record(i, 1) for i in range(1, 21)),
            {**activate, "version": 1},
        ],
        tmp_path,
    )
    assert len(rows(tmp_path)) == 20
    # Interrupted read of version 2 (no closing ACTIVATE_VERSION): nothing may disappear.
    done = run_target_done(
        [SCHEMA, {**activate, "version": 2}, *(record(i, 2) for i in range(1, 6))], tmp_path
    )
    assert len(rows(tmp_path)) == 20
    assert "the full read of 'dag_run' did not finish: 5 of its rows were upserted" in done.stderr
    # The extractor failed before the read sent a row (a lost connection, a timeout): none came.
    done = run_target_done([SCHEMA, {**activate, "version": 5}], tmp_path)
    assert len(rows(tmp_path)) == 20
    assert (
        "the full read of 'dag_run' did not finish: none of its rows were loaded; the next run "
        "reads it again."
    ) in done.stderr
    # Complete read of version 3 with rows 1-5: the other 15 were deleted at the source.
    run_target(
        [
            SCHEMA,
            {**activate, "version": 3},
            *(record(i, 3) for i in range(1, 6)),
            {**activate, "version": 3},
        ],
        tmp_path,
    )
    assert [r[0] for r in rows(tmp_path)] == [1, 2, 3, 4, 5]
    # A complete read of an empty table empties it.
    run_target([SCHEMA, {**activate, "version": 4}, {**activate, "version": 4}], tmp_path)
    assert rows(tmp_path) == []


def test_archive_mode_keeps_deleted_rows_marked(tmp_path):
    activate = {"type": "ACTIVATE_VERSION", "stream": STREAM}
    run_target(
        [
            SCHEMA,
            {**activate, "version": 1},
            *(record(i, 1) for i in range(1, 11)),
            {**activate, "version": 1},
        ],
        tmp_path,
        mode="archive",
    )
    run_target(
        [
            SCHEMA,
            {**activate, "version": 2},
            *(record(i, 2) for i in range(1, 4)),
            {**activate, "version": 2},
        ],
        tmp_path,
        mode="archive",
    )
    got = rows(tmp_path)
    assert len(got) == 10
    assert [r[0] for r in got if r[4]] == list(range(4, 11))
    # A row that comes back at the source is live again.
    run_target(
        [
            SCHEMA,
            {**activate, "version": 3},
            *(record(i, 3) for i in range(1, 6)),
            {**activate, "version": 3},
        ],
        tmp_path,
        mode="archive",
    )
    assert [r[0] for r in rows(tmp_path) if not r[4]] == [1, 2, 3, 4, 5]


def test_state_is_passed_on_only_after_the_rows_before_it_are_stored(tmp_path):
    state = {"type": "STATE", "value": {"bookmarks": {STREAM: {"replication_key_value": 5}}}}
    out = run_target(
        [SCHEMA, *(record(i) for i in range(1, 6)), state], tmp_path, batch_size_rows=1000
    )
    assert [json.loads(line) for line in out] == [state["value"]]
    assert len(rows(tmp_path)) == 5


@pytest.mark.parametrize(
    ("config", "phrase"),
    [
        ({"env_slug": "Bad Slug"}, "cannot make a schema name"),
        ({"mode": "append"}, "AIRFLOW_AUDIT_MODE"),
        # refused once the warehouse is open
        ({"threads": "two"}, "AIRFLOW_AUDIT_DUCKDB_THREADS"),
    ],
)
def test_bad_configuration_is_one_sentence_and_loses_nothing(tmp_path, config, phrase):
    run_target([SCHEMA, record(1)], tmp_path)
    config_file = tmp_path / "bad.json"
    config_file.write_text(json.dumps({"path": str(tmp_path / "wh.duckdb"), **config}))
    temp = tmp_path / "tmp"
    temp.mkdir()
    done = subprocess.run(
        [str(TARGET), "--config", str(config_file)],
        input=json.dumps(SCHEMA) + "\n",
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    assert done.returncode == 2
    assert phrase in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert len(rows(tmp_path)) == 1
    assert list(temp.glob("*/airflow-audit-run-*")) == [], (
        "a loader that never started spools nothing"
    )


BIG_NOTE = "x" * (17 * 1024 * 1024)  # a value longer than DuckDB's default largest JSON object


def test_a_small_memory_limit_loads_small_and_large_rows(tmp_path):
    """The record reader holds twice the batch's longest line, not twice a fixed 256 MiB: with a
    memory limit of 256MB a batch of small rows, then one holding a 17 MiB value, load whole."""
    run_target([SCHEMA, *(record(i) for i in range(1, 10))], tmp_path, memory_limit="256MB")
    run_target([SCHEMA, record(10, note=BIG_NOTE)], tmp_path, memory_limit="256MB")
    got = rows(tmp_path)
    assert [r[0] for r in got] == list(range(1, 11))
    assert got[-1][3] == BIG_NOTE


def test_out_of_memory_is_one_sentence_and_loses_nothing(tmp_path):
    run_target([SCHEMA, record(1)], tmp_path)
    config_file = tmp_path / "small.json"
    config_file.write_text(
        json.dumps({"path": str(tmp_path / "wh.duckdb"), "memory_limit": "16MB"})
    )
    done = subprocess.run(
        [str(TARGET), "--config", str(config_file)],
        input="".join(json.dumps(m) + "\n" for m in [SCHEMA, record(2, note=BIG_NOTE)]),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert [r[0] for r in rows(tmp_path)] == [1]


def write_after_exit(command: list[str], first: list[dict], tmp_path: Path) -> str:
    """Start the loader, send `first`, wait for it to exit 2, then write on as an extractor
    would: 64 MiB, more than any pipe holds unread, with the extractor's files of two tables
    handed over on the way (`handed_over_after_exit`). Its standard error."""
    loader = subprocess.Popen(
        command, stdin=subprocess.PIPE, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    loader.stdin.write("".join(json.dumps(m) + "\n" for m in first).encode())
    loader.stdin.flush()
    assert loader.wait(timeout=120) == 2
    stderr = loader.stderr.read().decode()
    line = (json.dumps(record(1)) + "\n").encode()
    for i in range(64 * 1024 * 1024 // len(line)):
        loader.stdin.write(line)
        if i == 1000:
            for batch in handed_over_after_exit(tmp_path):
                loader.stdin.write((json.dumps(batch) + "\n").encode())
    loader.stdin.close()
    return stderr


def handed_over_after_exit(tmp_path: Path) -> list[dict]:
    """BATCH messages for files in an extractor's run directory (a second table's file there
    never handed over), and for a file in a directory not named as the extractor names them."""
    run_dir, other = tmp_path / "batches/airflow-audit-run-1", tmp_path / "elsewhere"
    for directory in (run_dir, other):
        directory.mkdir(parents=True)
    for path in (run_dir / "dag_run.csv", run_dir / "task_instance.csv", other / "dag.csv"):
        path.write_text("1,x\n")
    return [
        {
            "type": "BATCH",
            "stream": stream,
            "encoding": {"format": "postgresql-csv", "columns": ["id", "dag_id"]},
            "manifest": [path.as_uri()],
        }
        for stream, path in ((STREAM, run_dir / "dag_run.csv"), ("public-dag", other / "dag.csv"))
    ]


def assert_handed_over_files_removed(tmp_path: Path) -> None:
    """The run directory goes whole once the input ends; another directory's file stays."""
    deadline = time.monotonic() + 15
    while (tmp_path / "batches/airflow-audit-run-1").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list((tmp_path / "batches").iterdir()) == []
    assert (tmp_path / "elsewhere/dag.csv").exists()


def test_a_loader_that_stops_early_keeps_reading_until_the_extractors_output_ends(tmp_path):
    """Meltano 4.4 prints a traceback when it writes the extractor's next line into a loader
    that has exited (meltano/meltano#7047). A loader ending on a UserError therefore leaves its
    input open to a child that reads it to its end: the lines written after the loader exited
    are taken (a BrokenPipeError otherwise), and the pipe closes when the writer closes it.
    The extractor's files handed over meanwhile are removed: the failed run loaded none."""
    config_file = tmp_path / "target-config.json"
    config_file.write_text(json.dumps({"path": str(tmp_path / "wh.duckdb")}))
    foreign = {"type": "BATCH", "stream": STREAM, "encoding": {"format": "parquet"}}
    command = [str(TARGET), "--config", str(config_file)]
    stderr = write_after_exit(command, [SCHEMA, foreign], tmp_path)
    assert "holds 'parquet' files" in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert rows(tmp_path) == []
    assert_handed_over_files_removed(tmp_path)


@pytest.mark.parametrize("warehouse", ["snowflake", "bigquery"])
def test_a_wrapped_loader_that_stops_early_keeps_reading_too(tmp_path, warehouse):
    """The in-process wrappers of third-party targets do the same; here with no account."""
    name = f"target-airflow-audit-{warehouse}"
    config_file = tmp_path / "empty.json"
    config_file.write_text("{}")
    executable = ROOT / f".meltano/loaders/{name}/venv/bin/{name}"
    stderr = write_after_exit([str(executable), "--config", str(config_file)], [SCHEMA], tmp_path)
    assert f"{name}: " in stderr
    assert "AIRFLOW_AUDIT_" in stderr
    assert "Traceback" not in stderr
    assert_handed_over_files_removed(tmp_path)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_loader_keeps_what_it_committed_and_leaves_no_records_behind(tmp_path, stop):
    """Airflow stops a task that timed out by SIGTERM, a terminal by SIGINT. The loader ends in
    one sentence: the batch it committed stays, the records it was holding are neither loaded
    nor left on the host. A run killed outright (SIGKILL) leaves its records, which the next run
    removes a day later, and only those."""
    temp = tmp_path / "tmp"
    spool_root = temp / f"airflow-audit-spool-{os.geteuid()}"
    killed, running = spool_root / "airflow-audit-run-killed", spool_root / "airflow-audit-run-on"
    for left in (killed, running):
        left.mkdir(parents=True)
        (left / "0.jsonl").write_text(json.dumps(record(99)) + "\n")
    day_ago = time.time() - 25 * 3600
    os.utime(killed, (day_ago, day_ago))
    config_file = tmp_path / "target-config.json"
    config_file.write_text(json.dumps({"path": str(tmp_path / "wh.duckdb"), "batch_size_rows": 7}))
    state = {"type": "STATE", "value": {"bookmarks": {STREAM: {"replication_key_value": 7}}}}
    loader = subprocess.Popen(
        [str(TARGET), "--config", str(config_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    first = [SCHEMA, *(record(i) for i in range(1, 8)), state, *(record(i) for i in range(8, 11))]
    loader.stdin.write("".join(json.dumps(m) + "\n" for m in first).encode())
    loader.stdin.flush()
    # the first 7 rows committed: the state after them is passed on
    assert json.loads(loader.stdout.readline()) == state["value"]
    spooled = [
        p for p in spool_root.glob("airflow-audit-run-*/0.jsonl") if running not in p.parents
    ]
    assert len(spooled) == 1, "rows 8 to 10 wait in the loader's own spool"
    assert not killed.exists(), "a spool left a day ago by a killed run is removed"
    loader.send_signal(stop)
    assert loader.wait(timeout=60) == 128 + stop
    stderr = loader.stderr.read().decode()
    assert "Traceback" not in stderr
    assert f"stopped by {stop.name} before it finished loading;" in stderr.splitlines()[-1]
    assert sorted(spool_root.iterdir()) == [running], "its own spool removed, another run's kept"
    assert [r[0] for r in rows(tmp_path)] == list(range(1, 8))
