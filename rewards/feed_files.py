"""Reading transaction files (CSV with a header row, or JSON Lines) incrementally from a stream.

Each reader yields one item per data row: the row's mapping, or a `RowError` for a line that
cannot be read. Nothing here holds more than one line in memory. Bytes that are not UTF-8
are decoded as lone surrogates ("surrogateescape"), so the row holding them is rejected alone
by the row checks, naming its field, and the rows around it are stored.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from typing import IO, Any

from rewards.errors import InvalidInput
from rewards.feed_rows import FIELDS, REQUIRED, RowError, safe_field_name

FORMATS = ("csv", "jsonl")
_FIELD_SET = frozenset(FIELDS)


class CountingReader(io.RawIOBase):
    """Wraps a binary stream and counts the bytes read through it (for progress bars)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.bytes_read += size
        return size


def _text_stream(binary: IO[bytes]) -> io.TextIOWrapper:
    readable = binary if hasattr(binary, "readinto") else CountingReader(binary)
    buffered = io.BufferedReader(readable, buffer_size=1 << 16)  # type: ignore[arg-type]
    return io.TextIOWrapper(buffered, encoding="utf-8-sig", errors="surrogateescape", newline="")


def check_csv_header(header: list[str] | None) -> None:
    """Refuse the whole file when its header names unknown or lacks required columns."""
    if not header:
        raise InvalidInput("The CSV file is empty; a header row is required.", field="file")
    errors: dict[str, list[str]] = {}
    for column in header:
        if column not in _FIELD_SET:
            errors[safe_field_name(column) or "_header"] = ["unknown column"]
    for column in REQUIRED:
        if column not in header:
            errors[column] = ["required column is missing from the header"]
    if len(set(header)) != len(header):
        errors["_header"] = ["a column appears twice"]
    if errors:
        raise InvalidInput("The CSV header is not valid; see errors.", errors=errors)


def read_csv(
    binary: IO[bytes], check_header: Callable[[list[str] | None], None] = check_csv_header
) -> Iterator[dict[str, Any] | RowError]:
    """Rows of a CSV file whose first line names the fields; empty cells count as absent.

    The header is read and checked (`check_header` raises InvalidInput) at once, so a bad
    header fails before any row is stored.
    """
    reader = csv.reader(_text_stream(binary))
    header = next(reader, None)
    check_header(header)
    assert header is not None
    return _csv_rows(reader, header)


def _csv_rows(
    reader: Iterator[list[str]], header: list[str]
) -> Iterator[dict[str, Any] | RowError]:
    width = len(header)
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # one malformed line (e.g. an oversized field): that row only
            yield RowError({"_row": [f"is not valid CSV ({type(exc).__name__})"]})
            continue
        if not values:
            continue
        if len(values) != width:
            yield RowError({"_row": [f"has {len(values)} values, the header has {width}"]})
            continue
        yield dict(zip(header, values, strict=True))


def read_jsonl(binary: IO[bytes]) -> Iterator[dict[str, Any] | RowError]:
    """Rows of a JSON Lines file: one JSON object per line; blank lines are skipped."""
    for line in _text_stream(binary):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except (ValueError, RecursionError):
            yield RowError({"_row": ["is not valid JSON"]})


def read_rows(
    binary: IO[bytes],
    file_format: str,
    check_header: Callable[[list[str] | None], None] = check_csv_header,
) -> Iterator[dict[str, Any] | RowError]:
    """Rows of `binary` in `file_format` (csv or jsonl); `check_header` judges a CSV header
    (by default, a transaction file's)."""
    if file_format == "csv":
        return read_csv(binary, check_header)
    if file_format == "jsonl":
        return read_jsonl(binary)
    raise InvalidInput(f"format must be one of {', '.join(FORMATS)}", field="format")
