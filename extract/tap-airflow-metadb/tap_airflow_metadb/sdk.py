"""The singer-sdk internals the tap relies on, in one place.

`AirflowMetadbTap.sync_all` replaces `singer_sdk.Tap.sync_all` to send a second ACTIVATE_VERSION
after each full-table stream's last record (the SDK sends one, before the records), so a loader
deletes rows missing from a full read only once the read is known to be complete.  Doing that
needs the SDK's own steps of `sync_all`, which are private; the tap adds one keyword to its SCHEMA
messages through the SDK's private `_generate_schema_messages`; and its BATCH messages use the
SDK's batch classes, which the SDK keeps in a private module (`singer_sdk.helpers._batch`).  Written against singer-sdk 0.54.9
(pinned in pyproject.toml, the version meltanolabs-tap-postgres 0.10.0 resolves); when the SDK
moves, this module is the one place to follow it, and tests/extract/test_sdk_adapter.py names
the attribute that went away.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from importlib import import_module
from typing import Any

SDK_VERSION = "0.54.9"

# (owner, attribute) of every private name used below, for the test that checks them.
PRIVATE_NAMES = (
    ("Tap", "_reset_state_progress_markers"),
    ("Tap", "_set_compatible_replication_methods"),
    ("Tap", "_state_writer"),
    ("Stream", "_write_activate_version_message"),
    ("Stream", "_write_state_message"),
    ("Stream", "_generate_schema_messages"),
)
# (module, name) of every name imported from a private SDK module (through __getattr__ below).
PRIVATE_IMPORTS = (
    ("singer_sdk.helpers._batch", "BaseBatchFileEncoding"),
    ("singer_sdk.helpers._batch", "BatchConfig"),
    ("singer_sdk.helpers._batch", "StorageTarget"),
)


def __getattr__(name: str) -> Any:
    """`from tap_airflow_metadb.sdk import BatchConfig`: the SDK's batch classes, imported when
    first used (this module is also read where the SDK is not installed)."""
    for module, attribute in PRIVATE_IMPORTS:
        if attribute == name:
            return getattr(import_module(module), name)
    raise AttributeError(name)


def begin_sync(tap: Any) -> None:
    """What Tap.sync_all does first: reset progress markers, settle replication methods, and
    send the incoming state (if any) before any record."""
    tap._reset_state_progress_markers()
    tap._set_compatible_replication_methods()
    if tap.state:
        tap._state_writer.write_state(tap.state)


def stream_version(stream: Any) -> int | None:
    """The version the SDK's ACTIVATE_VERSION named for this stream's full read (set by sync)."""
    return getattr(stream, "_stream_version", None)


def write_activate_version(stream: Any, version: int) -> None:
    """Send ACTIVATE_VERSION for `version` (Stream._write_activate_version_message)."""
    stream._write_activate_version_message(version)


def write_state(stream: Any) -> None:
    """Send the stream's STATE now (Stream._write_state_message)."""
    stream._write_state_message()


def with_schema_keyword(messages: Iterable[Any], keyword: str, value: Any) -> Iterator[Any]:
    """SCHEMA messages (from Stream._generate_schema_messages, which SnapshotStream overrides)
    with one more top-level keyword in the schema; the SDK's catalog model keeps none of its own."""
    for message in messages:
        if value:
            message.schema = {**message.schema, keyword: value}
        yield message
