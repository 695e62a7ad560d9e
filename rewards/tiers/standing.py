"""Customers' tiers in the database: qualifying points, reassessment and the yearly review.

*Qualifying points* (see `rewards.tiers.ladder`) are the `earn` and `bonus` lots of purchases
made in the rolling 12 months (by the purchase's `occurred_at`, in the program's local days)
less every clawback taken from those lots; an unlinked refund's base clawback counts against
the day of the refund. Challenge rewards, adjustments, spending and expiry do not count.

Two callers reassess, always holding the customers' account locks (ascending id, like every
writer of accounts), so a feed chunk and the review job never decide on the same customer at
once:
- the feed chunk, for its customers, after writing their points (`reassess_customers`):
  upgrades happen at once, and a review date that has come is honoured;
- the review job (`review_due`), for customers whose review date has come in their
  program's timezone, so downgrades happen without a purchase.
Each change of tier writes a `customer.tier_changed` event (idempotent key) to the outbox.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, false, func, or_, select, update
from sqlalchemy.orm import aliased

from rewards.db import among, db, dialect_insert
from rewards.models import Account, Customer, Event, LedgerEntry
from rewards.tiers.ladder import (
    Ladder,
    ProgramLadder,
    Standing,
    counting_from,
    decimal_text,
    outlook,
    reassess,
)

QUALIFYING_KINDS = ("earn", "bonus")
EVENT_TYPE = "customer.tier_changed"


@dataclass(frozen=True)
class TierChange:
    """One customer's effective tier moved (`before` None: they had no tier yet)."""

    program_id: int
    customer_id: int
    before: str | None
    after: str
    review_on: date | None
    points: int


def _qualifying_sum(starts: Mapping[int, datetime]) -> Any:
    """SUM of the qualifying points of entries whose purchase happened at or after its
    program's start in `starts` (programs not in it count nothing)."""
    lot = aliased(LedgerEntry)
    purchase_at = func.coalesce(lot.occurred_at, LedgerEntry.occurred_at)
    since = case(
        *((LedgerEntry.program_id == p, start) for p, start in starts.items()),
        else_=None,
    )
    counted = or_(
        and_(
            LedgerEntry.kind.in_(QUALIFYING_KINDS),
            LedgerEntry.points > 0,
            LedgerEntry.source_type == "transaction",
        ),
        and_(LedgerEntry.kind == "clawback", lot.kind.in_(QUALIFYING_KINDS)),
        and_(
            LedgerEntry.kind == "clawback",
            LedgerEntry.reverses_entry_id.is_(None),
            LedgerEntry.idempotency_key.like("%:base_claw"),
        ),
    )
    return lot, counted, purchase_at >= since


def qualifying_points(
    customer_ids: Iterable[int], starts: Mapping[int, datetime]
) -> dict[int, int]:
    """`customer → qualifying points` of purchases made since their program's start (`starts`:
    program id → UTC instant): one aggregate query. Customers with none are absent."""
    ids = list(customer_ids)
    if not ids or not starts:
        return {}
    lot, counted, in_window = _qualifying_sum(starts)
    stmt = (
        select(Account.customer_id, func.sum(LedgerEntry.points))
        .join(LedgerEntry, LedgerEntry.account_id == Account.id)
        .outerjoin(lot, lot.id == LedgerEntry.reverses_entry_id)
        .where(among(Account.customer_id, ids), counted, in_window)
        .group_by(Account.customer_id)
    )
    return {customer_id: int(points or 0) for customer_id, points in db.session.execute(stmt)}


def reassess_customers(
    customers: Iterable[tuple[int, int]],
    ladders: Mapping[int, ProgramLadder],
    *,
    now: datetime,
) -> list[TierChange]:
    """Reassess `(program id, customer id)` pairs whose program has a ladder, set-based: one
    aggregate query, one update of the rows that change, one insert of events. The caller
    holds the customers' account locks and commits."""
    wanted = {c: p for p, c in customers if p in ladders}
    if not wanted:
        return []
    today = {p: ladder.today(now) for p, ladder in ladders.items()}
    starts = {p: ladders[p].start_of(counting_from(today[p])) for p in set(wanted.values())}
    points = qualifying_points(wanted, starts)
    stmt = select(
        Customer.id,
        Customer.program_id,
        Customer.tier,
        Customer.tier_review_on,
        Customer.tier_since,
    ).where(among(Customer.id, wanted))
    updates: list[dict[str, Any]] = []
    changes: list[TierChange] = []
    for customer_id, program_id, code, review_on, since in db.session.execute(stmt):
        ladder = ladders[program_id].ladder
        earned = points.get(customer_id, 0)
        after = _next_standing(
            ladder, Standing(code or ladder.base.code, review_on), earned, today[program_id]
        )
        moved = ladder.get(code) is not ladder.get(after.tier)
        new_since = None if after.tier == ladder.base.code else (now if moved else since)
        if (code, review_on, since) != (after.tier, after.review_on, new_since):
            updates.append(
                {
                    "id": customer_id,
                    "tier": after.tier,
                    "tier_review_on": after.review_on,
                    "tier_since": new_since,
                }
            )
        if moved:
            changes.append(
                TierChange(program_id, customer_id, code, after.tier, after.review_on, earned)
            )
    if updates:
        db.session.execute(update(Customer), updates)
    _announce(changes, ladders, today)
    return changes


def _next_standing(ladder: Ladder, current: Standing, points: int, today: date) -> Standing:
    """`reassess`, with the base tier never carrying a review date (nothing to keep)."""
    after = reassess(ladder, current, points, today)
    if after.tier == ladder.base.code:
        return Standing(after.tier, None)
    return after


def _announce(
    changes: list[TierChange], ladders: Mapping[int, ProgramLadder], today: Mapping[int, date]
) -> None:
    """One outbox event per change, keyed by customer, tiers and local day (a rerun adds
    nothing)."""
    rows = []
    for change in changes:
        ladder = ladders[change.program_id].ladder
        before, after = ladder.get(change.before), ladder.get(change.after)
        up = ladder.rank(after) > ladder.rank(before)
        day = today[change.program_id].isoformat()
        summary = (
            f"You reached {after.name}" if up else f"Your yearly review: you are now {after.name}"
        )
        rows.append(
            {
                "program_id": change.program_id,
                "customer_id": change.customer_id,
                "type": EVENT_TYPE,
                "key": f"{EVENT_TYPE}:{change.customer_id}:{before.code}:{after.code}:{day}",
                "payload": {
                    "summary": summary,
                    "direction": "upgrade" if up else "downgrade",
                    "from": {"code": before.code, "name": before.name},
                    "to": {"code": after.code, "name": after.name},
                    "earn_multiplier": decimal_text(after.earn_multiplier),
                    "qualifying_points": change.points,
                    "review_on": change.review_on.isoformat() if change.review_on else None,
                    "on": day,
                },
            }
        )
    if rows:
        db.session.execute(
            dialect_insert(Event).values(rows).on_conflict_do_nothing(index_elements=["key"])
        )


def due_for_review(ladders: Mapping[int, ProgramLadder], *, now: datetime, limit: int) -> Any:
    """Up to `limit` `(program id, customer id)` whose review date has come (local date)."""
    due = or_(
        false(),
        *(
            and_(Customer.program_id == p, Customer.tier_review_on <= ladder.today(now))
            for p, ladder in ladders.items()
        ),
    )
    stmt = select(Customer.program_id, Customer.id).where(due).order_by(Customer.id).limit(limit)
    return [(p, c) for p, c in db.session.execute(stmt)]


def review_due(ladders: Mapping[int, ProgramLadder], *, now: datetime, limit: int = 500) -> int:
    """Review one batch of customers whose review date has come: lock their accounts (in id
    order, as chunks do), then reassess. Returns how many were due; the caller commits and
    repeats while a full batch was due. Each review moves the date on or clears it."""
    customers = due_for_review(ladders, now=now, limit=limit)
    if customers:
        ids = [c for _, c in customers]
        db.session.execute(
            select(Account.id)
            .where(among(Account.customer_id, ids))
            .order_by(Account.id)
            .with_for_update()
        ).all()
        reassess_customers(customers, ladders, now=now)
    return len(customers)


@dataclass(frozen=True)
class TierStatus:
    """What the cardholder's app shows of their tier (see `ladder.outlook`)."""

    code: str
    name: str
    earn_multiplier: str
    since: datetime | None
    review_on: date | None
    next_tier: str | None
    points_to_next_tier: int | None
    keep_by: date | None
    points_to_keep: int | None


def tier_status(
    customer: Customer, tiers: ProgramLadder | None, *, now: datetime
) -> TierStatus | None:
    """The customer's tier and outlook now; None when the program has no tiers. A tier code
    the ladder no longer has shows as the base tier (as the feed treats it)."""
    if tiers is None:
        return None
    ladder = tiers.ladder
    held = ladder.get(customer.tier)
    review_on = customer.tier_review_on if held is not ladder.base else None
    starts = {tiers.program_id: tiers.start_of(counting_from(tiers.today(now)))}
    rolling = qualifying_points([customer.id], starts).get(customer.id, 0)
    toward = 0
    if review_on is not None:
        review_starts = {tiers.program_id: tiers.start_of(counting_from(review_on))}
        toward = qualifying_points([customer.id], review_starts).get(customer.id, 0)
    seen = outlook(ladder, Standing(held.code, review_on), rolling, toward)
    return TierStatus(
        code=held.code,
        name=held.name,
        earn_multiplier=decimal_text(held.earn_multiplier),
        since=customer.tier_since if held is not ladder.base else None,
        review_on=review_on,
        next_tier=seen.next_tier,
        points_to_next_tier=seen.to_next_tier,
        keep_by=seen.keep_by,
        points_to_keep=seen.to_keep,
    )
