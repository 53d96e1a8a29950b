"""Helpers the tests share: running the real meltano, reading the source and the warehouse.

`tests.support.sync` holds the sync scenarios' helpers (runs, column and flag checks)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
# The Airflow releases the end-to-end scenarios run on (the generator knows five).
VERSIONS = ["2.10.5", "3.3.2"]
# Small enough for CI, large enough to hold every kind of row the generator makes.
TEST_FILL = {"dags": 8, "days": 4, "seed": 7}
# Every run fingerprints connection and variable values under this key (tests may override it).
TEST_FINGERPRINT_KEY = "test-fingerprint-key-0123456789abcdef"


def meltano(
    *args: str, env: dict[str, str], timeout: int = 900, under: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """Run the project's meltano with `env` on top of a clean AIRFLOW_AUDIT_* environment
    (`under`: a command it runs under, as strace)."""
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_AUDIT_", "AIRFLOW__"))
    }
    base["PATH"] = f"{BIN}{os.pathsep}{base.get('PATH', '')}"
    base["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    base["AIRFLOW_AUDIT_FINGERPRINT_KEY"] = TEST_FINGERPRINT_KEY
    return subprocess.run(
        [*under, str(BIN / "meltano"), *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def dbt_renders(jinja: str, env: dict[str, str]) -> str:
    """What the real dbt (dbt-duckdb, through meltano) renders `jinja` to, with `env`: the value is
    compiled inside brackets and read back from dbt's output."""
    done = meltano(
        "invoke",
        "dbt-duckdb",
        "compile",
        "--quiet",
        "--inline",
        f"select '[{jinja}]' as rendered",
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = re.findall(r"\[([^\]\s]*)\]", done.stdout + done.stderr)
    assert found, done.stdout[-2000:]
    return found[-1]


def encoded_forms(marker: str) -> set[str]:
    """The marker as it would look if it leaked: plain, hex (bytea), or base64 at any offset."""
    import base64

    raw = marker.encode()
    forms = {marker, raw.hex(), raw.hex().upper()}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        # Drop the characters that mix in the filler bytes or the padding.
        start = (offset * 4 + 2) // 3 + 1
        forms.add(encoded[start : len(encoded) - 4])
    return {f for f in forms if len(f) >= 8}


def warehouse_hits(con, needles: set[str]) -> dict[str, set[str]]:
    """needle -> the tables (schema.table) of the DuckDB file where it appears in any column."""
    hits: dict[str, set[str]] = {}
    tables = con.execute(
        "select schema_name, table_name from duckdb_tables() union all "
        "select schema_name, view_name from duckdb_views() where not internal"
    ).fetchall()
    for schema, table in tables:
        relation = f'"{schema}"."{table}"'
        # Each row rendered as text once, matched against every needle.
        found = con.execute(
            f"select distinct n.needle from (select cast(__row as varchar) as row_text from {relation} __row) r "
            "join (select unnest(?::varchar[]) as needle) n on contains(r.row_text, n.needle)",
            [sorted(needles)],
        ).fetchall()
        for (needle,) in found:
            hits.setdefault(needle, set()).add(f"{schema}.{table}")
    return hits


def _canonical(value: str) -> str:
    """JSON as json.dumps writes it, and the 2.4-2.8 action log's Python list literal as the JSON
    list of pairs it leaves as; anything else unchanged."""
    import ast
    import json

    try:
        return json.dumps(json.loads(value))
    except ValueError:
        pass
    if value[:1] == "[" and "('" in value:
        try:
            return json.dumps(ast.literal_eval(value))
        except (ValueError, SyntaxError, TypeError):
            pass
    return value


def masked_equal(source, warehouse) -> bool:
    """The warehouse value is the source value, or it with some parts replaced by the mask `***`.

    Knows nothing of the policy: it says only that masking changed nothing but what it masked.
    Whether a secret is gone is the secret hunt's job.
    """
    import re

    if source == warehouse:
        return True
    if not isinstance(source, str) or not isinstance(warehouse, str):
        return False
    canonical = _canonical(source)
    if canonical == warehouse:
        return True
    if "***" not in warehouse:
        return False
    pattern = (
        re.escape(warehouse).replace(re.escape('"***"'), ".*?").replace(re.escape("***"), ".*?")
    )
    return re.fullmatch(pattern, canonical, re.S) is not None


def assert_rows_equal(
    table: str, columns: list[str], expected: list[tuple], got: list[tuple]
) -> None:
    """Source rows against warehouse rows: every column equal, except that the columns the extractor
    masks (policy.REDACTED_COLUMNS) may hold the source value with parts masked."""
    from collections import Counter

    from tap_airflow_metadb.policy import REDACTED_COLUMNS, policy_table

    masked = set(REDACTED_COLUMNS.get(policy_table(table) or table, {}))
    exact = [i for i, c in enumerate(columns) if c not in masked]
    loose = [i for i, c in enumerate(columns) if c in masked]

    whole = len(exact) == len(columns)

    def key(row: tuple) -> str:
        return repr(row if whole else tuple(row[i] for i in exact))

    assert len(got) == len(expected), (
        f"{table}: {len(got)} rows in the warehouse, {len(expected)} in the source"
    )
    diff = Counter(map(key, expected)) - Counter(map(key, got))
    assert not diff, f"{table}: rows differ, e.g. {next(iter(diff))[:500]}"
    if not loose:
        return
    by_key: dict[str, list[tuple]] = {}
    for row in got:
        by_key.setdefault(key(row), []).append(row)
    for row in expected:
        candidates = by_key[key(row)]
        assert any(all(masked_equal(row[i], g[i]) for i in loose) for g in candidates), (
            f"{table}: {[columns[i] for i in loose]} of {key(row)[:200]} differ beyond masking: "
            f"source {[row[i] for i in loose]!r:.500}, warehouse {[candidates[0][i] for i in loose]!r:.500}"
        )


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process started, directly or not, by `pid` (read from /proc).

    Tests signal only these: processes they started themselves, never one found by name on the
    machine.
    """
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[tuple[int, str]] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            try:
                cmdline = (Path("/proc") / str(child) / "cmdline").read_bytes()
            except OSError:
                continue
            found.append((child, cmdline.replace(b"\0", b" ").decode(errors="replace")))
            todo.append(child)
    return found


def own_process(pid: int, command: str, timeout: float = 60) -> int:
    """The pid of the descendant of `pid` whose command line contains `command` (waits for it)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child, cmdline in descendants(pid):
            if command in cmdline:
                return child
        time.sleep(0.05)
    raise AssertionError(f"no process running {command!r} was started by {pid}")


#: The Airflow releases the project installs (orchestrate/install_airflow.py), by schema version.
AIRFLOW_CLI = {
    "2.10.5": ROOT / ".airflow" / "venv-2" / "bin" / "airflow",
    "3.3.2": ROOT / ".airflow" / "venv-3" / "bin" / "airflow",
}


def airflow_cli(version: str, url: str, home: Path, *args: str, timeout: int = 300) -> str:
    """Airflow's own CLI of `version` (.airflow/venv-2 or -3, `make airflow`) on database `url`;
    its stdout. It must succeed."""
    return _airflow(version, url, home, [str(AIRFLOW_CLI[version]), *args], timeout)


def airflow_python(version: str, url: str, home: Path, script: str, *args: str) -> str:
    """A Python script run with Airflow `version` installed and configured for database `url`
    (Airflow's own models writing rows as Airflow does); its stdout. It must succeed."""
    python = AIRFLOW_CLI[version].with_name("python")
    return _airflow(version, url, home, [str(python), "-c", script, *args], 300)


def _airflow(version: str, url: str, home: Path, command: list[str], timeout: int) -> str:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url.replace(
            "postgresql://", "postgresql+psycopg2://"
        ),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
    }
    done = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def airflow_db_clean(url: str, version: str, home: Path, before: str, tables: str) -> str:
    """Airflow's own `airflow db clean` of `tables` older than `before`, with that release's CLI: it
    archives the rows into `_airflow_deleted__<table>__<timestamp>` and deletes them, as users run it."""
    return airflow_cli(
        version,
        url,
        home,
        *("db", "clean", "--clean-before-timestamp", before, "--tables", tables, "-y"),
    )


def airflow_db_migrate(url: str, version: str, home: Path) -> str:
    """Airflow's own `airflow db migrate` of `version`: an in-place upgrade, as users run it."""
    return airflow_cli(version, url, home, "db", "migrate", timeout=900)


def source_query(url: str, sql: str) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        rows = cur.fetchall()
    conn.close()
    return rows
