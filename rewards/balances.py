"""What a cardholder sees of their points: totals, what expires soon, the next release, history.

Reads only: a couple of indexed queries per call (the account by the customer's unique key,
open lots through the partial `remaining > 0` index, ledger pages by `(account_id, id)`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Executable, and_, bindparam, or_, select

from rewards.db import db
from rewards.errors import NotFound
from rewards.ledger import utcnow
from rewards.models import Account, Customer, LedgerEntry, Program, Transaction

EXPIRY_HORIZON = timedelta(days=30)

# Bookkeeping a cardholder has no use for: the back-office reason, the actor, and what a
# campaign bonus charged against caps (kept so that a refund can give it back).
PRIVATE_EXPLANATION_KEYS = frozenset({"summary", "reason", "actor", "customer_id", "charges"})
PRIVATE_PART_KEYS = frozenset({"customer_id", "charges"})

FALLBACK_SUMMARIES = {
    "earn": "Points earned",
    "bonus": "Bonus points",
    "challenge_reward": "Challenge reward",
    "adjust": "Points adjustment",
    "redeem": "Points spent",
    "redemption_refund": "Points returned from a cancelled redemption",
    "clawback": "Points taken back after a refund",
    "expire": "Points expired",
}


@dataclass(frozen=True)
class Totals:
    """The account's running totals; `available` below zero is debt repaid by later earnings."""

    available: int = 0
    pending: int = 0
    lifetime_earned: int = 0
    lifetime_redeemed: int = 0

    @classmethod
    def of(cls, account: Account | None) -> Totals:
        if account is None:
            return cls()
        return cls(
            available=account.available,
            pending=account.pending,
            lifetime_earned=account.lifetime_earned,
            lifetime_redeemed=account.lifetime_redeemed,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "available": self.available,
            "pending": self.pending,
            "lifetime_earned": self.lifetime_earned,
            "lifetime_redeemed": self.lifetime_redeemed,
        }


@dataclass(frozen=True)
class Expiring:
    """Available points expiring on one day (program timezone)."""

    date: date
    points: int


@dataclass(frozen=True)
class Release:
    """When pending points next become spendable, and all the points due then."""

    available_at: datetime
    points: int


@dataclass(frozen=True)
class Balance:
    """Totals plus the expiry calendar and the next release."""

    totals: Totals
    expiring: list[Expiring]
    next_release: Release | None


@dataclass(frozen=True)
class LedgerLine:
    """One ledger entry as its cardholder reads it."""

    entry: LedgerEntry
    summary: str
    details: dict[str, Any]
    transaction_external_id: str | None
    merchant_name: str | None


@dataclass(frozen=True)
class LedgerPage:
    """A newest-first page; `last_id` is set when more entries follow."""

    lines: list[LedgerLine]
    last_id: int | None


def find_customer(*, program_id: int, external_ref: str) -> Customer:
    """The customer with `external_ref` in the program; erased customers count as unknown."""
    customer = db.session.scalar(
        select(Customer).where(
            Customer.program_id == program_id,
            Customer.external_ref == external_ref,
            Customer.status != "erased",
        )
    )
    if customer is None:
        raise NotFound("No customer with this external_ref in your program.")
    return customer


def zone(name: str) -> ZoneInfo:
    """The program's timezone; UTC if the stored name is unknown to this machine."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@cache
def _balance_statement() -> Executable:
    """Built once: constructing a select costs more than running it on this hot path."""
    lot = LedgerEntry
    return (
        select(
            Account.available,
            Account.pending,
            Account.lifetime_earned,
            Account.lifetime_redeemed,
            Program.timezone,
            lot.state,
            lot.remaining,
            lot.available_at,
            lot.expires_at,
        )
        .select_from(Customer)
        .join(Program, Program.id == Customer.program_id)
        .outerjoin(Account, Account.customer_id == Customer.id)
        .outerjoin(
            lot,
            and_(
                lot.account_id == Account.id,
                lot.remaining > 0,
                or_(lot.state == "pending", lot.expires_at <= bindparam("horizon")),
            ),
        )
        .where(
            Customer.program_id == bindparam("program_id"),
            Customer.external_ref == bindparam("external_ref"),
            Customer.status != "erased",
        )
    )


def balance(*, program_id: int, external_ref: str, now: datetime | None = None) -> Balance:
    """Totals, available points expiring within 30 days per local day, and the next release.

    One statement: the customer's account totals joined to the few lots that matter (pending,
    or expiring within the horizon). What is left of lots already past their expiry is gone
    from `available` and `expiring` at once, whether or not the hourly expiry job has written
    its `expire` entries yet: the job takes exactly that from the account, so the figure does
    not move when it runs. The next release is every pending point due at the earliest moment.
    """
    now = now or utcnow()
    params = {
        "program_id": program_id,
        "external_ref": external_ref,
        "horizon": now + EXPIRY_HORIZON,
    }
    rows = db.session.execute(_balance_statement(), params).all()
    if not rows:
        raise NotFound("No customer with this external_ref in your program.")
    first = rows[0]
    if first.available is None:  # enrolled without an account yet
        return Balance(totals=Totals(), expiring=[], next_release=None)
    local = zone(first.timezone)
    per_day: dict[date, int] = defaultdict(int)
    releases: dict[datetime, int] = defaultdict(int)
    lapsed = 0  # past expiry, not yet expired by the job
    for row in rows:
        if row.state is None:
            continue
        if row.state == "pending":
            releases[row.available_at] += row.remaining
        elif row.expires_at is not None and row.expires_at <= now:
            lapsed += row.remaining
        elif row.expires_at is not None:
            per_day[row.expires_at.astimezone(local).date()] += row.remaining
    totals = Totals(
        first.available - lapsed, first.pending, first.lifetime_earned, first.lifetime_redeemed
    )
    expiring = [Expiring(date=day, points=points) for day, points in sorted(per_day.items())]
    release = None
    if releases:
        due = min(releases)
        release = Release(available_at=due, points=releases[due])
    return Balance(totals=totals, expiring=expiring, next_release=release)


@cache
def _ledger_statement(after_cursor: bool, by_kind: bool) -> Executable:
    """One prebuilt statement per filter shape (see `_balance_statement`)."""
    account_id = (
        select(Account.id)
        .join(Customer, Customer.id == Account.customer_id)
        .where(
            Customer.program_id == bindparam("program_id"),
            Customer.external_ref == bindparam("external_ref"),
            Customer.status != "erased",
        )
        .scalar_subquery()
    )
    stmt = (
        select(LedgerEntry, Transaction.external_id, Transaction.merchant_name)
        .outerjoin(Transaction, Transaction.id == LedgerEntry.transaction_id)
        .where(LedgerEntry.account_id == account_id)
        .order_by(LedgerEntry.id.desc())
        .limit(bindparam("limit"))
    )
    if after_cursor:
        stmt = stmt.where(LedgerEntry.id < bindparam("before_id"))
    if by_kind:
        stmt = stmt.where(LedgerEntry.kind == bindparam("kind"))
    return stmt


def ledger_page(
    *,
    program_id: int,
    external_ref: str,
    limit: int,
    before_id: int | None = None,
    kind: str | None = None,
) -> LedgerPage:
    """The customer's ledger entries newest first, `limit` at a time (keyset on id)."""
    stmt = _ledger_statement(before_id is not None, kind is not None)
    params = {
        "program_id": program_id,
        "external_ref": external_ref,
        "before_id": before_id,
        "kind": kind,
        "limit": limit + 1,
    }
    rows = db.session.execute(stmt, params).all()
    if not rows:
        find_customer(program_id=program_id, external_ref=external_ref)  # 404 if unknown
    lines = [_line(entry, external_id, merchant) for entry, external_id, merchant in rows[:limit]]
    more = len(rows) > limit
    return LedgerPage(lines=lines, last_id=lines[-1].entry.id if more else None)


def _line(entry: LedgerEntry, external_id: str | None, merchant: str | None) -> LedgerLine:
    explanation = entry.explanation or {}
    summary = explanation.get("summary") or FALLBACK_SUMMARIES.get(entry.kind, entry.kind)
    details = {k: v for k, v in explanation.items() if k not in PRIVATE_EXPLANATION_KEYS}
    if isinstance(details.get("campaigns"), list):  # each campaign's part of a bonus lot
        details["campaigns"] = [
            {k: v for k, v in part.items() if k not in PRIVATE_PART_KEYS}
            for part in details["campaigns"]
            if isinstance(part, dict)
        ]
    return LedgerLine(
        entry=entry,
        summary=str(summary),
        details=details,
        transaction_external_id=external_id,
        merchant_name=merchant or explanation.get("merchant_name"),
    )
