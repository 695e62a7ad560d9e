"""Test helpers: perk events at chosen instants (redeem, cancel, use at the till, expire),
through the same services the API and the jobs call, each committed like a request."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from rewards.models import Partner
from rewards.perks.redemption import Redeemed, redeem
from rewards.perks.till import confirm_use
from rewards.perks.vouchers import cancel, expire_due


def at(text: str) -> datetime:
    """`2026-11-09T15:00:00Z` as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def redeem_at(db, program_id: int, perk_id: int, when: str, ref: str = "cust-1") -> Redeemed:
    done = redeem(program_id=program_id, external_ref=ref, perk_id=perk_id, now=at(when))
    db.session.commit()
    return done


def cancel_at(db, program_id: int, done: Redeemed, when: str, ref: str = "cust-1") -> None:
    cancel(program_id=program_id, external_ref=ref, voucher_id=done.voucher.id, now=at(when))
    db.session.commit()


def use_at(db, done: Redeemed, when: str) -> None:
    confirm_use(partner_id=done.perk.partner_id, typed=done.code, now=at(when))
    db.session.commit()


def expire_at(db, when: str) -> int:
    expired = expire_due(now=at(when))
    db.session.commit()
    return expired


def partner_id_of(db, code: str) -> int:
    return db.session.scalar(select(Partner.id).where(Partner.code == code))
