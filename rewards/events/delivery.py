"""Sending deliveries: at least once, in order per endpoint, on the Standard Webhooks retry
schedule, never to an unsafe address.

One worker at a time sends an endpoint's deliveries (a lease on the endpoint row, committed,
so a crashed worker's lease just runs out). It sends the endpoint's oldest pending delivery
and, while they succeed, the next ones; a failure ends the run and schedules a retry of that
delivery, which the later ones wait behind (their order is kept, and a dead endpoint costs one
attempt per retry slot, not one per event). Other endpoints are other jobs: a dead endpoint
never holds them up.

An answer of 2xx is delivered. 410 disables the endpoint at once; failures for 5 days in a row
disable it too; either way a `webhook_endpoint.disabled` event goes to the owner's other
endpoints. 429 and 503 retry no sooner than `Retry-After` says (the transport caps it at an
hour). After the last retry of
the schedule a delivery is `failed`; a replay sends it again.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from rewards import sealing
from rewards.db import db
from rewards.events import signing, transport
from rewards.events.endpoints import Owner, policy, signing_secrets
from rewards.events.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from rewards.events.outbox import record
from rewards.ledger import utcnow
from rewards.models import Event
from rewards.pan import mask_pans
from rewards.textsafe import clean_text

log = logging.getLogger(__name__)

# Delays before each retry, after the first attempt (the spec's published schedule).
SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
JITTER = 0.1  # each delay is moved by up to ±10%, so retries of many events spread out
DISABLE_AFTER = timedelta(days=5)
LEASE = timedelta(minutes=5)  # extended before each send, which takes at most the timeout
RUN_SECONDS = 30.0  # one job's share of a worker; the next pump queues the endpoint again

Send = Callable[[str, bytes, dict[str, str], transport.Policy], transport.Outcome]


def message_id(event_id: int) -> str:
    """The `webhook-id` of an event: the same on every attempt and replay (receivers dedupe
    on it), opaque (it does not count the program's events)."""
    return "msg_" + sealing.lookup_hash(f"webhook-message:{event_id}")[:24]


def body_of(event: Event) -> bytes:
    """The JSON body: `{type, timestamp, data}`, the same bytes on every attempt."""
    envelope = {
        "type": event.type,
        "timestamp": event.created_at.isoformat(),
        "data": event.payload,
    }
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode("utf-8")


def due_endpoints(now: datetime, limit: int = 500) -> list[int]:
    """Enabled endpoints, not leased, whose oldest pending delivery is due."""
    head = (
        select(WebhookDelivery.next_attempt_at)
        .where(
            WebhookDelivery.endpoint_id == WebhookEndpoint.id, WebhookDelivery.status == "pending"
        )
        .order_by(WebhookDelivery.event_id)
        .limit(1)
        .correlate(WebhookEndpoint)
        .scalar_subquery()
    )
    return list(
        db.session.scalars(
            select(WebhookEndpoint.id)
            .where(
                WebhookEndpoint.enabled.is_(True),
                WebhookEndpoint.deleted_at.is_(None),
                (WebhookEndpoint.lease_until.is_(None)) | (WebhookEndpoint.lease_until < now),
                head <= now,
            )
            .order_by(WebhookEndpoint.id)
            .limit(limit)
        )
    )


def _take_lease(endpoint_id: int, now: datetime, held: datetime | None = None) -> datetime | None:
    """Take the endpoint's lease (or, with `held`, extend ours); its new end, or None if
    another worker holds it."""
    mine = (
        WebhookEndpoint.lease_until == held
        if held is not None
        else (WebhookEndpoint.lease_until.is_(None) | (WebhookEndpoint.lease_until < now))
    )
    until = now + LEASE
    taken = db.session.scalar(
        update(WebhookEndpoint)
        .where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.enabled.is_(True),
            WebhookEndpoint.deleted_at.is_(None),
            mine,
        )
        .values(lease_until=until)
        .returning(WebhookEndpoint.id)
    )
    db.session.commit()
    return until if taken is not None else None


def deliver_endpoint(
    endpoint_id: int,
    *,
    clock: Callable[[], datetime] = utcnow,
    send: Send = transport.send,
) -> int:
    """Send the endpoint's due deliveries in order until one fails; the number delivered.
    Commits after every attempt (each is recorded even if the worker dies next)."""
    lease = _take_lease(endpoint_id, clock())
    if lease is None:
        return 0
    delivered = 0
    try:
        started = time.monotonic()
        while time.monotonic() - started < RUN_SECONDS:
            now = clock()
            if lease - now < LEASE / 2:  # renewed (and proved still ours) now and then
                lease = _take_lease(endpoint_id, now, held=lease)
                if lease is None:
                    break
            endpoint = db.session.get_one(WebhookEndpoint, endpoint_id, populate_existing=True)
            head = _head(endpoint_id)
            due = head is not None and (head[0].next_attempt_at or now) <= now
            if not endpoint.enabled or head is None or not due:
                break
            if not attempt(endpoint, *head, now=now, send=send):
                break
            delivered += 1
    finally:
        db.session.rollback()
        if lease is not None:  # ours only: a lease another worker took is left alone
            db.session.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.lease_until == lease)
                .values(lease_until=None)
            )
        db.session.commit()
    return delivered


def _head(endpoint_id: int) -> tuple[WebhookDelivery, Event] | None:
    found = db.session.execute(
        select(WebhookDelivery, Event)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == "pending")
        .order_by(WebhookDelivery.event_id)
        .limit(1)
        .execution_options(populate_existing=True)
    ).first()
    return (found[0], found[1]) if found else None


def attempt(
    endpoint: WebhookEndpoint,
    delivery: WebhookDelivery,
    event: Event,
    *,
    now: datetime,
    send: Send = transport.send,
) -> bool:
    """One signed POST of the event to the endpoint, recorded and committed; True if 2xx.
    No transaction stays open while the receiver takes its time."""
    url, body = endpoint.url, body_of(event)
    try:
        secrets = signing_secrets(endpoint, now)
    except sealing.SealingError as exc:  # DATA_KEY changed: nothing can be signed; stop trying
        log.error("webhook endpoint %s: its secret cannot be opened (%s)", endpoint.id, exc)
        disable(endpoint, "its signing secret cannot be opened with this server's DATA_KEY", now)
        db.session.commit()
        return False
    headers = signing.headers(secrets, message_id(event.id), int(now.timestamp()), body)
    endpoint_id, delivery_id, was_failing = endpoint.id, delivery.id, endpoint.failing_since
    db.session.commit()
    outcome = send(url, body, headers, policy())
    touches_endpoint = not outcome.delivered or was_failing is not None
    if touches_endpoint:  # locked first, as everywhere else (endpoint, then its deliveries)
        endpoint = db.session.get_one(
            WebhookEndpoint, endpoint_id, with_for_update={"key_share": True},
            populate_existing=True,
        )  # fmt: skip
    # Locked: a replay committed during the send is seen, not overwritten.
    delivery = db.session.get_one(
        WebhookDelivery, delivery_id, with_for_update=True, populate_existing=True
    )
    if touches_endpoint:
        _record(endpoint, delivery, outcome, now)
    else:
        _note(delivery, outcome, now)  # the common case: the endpoint row stays untouched
    db.session.commit()
    return outcome.delivered


def _note(delivery: WebhookDelivery, outcome: transport.Outcome, now: datetime) -> None:
    """The attempt in the log and its result on the delivery."""
    latency = round(outcome.latency_ms)
    error = outcome.error[:200] if outcome.error else None
    db.session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            attempted_at=now,
            status_code=outcome.status,
            latency_ms=latency,
            error=error,
            response_excerpt=mask_pans(clean_text(outcome.body_excerpt))[:1024],
        )
    )
    delivery.attempts += 1
    delivery.last_status_code, delivery.last_error = outcome.status, error
    delivery.last_latency_ms = latency
    if outcome.delivered:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", now, None


def _record(
    endpoint: WebhookEndpoint, delivery: WebhookDelivery, outcome: transport.Outcome, now: datetime
) -> None:
    """`_note`, and what the attempt means for the endpoint: healthy again, failing since when,
    or disabled (410, or failing for `DISABLE_AFTER`)."""
    _note(delivery, outcome, now)
    if outcome.delivered:
        endpoint.failing_since = None
        return
    endpoint.failing_since = endpoint.failing_since or now
    if outcome.status == 410:
        disable(endpoint, "the endpoint answered 410 Gone", now)
    elif now - endpoint.failing_since >= DISABLE_AFTER:
        disable(endpoint, f"failing since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC", now)
    delivery.next_attempt_at = _next_attempt(delivery.attempts, outcome, now)
    if delivery.next_attempt_at is None:
        delivery.status = "failed"


def _next_attempt(attempts: int, outcome: transport.Outcome, now: datetime) -> datetime | None:
    """When to retry after `attempts` failed ones; None when the schedule is spent."""
    if attempts > len(SCHEDULE):
        return None
    delay = SCHEDULE[attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER)
    if outcome.status in (429, 503) and outcome.retry_after is not None:
        # No sooner than the receiver asks; never sooner than the schedule either (a
        # `Retry-After: 0` must not spend the whole schedule in seconds).
        delay = max(delay, timedelta(seconds=outcome.retry_after))
    return now + delay


def disable(endpoint: WebhookEndpoint, reason: str, now: datetime) -> None:
    """Stop sending to the endpoint and tell its owner's endpoints (`webhook_endpoint.disabled`);
    its pending deliveries wait until it is enabled again."""
    endpoint.enabled, endpoint.disabled_reason = False, reason[:200]
    record(
        program_id=endpoint.program_id,
        type="webhook_endpoint.disabled",
        key=f"webhook_endpoint.disabled:{endpoint.id}:{now.isoformat()}",
        partner_id=endpoint.partner_id,
        data={"endpoint_id": endpoint.id, "url": endpoint.url, "reason": reason,
              "disabled_at": now.isoformat()},
    )  # fmt: skip


def replay(delivery: WebhookDelivery, now: datetime) -> WebhookDelivery:
    """Send the delivery again, on a fresh schedule, in its place in its endpoint's line
    (oldest event first)."""
    delivery.status, delivery.attempts, delivery.next_attempt_at = "pending", 0, now
    delivery.delivered_at = None
    return delivery


def replay_since(endpoint: WebhookEndpoint, since: datetime, now: datetime, limit: int) -> int:
    """Queue every event of the endpoint's owner and types since `since` (at most `limit`)
    again: delivered ones are sent again, missed ones (the endpoint was disabled or did not
    exist yet) for the first time. The number queued."""
    events = db.session.execute(
        select(Event.id, Event.type)
        .where(
            *Owner(endpoint.program_id, endpoint.partner_id).owns(Event),
            Event.type.in_(endpoint.event_types),
            Event.created_at >= since,
            Event.published_at.is_not(None),  # newer ones the dispatcher is about to fan out
        )
        .order_by(Event.id)
        .limit(limit)
    ).all()
    existing = {
        d.event_id: d
        for d in db.session.scalars(
            select(WebhookDelivery).where(
                WebhookDelivery.endpoint_id == endpoint.id,
                WebhookDelivery.event_id.in_([event_id for event_id, _ in events]),
            )
        )
    }
    for event_id, type_ in events:
        if event_id in existing:
            replay(existing[event_id], now)
        else:
            db.session.add(_new_delivery(endpoint, event_id, type_, now))
    db.session.flush()
    return len(events)


def _new_delivery(endpoint: WebhookEndpoint, event_id: int, type_: str, now: datetime) -> Any:
    return WebhookDelivery(
        program_id=endpoint.program_id,
        partner_id=endpoint.partner_id,
        endpoint_id=endpoint.id,
        event_id=event_id,
        event_type=type_,
        status="pending",
        attempts=0,
        next_attempt_at=now,
    )
