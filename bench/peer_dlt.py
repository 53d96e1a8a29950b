"""The peer a user would pick instead: dlt's `sql_database` source into DuckDB.

Run by bench/run.py in a venv of its own (bench/requirements-dlt.txt), never the project's:
`python bench/peer_dlt.py URL DUCKDB_FILE BACKEND TABLE[,TABLE...]`.  Loads the tables with
write disposition `replace` (a first sync) and prints the rows loaded per table as JSON.
"""

from __future__ import annotations

import json
import sys

import dlt
from dlt.sources.sql_database import sql_database


def main() -> None:
    url, path, backend, tables = sys.argv[1:5]
    source = sql_database(
        credentials=url,
        table_names=tables.split(","),
        backend=backend,
        chunk_size=100_000,
    )
    pipeline = dlt.pipeline(
        pipeline_name=f"peer_dlt_{backend}",
        destination=dlt.destinations.duckdb(path),
        dataset_name="airflow",
        pipelines_dir=path + ".pipelines",
    )
    info = pipeline.run(source, write_disposition="replace")
    info.raise_on_failed_jobs()
    counts = pipeline.last_trace.last_normalize_info.row_counts
    print(json.dumps({t: n for t, n in counts.items() if not t.startswith("_dlt")}))


if __name__ == "__main__":
    main()
