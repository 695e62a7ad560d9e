"""Manual point adjustments by marketers (goodwill credits, corrections), always audited.

A positive adjustment is an available lot of kind `adjust` that expires like any earning.
A negative adjustment spends available lots oldest first and is refused if it would take the
available balance below zero: unlike a refund clawback, a human correction must never create
debt (remove at most what is available, then adjust again once more has been earned).
Pending points are never touched by an adjustment.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from rewards import audit
from rewards.balances import Totals, find_customer
from rewards.db import db
from rewards.errors import Conflict, InvalidInput
from rewards.ledger import Movement, account_of_customer, credit, debit, ensure_accounts, utcnow
from rewards.models import Account, AuditLog, LedgerEntry, Program
from rewards.processing.rules import add_months

MAX_ADJUSTMENT = 1_000_000
MAX_REASON = 500
MAX_MESSAGE = 140
MAX_EXPIRY_MONTHS = 120  # the latest expires_at an adjustment may set: ten years ahead
DEFAULT_MESSAGES = {True: "Points added by customer care", False: "Points removed by customer care"}


@dataclass(frozen=True)
class Adjustment:
    """The entry written, the account after it, and the audit row describing it."""

    entry: LedgerEntry
    account: Account
    audit: AuditLog


def _check(points: int, reason: str, expires_at: datetime | None, now: datetime) -> None:
    if points == 0 or abs(points) > MAX_ADJUSTMENT:
        raise InvalidInput(
            f"points must be non-zero and at most {MAX_ADJUSTMENT:,} either way", field="points"
        )
    if not reason.strip() or len(reason) > MAX_REASON:
        raise InvalidInput(f"reason must be 1 to {MAX_REASON} characters", field="reason")
    if expires_at is not None and points < 0:
        raise InvalidInput("only a positive adjustment can set expires_at", field="expires_at")
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expires_at must be in the future", field="expires_at")
    if expires_at is not None and expires_at > add_months(now, MAX_EXPIRY_MONTHS):
        # A typo (2206 for 2026) would otherwise grant points that practically never expire.
        raise InvalidInput(
            f"expires_at must be at most {MAX_EXPIRY_MONTHS // 12} years ahead", field="expires_at"
        )


def adjust_points(
    *,
    program_id: int,
    external_ref: str,
    points: int,
    reason: str,
    actor: str,
    actor_role: str,
    expires_at: datetime | None = None,
    message: str | None = None,
    now: datetime | None = None,
) -> Adjustment:
    """Credit (`points` > 0) or debit (< 0) a customer's available points, with an audit row.

    `reason` is for the back office (audit log); `message` is what the cardholder's history
    shows (a neutral default otherwise). Raises NotFound, InvalidInput or Conflict (overdraft).
    """
    now = now or utcnow()
    _check(points, reason, expires_at, now)
    customer = find_customer(program_id=program_id, external_ref=external_ref)
    ensure_accounts([(program_id, customer.id)])
    account = account_of_customer(customer.id, lock=True)
    assert account is not None
    before = Totals.of(account)
    if points < 0 and account.available + points < 0:
        raise Conflict(
            f"Removing {-points} points would take the available balance "
            f"({account.available}) below zero; adjustments never create debt.",
            field="points",
        )
    if points > 0 and expires_at is None:
        expiry_months = db.session.get_one(Program, program_id).expiry_months
        expires_at = add_months(now, expiry_months) if expiry_months else None
    move = Movement(
        kind="adjust",
        points=points,
        source_type="adjustment",
        idempotency_key=f"adj:{uuid.uuid4()}",
        occurred_at=now,
        expires_at=expires_at,
        explanation={
            "summary": message or DEFAULT_MESSAGES[points > 0],
            "rule": "manual_adjustment",
            "reason": reason,
            "actor": actor,
        },
    )
    entry = credit(account, move, now=now) if points > 0 else debit(account, move, now=now)
    assert entry is not None, "a fresh idempotency key cannot have been used"
    db.session.flush()
    row = audit.record(
        program_id=program_id,
        actor=actor,
        actor_role=actor_role,
        action="customer.adjust",
        object_type="customer",
        object_id=external_ref,
        before=before.as_dict(),
        after={
            **Totals.of(account).as_dict(),
            "points": points,
            "reason": reason,
            "ledger_entry_id": entry.id,
        },
    )
    return Adjustment(entry=entry, account=account, audit=row)
