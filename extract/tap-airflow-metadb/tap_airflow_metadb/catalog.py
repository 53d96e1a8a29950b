"""Shape a Singer catalog to the scope and the secrets policy."""

from __future__ import annotations

import copy
from typing import Any

from tap_airflow_metadb.policy import SECRET_COLUMNS, SECRET_FLAGS


def table_of(stream: dict[str, Any]) -> str:
    return stream.get("table_name") or stream["tap_stream_id"].rsplit("-", 1)[-1]


def apply_policy(catalog: dict[str, Any], schema: str, tables: list[str]) -> dict[str, Any]:
    """Keep the scoped tables of `schema`, selected, without their secret columns.

    A secret column that feeds a flag (policy.SECRET_FLAGS) stays in the catalog so the tap can
    compute the flag; the stream map built by `secret_stream_maps` removes it from every record
    and schema before anything is written.
    """
    wanted = set(tables)
    streams = []
    for stream in catalog.get("streams", []):
        stream_schema = (stream.get("metadata") or [{}])[0].get("metadata", {}).get("schema-name")
        stream_schema = stream_schema or stream["tap_stream_id"].rsplit("-", 1)[0]
        table = table_of(stream)
        if stream_schema != schema or table not in wanted:
            continue
        stream = copy.deepcopy(stream)
        flag_sources = set(SECRET_FLAGS.get(table, {}).values())
        dropped = set(SECRET_COLUMNS.get(table, {})) - flag_sources
        properties = stream["schema"].get("properties", {})
        for column in dropped:
            properties.pop(column, None)
        metadata = []
        for entry in stream.get("metadata", []):
            breadcrumb = entry.get("breadcrumb", [])
            if len(breadcrumb) == 2 and breadcrumb[1] in dropped:
                continue
            entry = copy.deepcopy(entry)
            if not breadcrumb:
                entry["metadata"]["selected"] = True
                entry["metadata"]["replication-method"] = "FULL_TABLE"
                entry["metadata"].pop("replication-key", None)
            else:
                entry["metadata"]["selected"] = True
            metadata.append(entry)
        stream["metadata"] = metadata
        stream["selected"] = True
        stream["replication_method"] = "FULL_TABLE"
        stream.pop("replication_key", None)
        streams.append(stream)
    found = {table_of(s) for s in streams}
    missing = wanted - found
    return {"streams": streams, "missing": sorted(missing)}


def secret_stream_maps(schema: str, tables: list[str]) -> dict[str, dict[str, str | None]]:
    """Stream maps that turn each flagged secret into a boolean and drop the value."""
    maps: dict[str, dict[str, str | None]] = {}
    for table in tables:
        flags = SECRET_FLAGS.get(table)
        if not flags:
            continue
        stream_map: dict[str, str | None] = {}
        for flag, column in flags.items():
            stream_map[flag] = f"bool({column})"
        for column in set(flags.values()):
            stream_map[column] = None
        maps[f"{schema}-{table}"] = stream_map
    return maps
