"""Signed events in from partners (`POST /v1/partner/events`).

Each partner signs with its own inbound secret (`whsec_...`, shown once when made or rotated;
during a rotation's overlap the previous one is accepted too), per the Standard Webhooks spec:
a bad or missing signature, or a timestamp more than 5 minutes off, is refused before the body
is even looked at. A `webhook-id` is applied once: a redelivery gets the first answer again.

`partner.purchase` (a purchase in the partner's own app or shop) becomes a transaction of the
feed with `source = 'partner'`: it earns through campaigns with a `partner_event` condition,
within the same caps and budgets as card purchases, and counts for challenges that say
`partner_event`. `partner.purchase.refunded` is a refund of it and claws back exactly, as a
card refund does. The customer is the one who linked the partner's id (`rewards.events.links`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text

from rewards import sealing
from rewards.db import db, dialect_insert, is_postgres
from rewards.errors import InvalidInput
from rewards.events import signing
from rewards.events.inbound_models import InboundEvent, PartnerInboundSecret
from rewards.events.links import linked_customer
from rewards.ledger import utcnow
from rewards.models import Partner, Program, Transaction

PURCHASE = "partner.purchase"
REFUND = "partner.purchase.refunded"
TYPES = (PURCHASE, REFUND)
PARTNER_MCC = "0000"  # no card, no MCC: no category, never an excluded MCC
FUTURE_SLACK = timedelta(minutes=5)
MAX_WEBHOOK_ID = 200


class BadSignature(Exception):
    """The request is not signed by the partner (401); `reason` says how."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def rotate_secret(partner_id: int, *, overlap: timedelta, now: datetime | None = None) -> str:
    """Make the partner's inbound secret (or a new one); returned in clear, once. The previous
    one is still accepted for `overlap`."""
    now = now or utcnow()
    secret = signing.new_secret()
    row = db.session.get(PartnerInboundSecret, partner_id, with_for_update=True)
    if row is None:
        db.session.add(
            PartnerInboundSecret(partner_id=partner_id, secret_sealed=sealing.seal(secret))
        )
    else:
        row.previous_sealed = row.secret_sealed if overlap else None
        row.previous_until = now + overlap if overlap else None
        row.secret_sealed = sealing.seal(secret)
    db.session.flush()
    return secret


def verify(partner_id: int, headers: Mapping[str, str], body: bytes, now: datetime) -> str:
    """The `webhook-id` of a request the partner signed; BadSignature otherwise."""
    row = db.session.get(PartnerInboundSecret, partner_id)
    if row is None:
        raise BadSignature(
            "no-secret", "Make an inbound secret first (POST /v1/partner/inbound-secret)."
        )
    secrets = [sealing.unseal(row.secret_sealed)]
    if row.previous_sealed and row.previous_until and now < row.previous_until:
        secrets.append(sealing.unseal(row.previous_sealed))
    try:
        webhook_id = signing.verify(secrets, headers, body, now=int(now.timestamp()))
    except signing.SignatureError as exc:
        raise BadSignature(exc.reason, str(exc)) from exc
    if len(webhook_id) > MAX_WEBHOOK_ID:
        raise BadSignature("missing-headers", f"webhook-id is longer than {MAX_WEBHOOK_ID}.")
    return webhook_id


def replayed(partner_id: int, webhook_id: str) -> InboundEvent | None:
    """The first answer to this `webhook-id`, waiting for a concurrent first delivery to commit."""
    if is_postgres():
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:lock, 0))"),
            {"lock": f"inbound:{partner_id}:{webhook_id}"},
        )
    return db.session.scalar(
        select(InboundEvent).where(
            InboundEvent.partner_id == partner_id, InboundEvent.webhook_id == webhook_id
        )
    )


def apply(
    *, program_id: int, partner_id: int, webhook_id: str, event: dict[str, Any], now: datetime
) -> tuple[int, dict[str, Any], int | None]:
    """Apply a verified, validated event: (status, answer, transaction id to process or None).
    Recorded under its `webhook-id` in the caller's transaction."""
    data = event["data"]
    _check(program_id, data, now)
    # '|' cannot occur in a reference: a purchase's id never equals a refund's.
    external_id = f"partner|{partner_id}|{data['reference']}"
    original = None
    if event["type"] == REFUND:
        original, external_id = external_id, f"{external_id}|refund|{data['refund_reference']}"
        # The purchase's cardholder, linked or no longer: an unlink must not keep the points.
        customer_id = _buyer(program_id, partner_id, original)
    else:
        customer_id = linked_customer(partner_id, data["customer_id"])
    if customer_id is None:
        raise InvalidInput(
            "No purchase of yours has this reference." if original else
            "This customer id is not linked to a cardholder: the cardholder links it with a "
            "code from POST /v1/partner/link-codes.",
            field="data.reference" if original else "data.customer_id",
        )  # fmt: skip
    partner = db.session.get_one(Partner, partner_id)
    tx_id = db.session.scalar(
        dialect_insert(Transaction)
        .values(
            program_id=program_id, external_id=external_id, card_token=f"partner-{partner_id}",
            customer_id=customer_id, kind="refund" if original else "purchase",
            amount_minor=data["amount_minor"], currency=data["currency"], mcc=PARTNER_MCC,
            merchant_name=partner.name, occurred_at=data["occurred_at"],
            original_external_id=original, status="received", source="partner",
            partner_id=partner_id,
        )
        .on_conflict_do_nothing(index_elements=["program_id", "external_id"])
        .returning(Transaction.id)
    )  # fmt: skip
    answer = {
        "webhook_id": webhook_id,
        "status": "accepted" if tx_id is not None else "duplicate",
        "reference": data["reference"],
    }
    db.session.add(
        InboundEvent(
            partner_id=partner_id, webhook_id=webhook_id, type=event["type"],
            transaction_id=tx_id, response_status=202, response_body=answer,
        )
    )  # fmt: skip
    db.session.flush()
    return 202, answer, tx_id


def _buyer(program_id: int, partner_id: int, external_id: str) -> int | None:
    """The cardholder of the partner's purchase `external_id` (this partner's only)."""
    return db.session.scalar(
        select(Transaction.customer_id).where(
            Transaction.program_id == program_id,
            Transaction.external_id == external_id,
            Transaction.kind == "purchase",
            Transaction.source == "partner",
            Transaction.partner_id == partner_id,
        )
    )


def _check(program_id: int, data: dict[str, Any], now: datetime) -> None:
    currency = db.session.scalar(select(Program.currency).where(Program.id == program_id))
    if data["currency"] != currency:
        raise InvalidInput(f"The program earns in {currency}.", field="data.currency")
    if data["occurred_at"] > now + FUTURE_SLACK:
        raise InvalidInput("A purchase cannot happen in the future.", field="data.occurred_at")
