"""PostgreSQL's CSV (`COPY ... TO STDOUT WITH (FORMAT csv)`), read and written exactly.

The format the extractor hands tables over in (contract.BATCH_FORMAT): a NULL is an empty,
unquoted field and an empty string is `""`, a distinction Python's `csv` module loses.  Used
where a file must pass through Python: the extractor's masking of free-text columns, and the
loaders that turn files back into records for a target that cannot read them.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator

_FIELD = re.compile(r'"((?:[^"]|"")*)"|([^,"\n\r]*)')


def parse_record(record: str) -> list[str | None]:
    """One CSV record (its line end removed) -> its values, None for NULL."""
    values: list[str | None] = []
    position, end = 0, len(record)
    while True:
        match = _FIELD.match(record, position)
        quoted, bare = match.group(1), match.group(2)  # type: ignore[union-attr]
        if quoted is not None:
            values.append(quoted.replace('""', '"'))
        else:
            values.append(bare or None)
        position = match.end()  # type: ignore[union-attr]
        if position >= end:
            return values
        if record[position] != ",":
            raise ValueError(f"not PostgreSQL CSV at character {position}: {record[:80]!r}")
        position += 1


def read_records(lines: Iterable[str]) -> Iterator[list[str | None]]:
    """The records of a file opened with newline='' (a quoted value may span lines)."""
    pending = ""
    for line in lines:
        pending += line
        if pending.count('"') % 2:
            continue
        yield parse_record(pending[:-1] if pending.endswith("\n") else pending)
        pending = ""
    if pending:
        raise ValueError("the file ends inside a quoted value: it was cut short")


class RecordStream:
    """`read_records` for bytes that arrive in pieces, as a COPY writes them into a file object:
    `feed` takes the next piece and returns the records it completed (a record ends at a line
    end outside quotes); `close` refuses data that ended inside a record."""

    __slots__ = ("_decode", "_pending")

    def __init__(self) -> None:
        self._decode = codecs.getincrementaldecoder("utf-8")().decode
        self._pending = ""

    def feed(self, data: bytes) -> list[list[str | None]]:
        text = self._pending + self._decode(data)
        records = []
        start, end = 0, text.find("\n")
        while end != -1:
            if not text.count('"', start, end) % 2:
                records.append(parse_record(text[start:end]))
                start = end + 1
            end = text.find("\n", end + 1)
        self._pending = text[start:]
        return records

    def close(self) -> None:
        if self._pending or self._decode(b"", final=True):
            raise ValueError("the data ends inside a record: it was cut short")


def format_record(values: Iterable[str | None]) -> str:
    """Values -> one CSV record with its line end; every value but NULL quoted."""
    return ",".join("" if v is None else '"' + v.replace('"', '""') + '"' for v in values) + "\n"
