"""The delivery log an endpoint's owner reads: deliveries newest first with their latest
attempts, one delivery with all of them, and replays (one delivery, or everything since a
moment for one endpoint). An owner sees only deliveries to its own endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from rewards.db import db
from rewards.errors import InvalidInput, NotFound
from rewards.events import delivery as sending
from rewards.events.endpoints import Owner, get
from rewards.events.models import WebhookAttempt, WebhookDelivery
from rewards.ledger import utcnow

ATTEMPTS_SHOWN = 50
REPLAY_LIMIT = 10_000
REPLAY_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class LoggedDelivery:
    delivery: WebhookDelivery
    webhook_id: str
    attempts: list[WebhookAttempt]


def _with_attempts(rows: list[WebhookDelivery], per_delivery: int) -> list[LoggedDelivery]:
    attempts: dict[int, list[WebhookAttempt]] = {row.id: [] for row in rows}
    if rows:
        found = db.session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(list(attempts)))
            .order_by(WebhookAttempt.id.desc())
        )
        for attempt in found:
            if len(attempts[attempt.delivery_id]) < per_delivery:
                attempts[attempt.delivery_id].append(attempt)
    return [LoggedDelivery(row, sending.message_id(row.event_id), attempts[row.id]) for row in rows]


def deliveries(
    owner: Owner,
    *,
    limit: int,
    before_id: int | None = None,
    status: str | None = None,
    event_type: str | None = None,
    endpoint_id: int | None = None,
) -> list[LoggedDelivery]:
    """Up to `limit` deliveries to the owner's endpoints, newest first, each with its last
    five attempts."""
    stmt = select(WebhookDelivery).where(*owner.owns(WebhookDelivery))
    if before_id is not None:
        stmt = stmt.where(WebhookDelivery.id < before_id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    if event_type is not None:
        stmt = stmt.where(WebhookDelivery.event_type == event_type)
    if endpoint_id is not None:
        stmt = stmt.where(WebhookDelivery.endpoint_id == endpoint_id)
    rows = list(db.session.scalars(stmt.order_by(WebhookDelivery.id.desc()).limit(limit)))
    return _with_attempts(rows, 5)


def one(owner: Owner, delivery_id: int, *, lock: bool = False) -> WebhookDelivery:
    """One delivery to the owner's endpoints; NotFound for anybody else's."""
    stmt = select(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id, *owner.owns(WebhookDelivery)
    )
    if lock:
        stmt = stmt.with_for_update()
    found = db.session.scalar(stmt)
    if found is None:
        raise NotFound(f"Delivery {delivery_id} not found.")
    return found


def logged(owner: Owner, delivery_id: int) -> LoggedDelivery:
    """One delivery with its latest `ATTEMPTS_SHOWN` attempts."""
    return _with_attempts([one(owner, delivery_id)], ATTEMPTS_SHOWN)[0]


def replay(owner: Owner, delivery_id: int, now: datetime | None = None) -> LoggedDelivery:
    """Queue the delivery again (see `delivery.replay`)."""
    found = one(owner, delivery_id, lock=True)
    sending.replay(found, now or utcnow())
    db.session.flush()
    return _with_attempts([found], 5)[0]


def replay_since(
    owner: Owner, endpoint_id: int, since: datetime, now: datetime | None = None
) -> int:
    """Queue every event for the endpoint since `since` (at most 30 days back and 10,000
    events) again; the number queued."""
    now = now or utcnow()
    if since < now - REPLAY_WINDOW or since > now:
        raise InvalidInput("`since` must be within the last 30 days.", field="since")
    endpoint = get(owner, endpoint_id, lock=True)
    return sending.replay_since(endpoint, since, now, REPLAY_LIMIT)
