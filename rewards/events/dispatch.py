"""Fan-out: new outbox events become one delivery per subscribed endpoint.

The feed and the API only append to the outbox; this runs in a worker. One dispatcher at a
time (a transaction-scoped advisory lock; a second one finds it taken and leaves), so the
deliveries of one endpoint are created in the order of the events. An event goes to the
enabled endpoints of its owner that subscribe to its type: the partner's when the event names
a partner, the program's own when it names none. Events no endpoint wants (a level-up, for
the cardholder's activity feed) are marked published all the same.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update

from rewards.db import db, dialect_insert, is_postgres
from rewards.events.models import WebhookDelivery, WebhookEndpoint
from rewards.ledger import utcnow
from rewards.models import Event

BATCH = 2000
INSERT_ROWS = 5000
_LOCK = "SELECT pg_try_advisory_xact_lock(hashtextextended('rewards:webhooks:dispatch', 0))"


def dispatch(*, now: datetime | None = None, limit: int = BATCH) -> int:
    """Fan out up to `limit` unpublished events, oldest first; the number of events handled.
    The caller commits."""
    now = now or utcnow()
    if is_postgres() and not db.session.scalar(text(_LOCK)):
        return 0  # another dispatcher is at it
    events = db.session.execute(
        select(Event.id, Event.program_id, Event.partner_id, Event.type)
        .where(Event.published_at.is_(None))
        .order_by(Event.id)
        .limit(limit)
    ).all()
    if not events:
        return 0
    routes = _routes({program_id for _, program_id, _, _ in events})
    rows = [
        {
            "program_id": program_id,
            "partner_id": partner_id,
            "endpoint_id": endpoint_id,
            "event_id": event_id,
            "event_type": type_,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
        }
        for event_id, program_id, partner_id, type_ in events
        for endpoint_id in routes.get((program_id, partner_id, type_), ())
    ]
    for start in range(0, len(rows), INSERT_ROWS):  # a statement takes at most 65,535 values
        db.session.execute(
            dialect_insert(WebhookDelivery)
            .values(rows[start : start + INSERT_ROWS])
            .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
        )
    db.session.execute(
        update(Event)
        .where(Event.id.in_([event_id for event_id, *_ in events]))
        .values(published_at=now)
        .execution_options(synchronize_session=False)
    )
    return len(events)


def _routes(program_ids: set[int]) -> dict[tuple[Any, ...], list[int]]:
    """(program, partner or None, event type) -> the enabled endpoints subscribed to it."""
    routes: dict[tuple[Any, ...], list[int]] = {}
    found = db.session.execute(
        select(
            WebhookEndpoint.id,
            WebhookEndpoint.program_id,
            WebhookEndpoint.partner_id,
            WebhookEndpoint.event_types,
        )
        .where(
            WebhookEndpoint.program_id.in_(program_ids),
            WebhookEndpoint.enabled.is_(True),
            WebhookEndpoint.deleted_at.is_(None),
        )
        .order_by(WebhookEndpoint.id)
    )
    for endpoint_id, program_id, partner_id, types in found:
        for type_ in types:
            routes.setdefault((program_id, partner_id, type_), []).append(endpoint_id)
    return routes
