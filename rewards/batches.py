"""Batch status for processors: what was received, and what processing has made of it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from rewards.db import db
from rewards.errors import NotFound
from rewards.models import Batch, BatchRejection, Transaction

# Transaction status → the count's name in the batch report.
STATUS_COUNTS = {
    "received": "received",
    "processed": "processed",
    "unmatched": "unmatched",
    "waiting_for_original": "waiting",
    "excluded": "excluded",
    "rejected": "failed_rules",
}


def get_batch(*, program_id: int, batch_id: int) -> Batch:
    """The batch if it belongs to `program_id`; NotFound otherwise (never another program's)."""
    batch = db.session.get(Batch, batch_id)
    if batch is None or batch.program_id != program_id:
        raise NotFound(f"No batch {batch_id} in this program.")
    return batch


def batch_report(*, program_id: int, batch_id: int) -> dict[str, Any]:
    """Stored counts plus a live GROUP BY over the batch's transactions by status."""
    batch = get_batch(program_id=program_id, batch_id=batch_id)
    counts = dict.fromkeys(STATUS_COUNTS.values(), 0)
    rows = db.session.execute(
        select(Transaction.status, func.count())
        .where(Transaction.batch_id == batch.id)
        .group_by(Transaction.status)
    )
    for status, count in rows:
        counts[STATUS_COUNTS.get(status, status)] = count
    return {
        "id": batch.id,
        "source": batch.source,
        "filename": batch.filename,
        "status": batch.status,
        "error": batch.error,
        "rows": batch.received_rows,
        "accepted": batch.accepted,
        "duplicates": batch.duplicates,
        "rejected": batch.rejected,
        **counts,
        "complete": batch.status == "queued" and counts["received"] == 0,
        "created_at": batch.created_at,
        "completed_at": batch.completed_at,
    }


def list_rejections(
    *, program_id: int, batch_id: int, limit: int, after_id: int | None
) -> tuple[list[BatchRejection], int | None]:
    """A page of the batch's rejected rows in row order, and the cursor of the next page."""
    batch = get_batch(program_id=program_id, batch_id=batch_id)
    query = select(BatchRejection).where(BatchRejection.batch_id == batch.id)
    if after_id is not None:
        query = query.where(BatchRejection.id > after_id)
    page = list(db.session.scalars(query.order_by(BatchRejection.id).limit(limit + 1)))
    next_cursor = page[limit - 1].id if len(page) > limit else None
    return page[:limit], next_cursor
