"""Rewrite the tap's inventory of known Airflow columns from the real schemas in tests/fixtures/airflow.

The inventory (extract/tap-airflow-metadb/tap_airflow_metadb/airflow_columns.csv) is what the tap's
allowlist knows: a table or column outside it never leaves the database unless a user names it.
Run this after adding a release's schema to tests/fixtures/airflow/ (capture_airflow_schema.py),
then classify every new column in policy.py (tests/extract/test_policy.py lists the unclassified ones).

    .venv/bin/python scripts/update_airflow_inventory.py
"""

from __future__ import annotations

import csv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "airflow"
INVENTORY = ROOT / "extract" / "tap-airflow-metadb" / "tap_airflow_metadb" / "airflow_columns.csv"


def release_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split("."))


def inventory() -> list[tuple[str, str, str, str]]:
    """(table, column, types, releases) for every column of every captured release."""
    seen: dict[tuple[str, str], dict[str, str]] = {}
    releases = sorted(
        (p.name for p in FIXTURES.iterdir() if (p / "columns.csv").exists()), key=release_key
    )
    for release in releases:
        with (FIXTURES / release / "columns.csv").open() as f:
            for row in csv.DictReader(f):
                seen.setdefault((row["table_name"], row["column_name"]), {})[release] = row[
                    "data_type"
                ]
    rows = []
    for (table, column), by_release in sorted(seen.items()):
        types = " | ".join(dict.fromkeys(by_release.values()))
        rows.append((table, column, types, " ".join(by_release)))
    return rows


def render() -> str:
    lines = ["table,column,types,releases"]
    lines += [",".join(row) for row in inventory()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    INVENTORY.write_text(render())
    print(f"{INVENTORY.relative_to(ROOT)}: {len(inventory())} columns")
