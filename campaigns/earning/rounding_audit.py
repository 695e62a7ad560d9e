"""Bonus lots that lost points to the rounded qualifying share, found and (on request) corrected.

Before the effect arithmetic became exact, a multiplier whose qualifying-spend cap let only part
of a purchase qualify was computed through a share rounded to 28 digits: ¥5 of ¥14 at 3× gave
9 points, not 10. Only those parts can be short: a whole amount took an exact integer path, and
the other effects multiply an exact decimal. A bonus lot's explanation names each campaign
version, its points and its qualifying spend; with the purchase's amount and base points that
is enough to work each part out again exactly.

A part whose version also has a per-customer cap or a budget is reported as *uncertain*, never
corrected: had the cap's room been exactly the rounded points, the exact figure would have been
cut to the same number, and the explanation does not say how much room there was.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from campaigns.earning.compiled import Campaign, Purchase
from campaigns.earning.feed import explained_parts
from campaigns.earning.models import CampaignVersion
from rewards.db import among, db
from rewards.ledger import Movement, credit, lock_accounts, utcnow
from rewards.models import Account, LedgerEntry, Transaction

KEY = "fix:bonus-rounding:lot:{}"  # one correction per lot, whatever the number of runs
ROOM_CUTS = ("pts/", "budget reached")  # limits whose points came from a cap's room


@dataclass(frozen=True)
class ShortLot:
    """A bonus lot short of its exact points: `owed` is what the customer still lacks once
    refunds of the purchase are taken into account (0 when fully refunded)."""

    lot_id: int
    account_id: int
    customer_id: int
    transaction_id: int
    stored: int
    exact: int
    owed: int
    expired: bool  # the lot's expiry passed: its points would be gone by now anyway
    corrected: bool = False  # a correcting entry for this lot exists already


@dataclass
class RoundingAudit:
    """What an audit found: lots looked at, lots short, lots it cannot decide."""

    checked: int = 0  # bonus lots with a multiplier part cut by a qualifying-spend cap
    short: list[ShortLot] = field(default_factory=list)
    uncertain: int = 0  # short unless a per-customer cap or budget left exactly that room
    corrected: int = 0  # correcting entries written by this run (`apply`)

    @property
    def customers(self) -> int:
        return len({s.customer_id for s in self.short})

    @property
    def points(self) -> int:
        return sum(s.exact - s.stored for s in self.short)


def audit_bonus_rounding(
    *, program_id: int | None = None, apply: bool = False, now: datetime | None = None
) -> RoundingAudit:
    """Recompute every capped multiplier part of every bonus lot exactly; with `apply`, write
    one `adjust` entry per short lot for what it still owes (idempotent: the key names the
    lot). Read-only otherwise. The caller commits."""
    now = now or utcnow()
    audit = RoundingAudit()
    versions: dict[tuple[int, int], Campaign | None] = {}
    for lot, tx, base, customer_id in _bonus_lots(program_id):
        exact, certain, looked = _exact_points(lot, tx, base, versions)
        if not looked:
            continue
        audit.checked += 1
        if exact <= lot.points:
            continue
        if not certain:
            audit.uncertain += 1
            continue
        audit.short.append(_short(lot, tx, exact, customer_id, now))
    done = set(
        db.session.scalars(
            select(LedgerEntry.idempotency_key).where(
                among(LedgerEntry.idempotency_key, {KEY.format(s.lot_id) for s in audit.short})
            )
        )
    )
    audit.short = [replace(s, corrected=KEY.format(s.lot_id) in done) for s in audit.short]
    if apply:
        audit.corrected = _correct(audit.short, now)
    return audit


def _bonus_lots(program_id: int | None) -> Iterator[tuple[LedgerEntry, Transaction, int, int]]:
    """(bonus lot, its purchase, the purchase's base points, customer), in id order."""
    earn = aliased(LedgerEntry)
    base = (
        select(earn.points)
        .where(earn.transaction_id == Transaction.id, earn.kind == "earn", earn.points > 0)
        .limit(1)
        .correlate(Transaction)
        .scalar_subquery()
    )
    stmt = (
        select(LedgerEntry, Transaction, base, Account.customer_id)
        .join(Transaction, Transaction.id == LedgerEntry.transaction_id)
        .join(Account, Account.id == LedgerEntry.account_id)
        .where(LedgerEntry.kind == "bonus", LedgerEntry.points > 0)
        .where(Transaction.kind == "purchase")
        .order_by(LedgerEntry.id)
    )
    if program_id is not None:
        stmt = stmt.where(LedgerEntry.program_id == program_id)
    for lot, tx, base_points, customer_id in db.session.execute(
        stmt.execution_options(yield_per=1000)
    ):
        yield lot, tx, int(base_points or 0), customer_id


def _exact_points(
    lot: LedgerEntry,
    tx: Transaction,
    base: int,
    versions: dict[tuple[int, int], Campaign | None],
) -> tuple[int, bool, bool]:
    """The lot's exact points, whether that figure is certain, and whether any part of it was
    one the rounding could touch (a multiplier on part of the amount)."""
    total, certain, looked = 0, True, False
    purchase = Purchase.of(tx, base)
    for part in explained_parts(lot.explanation or {}, lot.points):
        stored = int(part["points"])
        qualifying = int(part.get("qualifying_minor") or 0)
        c = _version(int(part["campaign_id"]), int(part.get("campaign_version") or 1), versions)
        if c is None or c.effect != "multiplier" or not 0 < qualifying < tx.amount_minor:
            total += stored
            continue
        looked = True
        exact = c.raw_points(purchase, qualifying)
        if c.per_transaction is not None:
            exact = min(exact, c.per_transaction)
        if exact <= stored or any(
            cut in text for text in part.get("limits", ()) for cut in ROOM_CUTS
        ):
            total += stored  # not short, or a per-customer cap or the budget set its points
            continue
        if c.per_customer or c.budget_points is not None:
            certain = False
        total += exact
    return total, certain, looked


def _version(
    campaign_id: int, number: int, versions: dict[tuple[int, int], Campaign | None]
) -> Campaign | None:
    key = (campaign_id, number)
    if key not in versions:
        definition = db.session.scalar(
            select(CampaignVersion.definition).where(
                CampaignVersion.campaign_id == campaign_id, CampaignVersion.version == number
            )
        )
        versions[key] = definition and Campaign.compile(campaign_id, number, definition)
    return versions[key]


def _short(
    lot: LedgerEntry, tx: Transaction, exact: int, customer_id: int, now: datetime
) -> ShortLot:
    # A refund of R of amount A took floor(P·R/A) from a lot of P: the customer keeps P less
    # that, and should keep the same of the exact figure.
    refunded, amount = tx.refunded_minor, tx.amount_minor
    kept_exact = exact - exact * refunded // amount
    kept = lot.points - lot.points * refunded // amount
    expired = lot.expires_at is not None and lot.expires_at <= now
    return ShortLot(
        lot_id=lot.id,
        account_id=lot.account_id,
        customer_id=customer_id,
        transaction_id=tx.id,
        stored=lot.points,
        exact=exact,
        owed=max(0, kept_exact - kept),
        expired=expired,
    )


def _correct(short: list[ShortLot], now: datetime) -> int:
    """One `adjust` lot per short lot still owed something and not expired, expiring when the
    lot does; accounts locked in id order. Returns how many entries were written."""
    due = [s for s in short if s.owed > 0 and not s.expired and not s.corrected]
    accounts = lock_accounts(s.account_id for s in due)
    lots = (
        {
            lot.id: lot
            for lot in db.session.scalars(
                select(LedgerEntry).where(LedgerEntry.id.in_([s.lot_id for s in due]))
            )
        }
        if due
        else {}
    )
    written = 0
    for s in due:
        lot = lots[s.lot_id]
        move = Movement(
            kind="adjust",
            points=s.owed,
            source_type="adjustment",
            source_id=s.lot_id,
            idempotency_key=KEY.format(s.lot_id),
            occurred_at=now,
            available_at=lot.available_at if lot.state == "pending" else None,
            expires_at=lot.expires_at,
            explanation=_explanation(s),
        )
        if credit(accounts[s.account_id], move, now=now) is not None:
            written += 1
    return written


def _explanation(s: ShortLot) -> dict[str, Any]:
    return {
        "summary": f"+{s.owed} pts: a campaign bonus corrected (it was rounded down)",
        "rule": "bonus_rounding_correction",
        "lot_id": s.lot_id,
        "transaction_id": s.transaction_id,
        "stored_points": s.stored,
        "exact_points": s.exact,
    }
