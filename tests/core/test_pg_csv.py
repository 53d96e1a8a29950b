"""PostgreSQL's CSV, read and written exactly: NULL and the empty string stay apart."""

from __future__ import annotations

import io
import random

import pytest

from airflow_audit_core.pg_csv import RecordStream, format_record, parse_record, read_records

# What `COPY (...) TO STDOUT WITH (FORMAT csv)` wrote for rows holding each awkward value.
WRITTEN_BY_POSTGRESQL = (
    '1,t,"a,""b""\nc","{""x"": [1, ""é""]}",0102,2024-01-01 10:00:00.5+00,\n'
    '2,f,"",,,,1.5\n'
    '3,,,[],"",\\N,1e+300\n'
)


def test_postgresqls_csv_is_read_value_for_value():
    records = list(read_records(io.StringIO(WRITTEN_BY_POSTGRESQL, newline="")))
    assert records == [
        ["1", "t", 'a,"b"\nc', '{"x": [1, "é"]}', "0102", "2024-01-01 10:00:00.5+00", None],
        ["2", "f", "", None, None, None, "1.5"],
        ["3", None, None, "[]", "", "\\N", "1e+300"],
    ]


def awkward_rows(seed: int) -> list[list[str | None]]:
    """2,000 rows of short values made of what trips a CSV reader, NULLs among them."""
    rng = random.Random(seed)
    alphabet = ["a", ",", '"', "\n", "\r", " ", "é", "\\", "N", "'"]
    return [
        [
            None if rng.random() < 0.2 else "".join(rng.choices(alphabet, k=rng.randrange(0, 6)))
            for _ in range(rng.randrange(1, 6))
        ]
        for _ in range(2000)
    ]


def test_what_is_written_reads_back_the_same():
    rows = awkward_rows(7)
    text = "".join(format_record(row) for row in rows)
    assert list(read_records(io.StringIO(text, newline=""))) == rows


def test_a_file_cut_inside_a_quoted_value_is_refused():
    with pytest.raises(ValueError, match="cut short"):
        list(read_records(io.StringIO('1,"open\nvalue', newline="")))


def test_a_line_that_is_not_csv_is_refused():
    with pytest.raises(ValueError, match="not PostgreSQL CSV"):
        parse_record('1,"a"b')


def test_records_fed_in_pieces_read_as_the_whole_text_does():
    """As a COPY writes them (a row a write), or cut anywhere, inside a quoted line end or a
    character of two bytes: the same records as read_records."""
    rows = awkward_rows(11)
    data = (WRITTEN_BY_POSTGRESQL + "".join(format_record(row) for row in rows)).encode()
    expected = list(read_records(io.StringIO(data.decode(), newline="")))
    for pieces in (
        [format_record(row).encode() for row in rows],
        [data[i : i + 1] for i in range(len(data))],
        [data[i : i + 7] for i in range(0, len(data), 7)],
    ):
        stream = RecordStream()
        got = [record for piece in pieces for record in stream.feed(piece)]
        stream.close()
        assert got == (rows if len(pieces) == len(rows) else expected)


@pytest.mark.parametrize("cut", [b'1,"open\nvalue\n', b"1,2", b"1,\xc3"])
def test_data_cut_inside_a_record_is_refused(cut):
    """Inside a quoted value, before the line end, inside a character of two bytes."""
    stream = RecordStream()
    assert stream.feed(cut) == []
    with pytest.raises(ValueError, match="cut short"):
        stream.close()
