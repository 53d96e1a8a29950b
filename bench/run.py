"""`make bench`: what a sync costs, against PostgreSQL's own COPY and a peer, in one run.

For each size (task instances; 100k and 1M by default, 10M on request with --sizes), on one
throwaway PostgreSQL holding the Airflow schema filled by the project's generator and vacuumed
(vacuum_seconds):

* COPY: `COPY (SELECT * FROM t) TO STDOUT` of each default table, read to the end (best of 3);
* the full sync of the default tables, `meltano run tap-airflow-metadb target-airflow-audit-duckdb`,
  by file (the default) and by record (AIRFLOW_AUDIT_HANDOFF=records);
* dlt's `sql_database` with the connectorx and the pyarrow backends, into DuckDB (a venv of its
  own, bench/requirements-dlt.txt);
* each of these first syncs, up to FIRST_SYNC_REPEATS_UP_TO task instances, best of 3 as COPY
  (into a new warehouse each time; the peak RSS the largest of the 3): a run of a few seconds on a
  shared machine varies by a third from one run to the next;
* the whole job (`meltano run airflow-audit`: extract, load, reconcile, dbt build): first run,
  again with nothing changed, again after 1% of the task instances and DAG runs changed (spread
  over the whole history), again after an hour of new runs (the last hour's written again a day
  later: what an hourly run sees; the history ends a day before the bench), again after 1% of the
  task instances arrived as new runs (the latest runs holding 1% written again: syncs paused for a
  few days), each block timed from Meltano's log;
* `dbt build` alone;
* the first run again with DuckDB's memory limit set (AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT, for the
  loader, the reconciliation and dbt, which then builds one model at a time), then a 1% change
  under the same limit: what bounds their memory as the data grows, and its cost;
* the peak RSS of every process (bench/measure.py).

Every figure is a wall time on a shared machine: compare the ratios within one run.  The table is
printed and written, with the machine it ran on, to docs/benchmarks.md.  Nothing here asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import duckdb
import psycopg2

from bench.measure import Measured, run
from tap_airflow_metadb.policy import DEFAULT_TABLES
from tests.fixtures.airflow_history import fill, load_schema
from tests.fixtures.postgres import ThrowawayPostgres

ROOT = Path(__file__).resolve().parents[1]
MELTANO = str(ROOT / ".venv/bin/meltano")
DLT_VENV = ROOT / ".bench/venv-dlt"
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT[\d:.]+)Z \[\w+\s*\] (\S+)")
# AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT for the bounded first run: the least that built every mart at
# 1M task instances one model at a time (256MB ran out of memory); it builds 10M too.
MEMORY_LIMIT = "384MB"
# Sizes (task instances) up to which each first sync is measured FIRST_SYNC_REPEATS times and the
# best kept, as COPY is.
FIRST_SYNC_REPEATS, FIRST_SYNC_REPEATS_UP_TO = 3, 1_000_000
BLOCKS = {
    "tap-airflow-metadb": "extract+load",
    "target-airflow-audit-duckdb": "extract+load",
    "airflow-audit-reconcile": "reconcile",
    "dbt-duckdb": "dbt build",
}


class NullSink(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        return len(b)


def copy_seconds(url: str, tables: list[str]) -> float:
    started = time.perf_counter()
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for table in tables:
            cur.copy_expert(f'copy (select * from "{table}") to stdout', NullSink())
    return time.perf_counter() - started


def vacuum_seconds(url: str) -> float:
    """VACUUM (ANALYZE) of the filled source, so that nothing of PostgreSQL's own runs beside what
    the bench measures: autovacuum otherwise takes the filled tables after the fill (on 200k task
    instances, task_instance and dag_run within 75 s).  The generator's COPY FREEZE leaves little
    for it to do (at 10M this VACUUM took 2.6 s), but a source at rest is the one measured."""
    started = time.perf_counter()
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("vacuum (analyze)")
    finally:
        conn.close()
    return time.perf_counter() - started


def source_rows(url: str, tables: list[str]) -> dict[str, int]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        counts = {}
        for table in tables:
            cur.execute(f'select count(*) from "{table}"')
            counts[table] = cur.fetchone()[0]
        return counts


def present_tables(url: str) -> list[str]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "select table_name from information_schema.tables where table_schema = 'public'"
        )
        found = {t for (t,) in cur.fetchall()}
    return [t for t in DEFAULT_TABLES if t in found]


def meltano_env(url: str, warehouse: Path, slug: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_AUDIT_")}
    env.update(
        AIRFLOW_AUDIT_SOURCE_URL=url,
        AIRFLOW_AUDIT_DUCKDB_PATH=str(warehouse),
        AIRFLOW_AUDIT_ENV_SLUG=slug,
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
        PATH=f"{ROOT / '.venv/bin'}{os.pathsep}{env['PATH']}",
    )
    env.update({f"AIRFLOW_AUDIT_{k.upper()}": v for k, v in settings.items()})
    return env


def warehouse_rows(warehouse: Path, schema: str, tables: list[str]) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {
            t: con.execute(f'select count(*) from "{schema}"."{t}"').fetchone()[0] for t in tables
        }


def block_seconds(log: str) -> dict[str, float]:
    """Per block of the job, in order: from the previous block's last log line (the first
    block: its own first line) to its own last line.  The blocks run one after the other."""
    first: dt.datetime | None = None
    ends: dict[str, dt.datetime] = {}
    for line in log.splitlines():
        match = LOG_LINE.match(line)
        if not match or match[2] not in BLOCKS:
            continue
        at = dt.datetime.fromisoformat(match[1])
        first = first or at
        ends[BLOCKS[match[2]]] = max(ends.get(BLOCKS[match[2]], at), at)
    spans, previous = {}, first
    for block, end in sorted(ends.items(), key=lambda item: item[1]):
        spans[block] = (end - previous).total_seconds()
        previous = end
    return spans


DBT_FINISHED = re.compile(r"Finished running .* \((\d+(?:\.\d+)?)s\)\.")


def dbt_own_seconds(output: str) -> float | None:
    """dbt's own figure for its build (its "Finished running ... (N s)." line): the build alone,
    without Meltano's and dbt's start-up, parsing or the state query; None when dbt built nothing."""
    found = DBT_FINISHED.findall(output)
    return sum(float(s) for s in found) if found else None


def start_up_seconds(log: str, wall: float) -> float:
    """Meltano's own share of a run: the wall time minus the span from the first plugin's
    first log line to the last plugin's last one."""
    stamps = [
        dt.datetime.fromisoformat(m[1])
        for m in map(LOG_LINE.match, log.splitlines())
        if m and m[2] in BLOCKS
    ]
    if not stamps:
        return wall
    return max(0.0, wall - (max(stamps) - min(stamps)).total_seconds())


def dlt_venv() -> Path:
    python = DLT_VENV / "bin/python"
    if not python.exists():
        subprocess.run(
            [str(ROOT / ".venv/bin/uv"), "venv", "-q", "-p", sys.executable, str(DLT_VENV)],
            check=True,
        )
    subprocess.run(
        [
            str(ROOT / ".venv/bin/uv"),
            "pip",
            "install",
            "-q",
            "--python",
            str(python),
            "-r",
            str(ROOT / "bench/requirements-dlt.txt"),
        ],
        check=True,
    )
    return python


def change_one_percent(url: str) -> int:
    """1% of the task instances and of the DAG runs change (try, priority; a run's last
    scheduling decision), chosen by a hash of their keys, so spread over the whole history: every
    DAG and most days touched, the costliest 1% for the incremental marts (an hour of new runs is
    what Airflow itself changes, add_an_hour_of_runs).  The rows changed."""
    changed = 0
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "update task_instance set priority_weight = priority_weight + 1, "
            "try_number = try_number + 1 "
            "where abs(hashtext(dag_id || task_id || run_id || map_index::text)) % 100 = 0"
        )
        changed += cur.rowcount
        cur.execute(
            "update dag_run set last_scheduling_decision = now() where abs(hashtext(run_id)) % 100 = 0"
        )
        changed += cur.rowcount
    return changed


# Columns of dag_run and task_instance moved on when DAG runs are written again as new runs.
SHIFTED = {
    "execution_date",
    "logical_date",
    "queued_at",
    "queued_dttm",
    "start_date",
    "end_date",
    "data_interval_start",
    "data_interval_end",
    "last_scheduling_decision",
    "run_after",
}


def add_an_hour_of_runs(url: str) -> int:
    """What an hourly run sees on a busy Airflow: the DAG runs of the history's last hour (by logical
    date) and their task instances written again a day later, as new runs, with updated_at now; the
    rows written."""
    return write_runs_again(
        url,
        "{logical} > (select max({logical}) from dag_run) - interval '1 hour'",
        shift="1 day",
        suffix="__a_day_later",
    )


def add_one_percent_as_new_runs(url: str) -> int:
    """1% of the task instances arriving as new runs, as after syncs paused for a few days: the
    latest DAG runs holding 1% of the task instances written again as new runs (a second later,
    their run ids suffixed), with updated_at now; the rows written.  Unlike change_one_percent,
    the partitions touched are the newest, where an hourly run's changes fall."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from task_instance")
        (task_instances,) = cur.fetchone()
    return write_runs_again(
        url,
        "(dag_id, run_id) in (select dag_id, run_id from ("
        "select r.dag_id, r.run_id, sum(count(ti.run_id)) over ("
        "order by r.{logical} desc, r.dag_id, r.run_id) as held "
        "from dag_run as r left join task_instance as ti using (dag_id, run_id) "
        f"group by r.dag_id, r.run_id, r.{{logical}}) as latest where held <= {task_instances // 100})",
        shift="1 second",
        suffix="__again",
    )


def write_runs_again(url: str, runs: str, shift: str, suffix: str) -> int:
    """The DAG runs `runs` selects (a condition on dag_run, `{logical}` its logical date column)
    and their task instances written again as new runs: dates `shift` on, run ids with `suffix`,
    updated_at now; the rows written."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:

        def columns(table: str) -> list[tuple[str, str]]:
            cur.execute(
                "select column_name, data_type, column_default is not null and "
                "column_default like 'nextval%%' from information_schema.columns "
                "where table_schema = 'public' and table_name = %s order by ordinal_position",
                (table,),
            )
            return [(name, kind) for name, kind, serial in cur.fetchall() if not serial]

        def value(name: str, kind: str) -> str:
            if name in SHIFTED:
                return f"{name} + interval '{shift}'"
            if name == "run_id":
                return f"run_id || '{suffix}'"
            if name == "updated_at":
                return "now()"
            if name == "id" and kind == "uuid":
                return "gen_random_uuid()"
            return name

        dag_run_columns = {n for n, _ in columns("dag_run")}
        logical = "logical_date" if "logical_date" in dag_run_columns else "execution_date"
        cur.execute(
            "create temporary table runs_again as select dag_id, run_id from dag_run "
            f"where {runs.format(logical=logical)}"
        )
        written = 0
        for table in ("dag_run", "task_instance"):
            cols = columns(table)
            names = ", ".join(n for n, _ in cols)
            values = ", ".join(value(n, k) for n, k in cols)
            cur.execute(
                f"insert into {table} ({names}) select {values} from {table} "
                f"where (dag_id, run_id) in (select dag_id, run_id from runs_again)"
            )
            written += cur.rowcount
    return written


def clear_state(slug: str) -> None:
    for job in ("tap-airflow-metadb-to-target-airflow-audit-duckdb",):
        subprocess.run(
            [MELTANO, "state", "clear", "--force", f"prod:{job}:{slug}"],
            cwd=ROOT,
            capture_output=True,
        )


def bench_size(pg: ThrowawayPostgres, size: int, version: str, peers: bool, tmp: Path) -> dict:
    url = pg.create_database(f"bench_{size}")
    load_schema(url, version)
    print(f"bench: filling {size:,} task instances (Airflow {version})...", flush=True)
    fill(
        url,
        version,
        dags=max(20, size // 5000),
        target_task_instances=size,
        task_log_events="none",
        # the history ends a day before the bench, so that its last hour written again a day later
        # (add_an_hour_of_runs) is the hour before the syncs, as on a live Airflow: the tries it
        # leaves running started within the hour, not long before (the pool report holds a running
        # try's slots until the sync, up to 1,000 hours)
        now=dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=1),
    )
    print(f"bench: vacuumed the source in {vacuum_seconds(url):.1f} s", flush=True)
    tables = present_tables(url)
    rows = source_rows(url, tables)
    result: dict = {"size": size, "rows": rows, "total_rows": sum(rows.values())}
    result["copy"] = min(copy_seconds(url, tables) for _ in range(3))
    run_id = uuid.uuid4().hex[:6]
    repeats = result["repeats"] = FIRST_SYNC_REPEATS if size <= FIRST_SYNC_REPEATS_UP_TO else 1

    for handoff in ("files", "records"):

        def sync(i: int, handoff: str = handoff) -> Measured:
            """A first sync, into a new warehouse and from no state."""
            slug = f"bench-el-{handoff}-{run_id}-{i}"
            warehouse = tmp / f"el-{handoff}-{size}-{i}.duckdb"
            measured = run(
                [MELTANO, "run", "tap-airflow-metadb", "target-airflow-audit-duckdb"],
                env=meltano_env(url, warehouse, slug, handoff=handoff),
                cwd=ROOT,
            ).check(f"the full sync by {handoff}")
            loaded = warehouse_rows(warehouse, f"airflow-{slug}", tables)
            if loaded != rows:
                raise SystemExit(
                    f"bench: the sync by {handoff} loaded {loaded}, the source has {rows}"
                )
            clear_state(slug)
            warehouse.unlink()
            print(f"bench: sync by {handoff}: {measured.seconds:.1f} s", flush=True)
            return measured

        result[f"el_{handoff}"] = best_of(repeats, sync)

    if peers:
        python = dlt_venv()
        for backend in ("connectorx", "pyarrow"):

            def load(i: int, backend: str = backend) -> Measured:
                warehouse = tmp / f"dlt-{backend}-{size}-{i}.duckdb"
                measured = run(
                    [
                        str(python),
                        str(ROOT / "bench/peer_dlt.py"),
                        url,
                        str(warehouse),
                        backend,
                        ",".join(tables),
                    ],
                    env={**os.environ, "RUNTIME__LOG_LEVEL": "WARNING"},
                    cwd=tmp,
                ).check(f"dlt with {backend}")
                warehouse.unlink(missing_ok=True)
                print(f"bench: dlt {backend}: {measured.seconds:.1f} s", flush=True)
                return measured

            result[f"dlt_{backend}"] = best_of(repeats, load)

    slug = f"bench-job-{run_id}"
    warehouse = tmp / f"job-{size}.duckdb"
    env = meltano_env(url, warehouse, slug)
    for label in ("job_first", "job_nochange", "job_one_percent", "job_new_hour", "job_new_runs"):
        if label == "job_one_percent":
            result["changed"] = change_one_percent(url)
        if label == "job_new_hour":
            result["new_hour"] = add_an_hour_of_runs(url)
        if label == "job_new_runs":
            result["new_runs"] = add_one_percent_as_new_runs(url)
        result[label] = run_job(env, label).check(label)
    result["dbt_alone"] = run(
        [MELTANO, "invoke", "dbt-duckdb:build", "--full-refresh"], env=env, cwd=ROOT
    ).check("dbt build")
    print(f"bench: dbt build alone: {result['dbt_alone'].seconds:.1f} s", flush=True)
    clear_state(slug)

    # The first run again, in a new warehouse, with DuckDB's memory limit set for the loader and
    # dbt: what bounds their peak RSS as the data grows, and what it costs.
    slug = f"bench-limited-{run_id}"
    env = meltano_env(url, tmp / f"limited-{size}.duckdb", slug, duckdb_memory_limit=MEMORY_LIMIT)
    for label in ("job_limited", "job_limited_one_percent"):
        if label == "job_limited_one_percent":
            if "job_limited" not in result:
                break
            result["changed_limited"] = change_one_percent(url)
        measured = run_job(env, label)
        if measured.returncode == 0:
            result[label] = measured
        else:
            # reported, not fatal: the other figures of the run stand
            result[f"{label}_failed"] = failure(measured.stderr)
            break
    clear_state(slug)
    return result


def failure(log: str) -> str:
    """What a failed job printed last as an error, after the dbt node it failed in, if any."""
    lines = [ln for ln in log.splitlines() if "Error" in ln]
    error = lines[-1].split("] ", 1)[-1].strip() if lines else "failed"
    nodes = re.findall(r"(?:Error|Failure) in (?:model|test|snapshot|unit_test) (\S+)", log)
    return f"{nodes[-1]}: {error}" if nodes else error


def run_job(env: dict[str, str], label: str) -> Measured:
    """`meltano run airflow-audit`, with each block timed from its log and Meltano's start-up."""
    measured = run([MELTANO, "run", "airflow-audit"], env=env, cwd=ROOT)
    measured.blocks = block_seconds(measured.stderr)  # type: ignore[attr-defined]
    measured.start_up = start_up_seconds(measured.stderr, measured.seconds)  # type: ignore[attr-defined]
    outcome = f"{measured.blocks}" if measured.returncode == 0 else "failed"  # type: ignore[attr-defined]
    print(f"bench: {label}: {measured.seconds:.1f} s {outcome}", flush=True)
    return measured


def best_of(times: int, measure) -> Measured:
    """`measure(i)` run `times` times: the fastest run, with the largest peak RSS of any run per
    process."""
    runs = [measure(i) for i in range(times)]
    best = min(runs, key=lambda m: m.seconds)
    peaks: dict[str, float] = {}
    for m in runs:
        for kind, mb in m.peak_mb.items():
            peaks[kind] = max(peaks.get(kind, 0.0), mb)
    best.peak_mb = peaks
    return best


def rate_row(label: str, m: Measured, total: int, copy: float) -> str:
    peaks = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(m.peak_mb.items()) if k != "other")
    return f"| {label} | {m.seconds:.1f} | {total / m.seconds:,.0f} | {copy / m.seconds:.0%} | {peaks} |"


def report(results: list[dict], version: str, peers: bool) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"project at {git_revision()}; {machine()}.",
        "",
        "Wall times on a shared machine: read the ratios, measured side by side; one run each, but "
        f"the first syncs up to {FIRST_SYNC_REPEATS_UP_TO:,} task instances, which are the best of "
        f"{FIRST_SYNC_REPEATS} "
        "as COPY. "
        f"Airflow {version} schema, the project's generator; the default tables "
        "(" + ", ".join(DEFAULT_TABLES) + "). Peak RSS in MB, per process (sampled every 50 ms).",
    ]
    for r in results:
        copy, total = r["copy"], r["total_rows"]
        best = f", best of {r['repeats']}" if r.get("repeats", 1) > 1 else ""
        lines += [
            "",
            f"## {r['size']:,} task instances ({total:,} rows in the default tables)",
            "",
            "### A first sync of the default tables into DuckDB",
            "",
            "| path | wall s | rows/s | share of COPY throughput | peak RSS MB |",
            "|---|---|---|---|---|",
            f"| `COPY (select * from t) TO STDOUT`, each table, best of 3 | {copy:.1f} | "
            f"{total / copy:,.0f} | 100% | |",
            rate_row(
                f"`meltano run tap-airflow-metadb target-airflow-audit-duckdb` (by file){best}",
                r["el_files"],
                total,
                copy,
            ),
            rate_row(
                f"the same, AIRFLOW_AUDIT_HANDOFF=records{best}", r["el_records"], total, copy
            ),
        ]
        if peers:
            lines += [
                rate_row(
                    f"dlt 1.31 `sql_database`, connectorx backend{best}",
                    r["dlt_connectorx"],
                    total,
                    copy,
                ),
                rate_row(
                    f"dlt 1.31 `sql_database`, pyarrow backend{best}", r["dlt_pyarrow"], total, copy
                ),
            ]
        first = r["job_first"]
        lines += [
            "",
            "### The whole job (`meltano run airflow-audit`)",
            "",
            "| run | wall s | Meltano start-up s | extract+load s | reconcile s | dbt build s "
            "| of it, dbt's own build s | share of the first run | net of start-up | peak RSS MB |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for label, name in (
            ("job_first", "first run"),
            (
                "job_limited",
                f"first run, AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT={MEMORY_LIMIT} (one model at a time)",
            ),
            (
                "job_limited_one_percent",
                f"then {r.get('changed_limited', 0):,} rows changed (1%, spread), "
                f"AIRFLOW_AUDIT_DUCKDB_MEMORY_LIMIT={MEMORY_LIMIT} (shares: of the limited first run)",
            ),
            ("job_nochange", "nothing changed"),
            ("job_one_percent", f"{r['changed']:,} rows changed (1%, spread over the history)"),
            ("job_new_hour", f"an hour of new runs ({r['new_hour']:,} rows)"),
            (
                "job_new_runs",
                f"{r.get('new_runs', 0):,} rows arriving as new runs (1%: the latest runs again)",
            ),
        ):
            if label not in r:
                if f"{label}_failed" in r:
                    lines.append(f"| {name} | failed: {r[f'{label}_failed']} |")
                continue
            m = r[label]
            # the bounded 1% run against the bounded first run, the others against the first run
            base = r["job_limited"] if label == "job_limited_one_percent" else first
            net = (m.seconds - m.start_up) / max(base.seconds - base.start_up, 1e-9)
            peaks = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(m.peak_mb.items()) if k != "other")
            own = dbt_own_seconds(m.stdout + m.stderr)
            lines.append(
                f"| {name} | {m.seconds:.1f} | {m.start_up:.1f} | "
                f"{m.blocks.get('extract+load', 0):.1f} | {m.blocks.get('reconcile', 0):.1f} | "
                f"{m.blocks.get('dbt build', 0):.1f} | {'-' if own is None else f'{own:.1f}'} | "
                f"{m.seconds / base.seconds:.0%} | {net:.0%} "
                f"| {peaks} |"
            )
        dbt = r["dbt_alone"]
        own = dbt_own_seconds(dbt.stdout + dbt.stderr)
        lines += [
            "",
            f"`meltano invoke dbt-duckdb:build --full-refresh` alone (every model, data test and "
            f"unit test), after those runs: {dbt.seconds:.1f} s, of it dbt's own build "
            f"{'-' if own is None else f'{own:.1f}'} s; peak RSS {dbt.peak_mb.get('dbt', 0):,.0f} MB.",
            "",
            '"dbt build s" is the job\'s whole dbt step (Meltano starting the plugin, dbt parsing '
            'the project, reading the state, building, recording); "dbt\'s own build" is the '
            "figure dbt prints for the build itself.",
        ]
    if len(results) > 1:
        # the two largest sizes: where DuckDB's memory limit, not the data, should set the peak
        small, large = results[-2], results[-1]
        factor = large["size"] / small["size"]
        lines += [
            "",
            f"### Peak RSS, {factor:.0f}x the rows",
            "",
            f"| process | {small['size']:,} | {large['size']:,} | ratio |",
            "|---|---|---|---|",
        ]
        for label in ("el_files", "job_first", "job_limited", "job_limited_one_percent"):
            if label not in small or label not in large:
                continue
            for kind, peak in sorted(large[label].peak_mb.items()):
                if kind == "other":
                    continue
                base = small[label].peak_mb.get(kind, 0)
                ratio = f"{peak / base:.2f}x" if base else "-"
                lines.append(f"| {kind} ({label}) | {base:,.0f} | {peak:,.0f} | {ratio} |")
    return "\n".join(lines) + "\n"


def git_revision() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip() or "?"


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.platform()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="task instances, comma-separated")
    parser.add_argument("--version", default="2.10.5")
    parser.add_argument("--no-peers", action="store_true", help="skip dlt")
    parser.add_argument("--out", default=str(ROOT / "docs/benchmarks.md"))
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    results = []
    with ThrowawayPostgres() as pg, tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            results.append(bench_size(pg, size, args.version, not args.no_peers, Path(tmp)))
    text = report(results, args.version, not args.no_peers)
    Path(args.out).write_text(text)
    print(text)
    print(f"bench: written to {args.out}")


if __name__ == "__main__":
    main()
