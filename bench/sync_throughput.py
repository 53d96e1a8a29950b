"""Benchmark: how fast airflow-audit syncs task_instance, against PostgreSQL's own COPY.

Everything is measured in one run on one machine, so ratios hold even where the machine is noisy:

* baseline: `COPY (select * from task_instance) TO STDOUT`, read to the end by this process;
* initial sync: `meltano run tap-airflow-metadb target-airflow-audit-duckdb` reading the whole table;
* no-change sync: the same again, nothing changed at the source;
* 1% sync: after 1% of the task instances were updated.

Usage: .venv/bin/python bench/sync_throughput.py [--task-instances 200000]
Prints the figures and ratios; asserts nothing (tests never time anything).
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import psycopg2

from tests.fixtures.airflow_history import fill, load_schema
from tests.fixtures.postgres import ThrowawayPostgres

ROOT = Path(__file__).resolve().parents[1]


class NullSink(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:
        return len(b)


def copy_baseline(url: str) -> float:
    started = time.perf_counter()
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.copy_expert("copy (select * from task_instance) to stdout", NullSink())
    return time.perf_counter() - started


def sync(url: str, warehouse: Path) -> tuple[float, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_AUDIT_")}
    env.update(
        AIRFLOW_AUDIT_SOURCE_URL=url,
        AIRFLOW_AUDIT_DUCKDB_PATH=str(warehouse),
        AIRFLOW_AUDIT_TABLES="task_instance",
        AIRFLOW_AUDIT_ENV_SLUG="bench",
        PATH=f"{ROOT / '.venv/bin'}{os.pathsep}{env['PATH']}",
    )
    started = time.perf_counter()
    done = subprocess.run(
        [
            str(ROOT / ".venv/bin/meltano"),
            "run",
            "tap-airflow-metadb",
            "target-airflow-audit-duckdb",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(done.stderr[-3000:])
    with duckdb.connect(str(warehouse), read_only=True) as con:
        sent = con.execute(
            'select records_sent from "airflow-bench"._airflow_audit_extracts '
            "where table_name = 'task_instance'"
        ).fetchone()[0]
    return elapsed, sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task-instances", type=int, default=200_000)
    parser.add_argument("--version", default="2.10.5")
    args = parser.parse_args()
    subprocess.run(
        [
            str(ROOT / ".venv/bin/meltano"),
            "state",
            "clear",
            "--force",
            "prod:tap-airflow-metadb-to-target-airflow-audit-duckdb:bench",
        ],
        cwd=ROOT,
        capture_output=True,
    )
    with ThrowawayPostgres() as pg, tempfile.TemporaryDirectory() as tmp:
        url = pg.create_database("bench")
        load_schema(url, args.version)
        fill(
            url,
            args.version,
            dags=max(20, args.task_instances // 5000),
            target_task_instances=args.task_instances,
            task_log_events="none",
        )
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("select count(*) from task_instance")
            rows = cur.fetchone()[0]
        warehouse = Path(tmp) / "bench.duckdb"
        copy_s = min(copy_baseline(url) for _ in range(3))
        initial_s, initial_sent = sync(url, warehouse)
        nochange_s, nochange_sent = sync(url, warehouse)
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute(
                "update task_instance set priority_weight = priority_weight + 1 "
                "where abs(hashtext(dag_id || task_id || run_id || map_index::text)) % 100 = 0"
            )
            changed = cur.rowcount
        pct_s, pct_sent = sync(url, warehouse)
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    print(f"task_instance rows: {rows:,} (Airflow {args.version} schema)")
    print(f"{'path':<44}{'wall s':>8}{'rows/s':>12}{'vs COPY':>10}{'rows sent':>12}")
    print(
        f"{'COPY to client (baseline, best of 3)':<44}{copy_s:>8.2f}{rows / copy_s:>12,.0f}{'1.0x':>10}{rows:>12,}"
    )
    for label, secs, sent in [
        ("initial sync (tap + target, full read)", initial_s, initial_sent),
        ("sync, nothing changed", nochange_s, nochange_sent),
        (f"sync after {changed:,} rows ({changed / rows:.1%}) changed", pct_s, pct_sent),
    ]:
        rate = f"{sent / secs:,.0f}" if sent else "-"
        print(f"{label:<44}{secs:>8.2f}{rate:>12}{secs / copy_s:>9.1f}x{sent:>12,}")
    print(f"peak RSS of the largest child process (meltano, tap or target): {peak_mb:,.0f} MB")
    print(
        "Each meltano run has ~4 s of fixed start-up; the 1% sync reads "
        f"{pct_sent / rows:.2%} of the table."
    )


if __name__ == "__main__":
    main()
