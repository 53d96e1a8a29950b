"""The command `make demo` prints at its end to query the marts runs as printed."""

from __future__ import annotations

import subprocess

import duckdb

from scripts.demo import ROOT, query_hint


def test_the_printed_query_command_shows_the_marts_rows(tmp_path):
    warehouse = tmp_path / "demo.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute('create schema "airflow-local_marts"')
        con.execute(
            'create table "airflow-local_marts".fct_dag_runs as '
            "select 'run-' || range as run_id from range(7)"
        )
    # as printed, from the project's root, where `make demo` runs
    shown = subprocess.run(
        query_hint(warehouse, "airflow-local"), shell=True, capture_output=True, text=True, cwd=ROOT
    )
    assert shown.returncode == 0, shown.stderr
    assert "run-0" in shown.stdout and "run-4" in shown.stdout and "run-5" not in shown.stdout
