"""Ingest: validated feed rows stored as `received` transactions, set-based and idempotent.

Every row is inserted with `ON CONFLICT (program_id, external_id) DO NOTHING`, so a re-sent
batch, a retried webhook or two concurrent submissions store each external id exactly once.
On PostgreSQL a chunk is streamed through COPY into a temporary staging table and moved with
one `INSERT ... SELECT`; on SQLite (embedded mode) it is one multi-row INSERT. Services here
flush but never commit: the entry point passes `on_chunk`, which commits and then enqueues.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import sqlite

from rewards.db import db, is_postgres
from rewards.errors import NotFound
from rewards.feed_rows import STORED_COLUMNS, Errors, Row, RowError, RowValidator
from rewards.models import Batch, BatchRejection, Program, Transaction
from rewards.pan import mask_pans
from rewards.textsafe import clean_text

BATCH_SOURCES = ("api", "file", "marqeta", "cli")
REPORTED_REJECTIONS = 100  # rejections echoed in a response; all are kept on the batch
FILE_CHUNK_ROWS = 10_000

_COLUMN_LIST = ", ".join(STORED_COLUMNS)
_STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS feed_staging (
    external_id text, card_token text, kind text, amount_minor bigint, currency text, mcc text,
    category text, merchant_id text, merchant_name text, channel text,
    occurred_at timestamptz, original_external_id text
) ON COMMIT DROP
"""
_MOVE_STAGED = f"""
INSERT INTO transactions (program_id, batch_id, status, refunded_minor, {_COLUMN_LIST})
SELECT %(program_id)s, %(batch_id)s, 'received', 0, {_COLUMN_LIST}
FROM feed_staging
ORDER BY external_id
ON CONFLICT (program_id, external_id) DO NOTHING
RETURNING id
"""


@dataclass
class IngestSummary:
    """What happened to a submission: the counts a processor sees in the answer."""

    batch_id: int
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    ignored: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "ignored": self.ignored,
            "rejections": self.rejections,
        }


def program_by_slug(slug: str) -> Program:
    """The program called `slug`, or NotFound."""
    program = db.session.scalar(select(Program).where(Program.slug == slug))
    if program is None:
        raise NotFound(f"No program with slug {slug!r}.", field="program")
    return program


def open_batch(*, program_id: int, source: str, filename: str | None = None) -> Batch:
    """A new batch in status `receiving` (flushed, so it has an id)."""
    batch = Batch(
        program_id=program_id,
        source=source,
        filename=_display_filename(filename),
        status="receiving",
        received_rows=0,
        accepted=0,
        duplicates=0,
        rejected=0,
    )
    db.session.add(batch)
    db.session.flush()
    return batch


def _display_filename(filename: str | None) -> str | None:
    """The sender's file name as stored: card numbers masked, unstorable characters dropped."""
    if not filename:
        return None
    return mask_pans(clean_text(filename))[:255] or None


def finish_batch(batch: Batch, *, error: str | None = None) -> None:
    """Mark the batch `queued` (all rows stored and enqueued) or `failed` with the error."""
    batch.status = "failed" if error else "queued"
    batch.error = error[:500] if error else None
    batch.completed_at = datetime.now(UTC)
    db.session.flush()


def store_rows(*, program_id: int, batch_id: int, rows: list[Row]) -> list[int]:
    """Insert validated rows not stored yet; return the new transaction ids.

    Rows repeating an external id within `rows` keep the first; rows already stored are
    skipped by the unique constraint. Rows go in external-id order, so two sessions storing
    overlapping batches take their row locks in the same order and cannot deadlock.
    """
    unique: dict[str, Row] = {}
    for row in rows:
        unique.setdefault(row[0], row)
    if not unique:
        return []
    ordered = [unique[key] for key in sorted(unique)]
    if is_postgres():
        return _copy_and_move(program_id, batch_id, ordered)
    return _insert_many(program_id, batch_id, ordered)


def _copy_and_move(program_id: int, batch_id: int, rows: list[Row]) -> list[int]:
    connection = db.session.connection().connection.driver_connection
    with connection.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(_STAGING_DDL)
        cursor.execute("TRUNCATE feed_staging")
        with cursor.copy(f"COPY feed_staging ({_COLUMN_LIST}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(_MOVE_STAGED, {"program_id": program_id, "batch_id": batch_id})
        return [record[0] for record in cursor.fetchall()]


def _insert_many(program_id: int, batch_id: int, rows: list[Row]) -> list[int]:
    statement = (
        sqlite.insert(Transaction)
        .on_conflict_do_nothing(index_elements=["program_id", "external_id"])
        .returning(Transaction.id)
    )
    fixed = {"program_id": program_id, "batch_id": batch_id, "status": "received"}
    params = [{**fixed, **dict(zip(STORED_COLUMNS, row, strict=True))} for row in rows]
    return sorted(db.session.execute(statement, params).scalars())


def stored_external_ids(*, program_id: int, external_ids: Iterable[str]) -> set[str]:
    """Which of `external_ids` the program already holds."""
    wanted = list(set(external_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), 1000):
        part = wanted[start : start + 1000]
        found.update(
            db.session.scalars(
                select(Transaction.external_id).where(
                    Transaction.program_id == program_id, Transaction.external_id.in_(part)
                )
            )
        )
    return found


def _record_rejections(batch_id: int, rejections: list[tuple[int, Errors]]) -> None:
    if rejections:
        db.session.execute(
            insert(BatchRejection),
            [{"batch_id": batch_id, "row_index": i, "errors": e} for i, e in rejections],
        )


def ingest_chunk(
    *, batch: Batch, validator: RowValidator, items: list[tuple[int, Any]], summary: IngestSummary
) -> list[int]:
    """Validate and store one chunk of `(index, raw row)`; update batch and summary counts."""
    good: list[Row] = []
    rejections: list[tuple[int, Errors]] = []
    for index, raw in items:
        if isinstance(raw, RowError):
            rejections.append((index, raw.errors))
            continue
        row, errors = validator(raw)
        if errors is None:
            good.append(row)  # type: ignore[arg-type]
        else:
            rejections.append((index, errors))
    ids = store_rows(program_id=batch.program_id, batch_id=batch.id, rows=good)
    _record_rejections(batch.id, rejections)
    room = REPORTED_REJECTIONS - len(summary.rejections)
    summary.rejections.extend({"index": i, "errors": e} for i, e in rejections[:room])
    summary.accepted += len(ids)
    summary.duplicates += len(good) - len(ids)
    summary.rejected += len(rejections)
    batch.received_rows += len(items)
    batch.accepted += len(ids)
    batch.duplicates += len(good) - len(ids)
    batch.rejected += len(rejections)
    db.session.flush()
    return ids


def ingest_rows(
    *,
    batch: Batch,
    validator: RowValidator,
    rows: Iterable[Any],
    on_chunk: Callable[[list[int]], None],
    chunk_rows: int = FILE_CHUNK_ROWS,
    summary: IngestSummary | None = None,
) -> IngestSummary:
    """Store `rows` in chunks; after each chunk call `on_chunk(new_ids)`.

    `on_chunk` belongs to the entry point: a request registers the enqueue to run after its
    single commit; a file import commits the chunk and enqueues its ids at once, so a stream
    that breaks midway leaves every earlier chunk stored (re-sending is harmless).
    The batch is left `receiving`; call `finish_batch` when the input is exhausted.
    """
    summary = summary or IngestSummary(batch_id=batch.id)
    for items in _chunks(enumerate(rows), chunk_rows):
        ids = ingest_chunk(batch=batch, validator=validator, items=items, summary=summary)
        on_chunk(ids)
    return summary


def _chunks(items: Iterator[tuple[int, Any]], size: int) -> Iterator[list[tuple[int, Any]]]:
    while chunk := list(islice(items, size)):
        yield chunk
