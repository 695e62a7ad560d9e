"""The outbox: domain events written in the same transaction as the change they announce.

`record` only inserts (idempotent on the event's key), so a rolled-back change announces
nothing and a retried one announces once; the webhook dispatcher (`rewards.events.dispatch`)
sends them later. Which audience may subscribe to which type is `TYPES`.

A partner never learns who a cardholder is at the bank: events carry `partner_customer_id`,
an opaque id per (partner, customer) that is stable for that partner and useless to any other
(a keyed hash, never the external ref, name or birth date).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rewards import sealing
from rewards.db import db, dialect_insert
from rewards.models import Event

PARTNER = "partner"
PROGRAM = "program"

# Event type -> the endpoint owners that may subscribe to it.
TYPES: dict[str, frozenset[str]] = {
    "perk.redeemed": frozenset({PARTNER}),
    "voucher.issued": frozenset({PARTNER}),
    "voucher.used": frozenset({PARTNER}),
    "voucher.expired": frozenset({PARTNER}),
    "voucher.cancelled": frozenset({PARTNER}),
    "partner.purchase.credited": frozenset({PARTNER}),
    "challenge.completed": frozenset({PARTNER}),
    "campaign.budget_exhausted": frozenset({PROGRAM}),
    "webhook_endpoint.disabled": frozenset({PARTNER, PROGRAM}),
}


def types_for(owner: str) -> list[str]:
    """The event types an endpoint of `owner` (PARTNER or PROGRAM) may subscribe to."""
    return sorted(t for t, owners in TYPES.items() if owner in owners)


def partner_customer_id(partner_id: int, customer_id: int) -> str:
    """The opaque id `partner_id` knows the customer by in events."""
    return "cus_" + sealing.lookup_hash(f"partner-customer:{partner_id}:{customer_id}")[:24]


def event_row(
    *,
    program_id: int,
    type: str,
    key: str,
    data: dict[str, Any],
    partner_id: int | None = None,
    customer_id: int | None = None,
) -> dict[str, Any]:
    """One outbox row for `record_all` (`key` makes the announcement idempotent)."""
    assert type in TYPES, f"unknown event type {type}"
    return {
        "program_id": program_id,
        "type": type,
        "key": key,
        "payload": data,
        "partner_id": partner_id,
        "customer_id": customer_id,
    }


def record_all(rows: Iterable[dict[str, Any]]) -> None:
    """Append the events in one statement, in the caller's transaction; a key already
    recorded is skipped (the same fact announced twice is stored once)."""
    values = list(rows)
    if values:
        db.session.execute(
            dialect_insert(Event).values(values).on_conflict_do_nothing(index_elements=["key"])
        )


def record(**fields: Any) -> None:
    """Append one event (see `event_row`) in the caller's transaction."""
    record_all([event_row(**fields)])
