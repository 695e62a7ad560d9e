"""Reading customer files (CSV with a header row, or JSON Lines) incrementally from a stream.

Each item is one data row: its mapping, or a `RowError` for a line that cannot be read.
Nothing here holds more than one line in memory.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import IO, Any

from rewards.enrolment.rows import FIELDS, REQUIRED
from rewards.errors import InvalidInput
from rewards.feed_files import CountingReader
from rewards.feed_rows import RowError

FORMATS = ("csv", "jsonl")


def _text_stream(binary: IO[bytes]) -> io.TextIOWrapper:
    readable = binary if hasattr(binary, "readinto") else CountingReader(binary)
    buffered = io.BufferedReader(readable, buffer_size=1 << 16)  # type: ignore[arg-type]
    return io.TextIOWrapper(buffered, encoding="utf-8-sig", newline="")


def check_header(header: list[str] | None) -> None:
    """Refuse the whole file when its header names unknown columns or lacks external_ref."""
    if not header:
        raise InvalidInput("The CSV file is empty; a header row is required.", field="file")
    errors: dict[str, list[str]] = {}
    for position, column in enumerate(header):
        if column not in FIELDS:
            # The column's name is not echoed: it may be a card number used as a header.
            errors[f"_header.{position}"] = ["unknown column"]
    for column in REQUIRED:
        if column not in header:
            errors[column] = ["required column is missing from the header"]
    if len(set(header)) != len(header):
        errors["_header"] = ["a column appears twice"]
    if errors:
        raise InvalidInput(
            f"The CSV header is not valid; columns are {', '.join(FIELDS)}.", errors=errors
        )


def _csv_rows(
    reader: Iterator[list[str]], header: list[str]
) -> Iterator[dict[str, Any] | RowError]:
    width = len(header)
    for values in reader:
        if not values:
            continue
        if len(values) != width:
            yield RowError({"_row": [f"has {len(values)} values, the header has {width}"]})
            continue
        yield dict(zip(header, values, strict=True))


def _jsonl_rows(text: io.TextIOWrapper) -> Iterator[dict[str, Any] | RowError]:
    for line in text:
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except (ValueError, RecursionError):
            yield RowError({"_row": ["is not valid JSON"]})


def read_customers(binary: IO[bytes], file_format: str) -> Iterator[dict[str, Any] | RowError]:
    """Rows of `binary` in `file_format` (csv or jsonl); a bad CSV header fails at once."""
    if file_format == "csv":
        reader = csv.reader(_text_stream(binary))
        header = next(reader, None)
        check_header(header)
        assert header is not None
        return _csv_rows(reader, header)
    if file_format == "jsonl":
        return _jsonl_rows(_text_stream(binary))
    raise InvalidInput(f"format must be one of {', '.join(FORMATS)}", field="format")
