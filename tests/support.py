"""Helpers the integration tests share: running the real meltano, reading the warehouse."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"


def meltano(*args: str, env: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the project's meltano with `env` on top of a clean AIRFLOW_AUDIT_* environment."""
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_AUDIT_", "AIRFLOW__"))
    }
    base["PATH"] = f"{BIN}{os.pathsep}{base.get('PATH', '')}"
    base["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return subprocess.run(
        [str(BIN / "meltano"), *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


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
            f"select distinct n.needle from (select cast(t as varchar) as row_text from {relation} t) r "
            "join (select unnest(?::varchar[]) as needle) n on contains(r.row_text, n.needle)",
            [sorted(needles)],
        ).fetchall()
        for (needle,) in found:
            hits.setdefault(needle, set()).add(f"{schema}.{table}")
    return hits
