"""Shape a Singer catalog to the scope and the column plans of the secrets policy (policy.py)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from tap_airflow_metadb.policy import ColumnPlan

FLAG_SCHEMA: dict[str, Any] = {"type": ["boolean", "null"]}
FINGERPRINT_SCHEMA: dict[str, Any] = {"type": ["string", "null"], "maxLength": 64}


def table_of(stream: dict[str, Any]) -> str:
    return stream.get("table_name") or stream["tap_stream_id"].rsplit("-", 1)[-1]


def apply_policy(
    catalog: dict[str, Any],
    schema: str,
    plans: Mapping[str, ColumnPlan],
    keys: Mapping[str, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """Keep the planned tables of `schema`, selected, with only the columns their plan reads.

    Every other column (secret, opt-in, unknown, refused) leaves the catalog, so it is neither
    selected nor described to the loader; each flag of the plan is added as a boolean the tap's
    query computes in PostgreSQL.  `keys` gives a table without a primary key of its own (a
    `db clean` archive) the key of the table it archives.
    """
    streams = []
    for stream in catalog.get("streams", []):
        stream_schema = (stream.get("metadata") or [{}])[0].get("metadata", {}).get("schema-name")
        stream_schema = stream_schema or stream["tap_stream_id"].rsplit("-", 1)[0]
        table = table_of(stream)
        if stream_schema != schema or table not in plans:
            continue
        plan = plans[table]
        keep = set(plan.read)
        stream = copy.deepcopy(stream)
        properties = stream["schema"].setdefault("properties", {})
        for column in list(properties):
            if column not in keep:
                del properties[column]
        for flag in plan.flags:
            properties[flag] = dict(FLAG_SCHEMA)
        for fingerprint in plan.fingerprints:
            properties[fingerprint] = dict(FINGERPRINT_SCHEMA)
        metadata = []
        for entry in stream.get("metadata", []):
            breadcrumb = entry.get("breadcrumb", [])
            if len(breadcrumb) == 2 and breadcrumb[1] not in keep:
                continue
            entry = copy.deepcopy(entry)
            entry["metadata"]["selected"] = True
            if not breadcrumb:
                entry["metadata"]["replication-method"] = "FULL_TABLE"
                entry["metadata"].pop("replication-key", None)
            metadata.append(entry)
        for flag in [*plan.flags, *plan.fingerprints]:
            metadata.append(
                {
                    "breadcrumb": ["properties", flag],
                    "metadata": {"inclusion": "available", "selected": True},
                }
            )
        key = (keys or {}).get(table)
        if key and not stream.get("key_properties"):
            stream["key_properties"] = list(key)
            for entry in metadata:
                if not entry.get("breadcrumb"):
                    entry["metadata"]["table-key-properties"] = list(key)
        stream["metadata"] = metadata
        stream["selected"] = True
        stream["replication_method"] = "FULL_TABLE"
        stream.pop("replication_key", None)
        streams.append(stream)
    found = {table_of(s) for s in streams}
    return {"streams": streams, "missing": sorted(set(plans) - found)}
