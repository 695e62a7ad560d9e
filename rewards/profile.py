"""What cardholders change about themselves in the app: nickname and leaderboard opt-in.

Opting in is the cardholder's own consent (`consent_leaderboard` with
`leaderboard_opted_in_at`, which minors need before they may appear: see
`campaigns.leaderboards.privacy`); opting out clears both. Every change is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from rewards.audit import record
from rewards.db import db
from rewards.errors import InvalidInput, NotFound
from rewards.models import Customer
from rewards.pan import mask_pans
from rewards.textsafe import UNSTORABLE_MESSAGE, storable

MAX_NICKNAME = 64


def _snapshot(customer: Customer) -> dict[str, Any]:
    opted_in_at = customer.leaderboard_opted_in_at
    return {
        "nickname": customer.nickname,
        "consent_leaderboard": customer.consent_leaderboard,
        "leaderboard_opted_in_at": opted_in_at.isoformat() if opted_in_at else None,
    }


def update_own_profile(
    *,
    program_id: int,
    external_ref: str,
    changes: dict[str, Any],
    actor: str,
    now: datetime,
) -> Customer:
    """Apply `changes` (`leaderboard_opt_in`: bool, `nickname`: text or None) to the customer,
    row-locked; absent keys stay as they are. Opting in while already opted in by oneself
    keeps the first opt-in time. The caller commits."""
    customer = db.session.scalar(
        select(Customer)
        .where(
            Customer.program_id == program_id,
            Customer.external_ref == external_ref,
            Customer.status != "erased",
        )
        .with_for_update()
    )
    if customer is None:
        raise NotFound("No customer with this external_ref in your program.")
    before = _snapshot(customer)
    if "nickname" in changes:
        customer.nickname = _nickname(changes["nickname"])
    if "leaderboard_opt_in" in changes:
        if changes["leaderboard_opt_in"]:
            if not (customer.consent_leaderboard and customer.leaderboard_opted_in_at):
                customer.consent_leaderboard = True
                customer.leaderboard_opted_in_at = now
        else:
            customer.consent_leaderboard = False
            customer.leaderboard_opted_in_at = None
    after = _snapshot(customer)
    if after != before:
        record(
            program_id=program_id,
            actor=actor,
            actor_role="cardholder",
            action="customer.update_own_profile",
            object_type="customer",
            object_id=customer.id,
            before=before,
            after=after,
        )
    db.session.flush()
    return customer


def _nickname(value: str | None) -> str | None:
    """A nickname as stored: display text, any card number masked; None clears it."""
    if value is None:
        return None
    if not value.strip() or len(value) > MAX_NICKNAME:
        raise InvalidInput(f"1 to {MAX_NICKNAME} characters.", field="nickname")
    if not storable(value):
        raise InvalidInput(UNSTORABLE_MESSAGE, field="nickname")
    return mask_pans(value)
