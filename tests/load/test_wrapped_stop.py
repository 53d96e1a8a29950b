"""A wrapped third-party loader (Snowflake's, on fakesnow) stopped by SIGTERM or SIGINT ends as the
project's own loaders do: one sentence, exit code 128 + the signal's number, so that Meltano fails
the run. Before, the Singer SDK's handler (0.54, in the Snowflake target) wrote the records it
held and exited 0: a load Airflow stopped passed for a finished one. The BigQuery target's SDK
(0.22) has no handler: SIGTERM killed it without a word and SIGINT was a traceback; both go
through the same `wrapped_target.run` (no BigQuery here to run it against).
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time

import pytest

from tests.load.test_warehouses import (
    FakeSnowflake,
    extract,
    fakesnow_overlay,  # noqa: F401  (the fixture)
    plugin_bin,
    resolved_config,
)

# PostgreSQL, Meltano, dbt or Airflow: not in `make test-unit`.
pytestmark = pytest.mark.integration

SHIM = "target-airflow-audit-snowflake"


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_snowflake_loader_ends_in_one_sentence_and_fails_the_run(
    airflow_db,
    fakesnow_overlay,  # noqa: F811  (the fixture, imported above)
    tmp_path,
    stop,
):
    url = airflow_db("2.10.5", "snowflake_stop_source", dags=2, days=1)
    fake = FakeSnowflake(tmp_path, fakesnow_overlay)
    config = resolved_config(tmp_path, "mirror")
    messages = extract(url)
    loader = subprocess.Popen(
        [str(plugin_bin("loaders", SHIM, SHIM)), "--config", str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=fake.env(),
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(line.decode() for line in loader.stderr), daemon=True
    )
    reader.start()
    # The tap's whole output but its end: the loader holds records and waits for more.
    loader.stdin.write(messages.encode())
    loader.stdin.flush()
    deadline = time.monotonic() + 120
    while not any("full read started" in line for line in lines):  # past its start-up
        assert loader.poll() is None, "".join(lines)[-3000:]
        assert time.monotonic() < deadline, "".join(lines)[-3000:]
        time.sleep(0.1)
    time.sleep(1)
    loader.send_signal(stop)
    code = loader.wait(timeout=120)
    reader.join(timeout=30)
    loader.stdin.close()
    stderr = "".join(lines)
    assert code == 128 + stop, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == (
        f"{SHIM}: stopped by {stop.name} before it finished loading; what it committed stays, "
        "and the next run loads again from the last state it passed on, without duplicating a row."
    )
