"""Telling a feed's sender whether its stored rows were queued for processing.

The rows are committed first, then queued (`workers.queues.enqueue_transactions`, which never
raises for Redis). If the queue is unreachable the rows wait for the sweeper, and the answer
says so: `status` `stored` with a `detail`, instead of `queued`. Nothing needs sending again.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from api.idempotency import after_commit
from workers.queues import enqueue_transactions

QUEUED, STORED = "queued", "stored"
STATUS_DESCRIPTION = (
    "queued: every row stored is queued for processing; stored: the rows are stored but the "
    "queue was unreachable, the sweeper queues them"
)
DETAIL_DESCRIPTION = "what happens next, when the status is `stored`"
NOT_QUEUED = (
    "The rows are stored, but the job queue is unreachable: processing starts when the "
    "sweeper re-enqueues them, within a few minutes of the queue being back; there is no "
    "need to send them again."
)


class QueueStatusSchema(ma.Schema):
    """The `status` and `detail` every feed response carries (batches, files, Marqeta)."""

    status = ma.fields.String(
        validate=ma.validate.OneOf([QUEUED, STORED]),
        metadata={"description": STATUS_DESCRIPTION},
    )
    detail = ma.fields.String(metadata={"description": DETAIL_DESCRIPTION})


def mark_not_queued(body: dict[str, Any]) -> None:
    """Say in `body` that its rows are stored but not queued."""
    body["status"] = STORED
    body["detail"] = NOT_QUEUED


def queue_after_commit(ids: list[int], body: dict[str, Any]) -> None:
    """Queue `ids` once the request commits, and report the outcome in `body` (the dict the
    view returns: it is serialised after the commit). A response stored for `Idempotency-Key`
    replays was stored before the commit and says `queued`."""
    body["status"] = QUEUED
    if not ids:
        return

    def enqueue() -> None:
        if not enqueue_transactions(ids).complete:
            mark_not_queued(body)

    after_commit(enqueue)
