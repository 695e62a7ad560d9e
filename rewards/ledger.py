"""Ledger primitives: accounts, lots and the FIFO rules every movement of points follows.

Invariants (checked by `rewards.reconcile`):
- `account.available` = Σ points of its entries in state available; `account.pending` likewise.
- Σ `remaining` of available lots = max(available, 0): a debit consumes the oldest lots first
  and any shortfall is debt (a negative balance); credits that become available repay debt first.
- Σ `remaining` of pending lots = pending: only clawbacks touch pending lots, and only their own.
Callers lock the account row (`lock_accounts`) before any of these, so concurrent jobs and
requests on one customer serialise, always in ascending account id (no deadlocks).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from rewards.db import db, dialect_insert
from rewards.models import Account, LedgerEntry


@dataclass(frozen=True)
class Movement:
    """One ledger entry to write; `points` is signed."""

    kind: str
    points: int
    source_type: str
    idempotency_key: str
    occurred_at: datetime
    explanation: dict[str, Any]
    source_id: int | None = None
    transaction_id: int | None = None
    available_at: datetime | None = None  # None = available now
    expires_at: datetime | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


def ensure_accounts(customers: Iterable[tuple[int, int]]) -> None:
    """Create missing accounts for `(program_id, customer_id)` pairs (idempotent)."""
    rows = [
        {
            "program_id": p,
            "customer_id": c,
            "available": 0,
            "pending": 0,
            "lifetime_earned": 0,
            "lifetime_redeemed": 0,
        }
        for p, c in sorted(set(customers), key=lambda pair: pair[1])  # one lock order
    ]
    if rows:
        stmt = (
            dialect_insert(Account)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["customer_id"])
        )
        db.session.execute(stmt)


def lock_accounts(account_ids: Iterable[int]) -> dict[int, Account]:
    """Row-lock accounts in ascending id order and return them fresh from the database."""
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    stmt = (
        select(Account)
        .where(Account.id.in_(ids))
        .order_by(Account.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {account.id: account for account in db.session.scalars(stmt)}


def account_of_customer(customer_id: int, *, lock: bool = False) -> Account | None:
    """The customer's account, optionally row-locked."""
    stmt = select(Account).where(Account.customer_id == customer_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return db.session.scalar(stmt)


def _insert_entry(
    account: Account,
    move: Movement,
    *,
    state: str,
    remaining: int | None,
    available_at: datetime,
    reverses: int | None = None,
) -> LedgerEntry | None:
    """Insert unless the idempotency key exists; None means it was already applied."""
    values = {
        "program_id": account.program_id,
        "account_id": account.id,
        "kind": move.kind,
        "points": move.points,
        "state": state,
        "available_at": available_at,
        "expires_at": move.expires_at,
        "remaining": remaining,
        "source_type": move.source_type,
        "source_id": move.source_id,
        "transaction_id": move.transaction_id,
        "reverses_entry_id": reverses,
        "idempotency_key": move.idempotency_key,
        "explanation": move.explanation,
        "occurred_at": move.occurred_at,
    }
    stmt = (
        dialect_insert(LedgerEntry)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(LedgerEntry)
        # Every column as given, None too: a column default can never stand in for a NULL.
        .execution_options(render_nulls=True)
    )
    # RETURNING the entity puts the new row in the session without a second SELECT. The
    # values go as parameters, so the statement is compiled once, not per entry. The insert
    # depends on nothing waiting in the session (changes to lots' `remaining` and to
    # balances): those are flushed together later, not one round trip each before every entry.
    with db.session.no_autoflush:
        return db.session.scalars(stmt, values).first()


def credit(account: Account, move: Movement, *, now: datetime | None = None) -> LedgerEntry | None:
    """Add a lot of `move.points` (> 0): pending until `available_at`, else available now.

    An available credit repays debt first. Returns None if the key was already used.
    """
    assert move.points > 0, "credit takes positive points"
    now = now or utcnow()
    available_at = move.available_at or now
    pending = available_at > now
    entry = _insert_entry(
        account,
        move,
        state="pending" if pending else "available",
        remaining=move.points,
        available_at=available_at,
    )
    if entry is None:
        return None
    if move.kind in EARNING_KINDS:
        account.lifetime_earned += move.points
    if pending:
        account.pending += move.points
    else:
        make_available(account, entry)
    return entry


EARNING_KINDS = frozenset({"earn", "bonus", "challenge_reward", "adjust"})


def make_available(
    account: Account, lot: LedgerEntry, taken_back: Sequence[LedgerEntry] = ()
) -> None:
    """Count a lot as available, with the pending clawbacks already taken from it.

    Pending totals lose what was pending; of what is left of the lot (`remaining`), the part
    that covers existing debt is used up.
    """
    was_pending = lot.state == "pending"
    debt = max(0, -account.available)
    net = lot.points + sum(entry.points for entry in taken_back)
    for entry in (lot, *taken_back):
        entry.state = "available"
    lot.remaining = (lot.remaining or 0) - min(debt, lot.remaining or 0)
    if was_pending:
        account.pending -= net
    account.available += net


def debit(
    account: Account,
    move: Movement,
    *,
    from_lot: LedgerEntry | None = None,
    now: datetime | None = None,
    lots: Sequence[LedgerEntry] | None = None,
) -> LedgerEntry | None:
    """Take `-move.points` (move.points < 0) from the account, oldest available lots first.

    With `from_lot` (a clawback), that lot pays first; a pending lot pays alone and the entry
    stays pending with it. A shortfall on available points leaves a negative balance (debt).
    `lots`: the account's open lots as `open_lots` reads them, when the caller already has
    them (spares the read). Returns None if the key was already used.
    """
    assert move.points < 0, "debit takes negative points"
    now = now or utcnow()
    amount = -move.points
    if from_lot is not None and from_lot.state == "pending":
        entry = _insert_entry(
            account,
            move,
            state="pending",
            remaining=None,
            available_at=from_lot.available_at,
            reverses=from_lot.id,
        )
        if entry is None:
            return None
        if amount > (from_lot.remaining or 0):
            raise ValueError("a pending clawback cannot exceed its lot")
        from_lot.remaining = (from_lot.remaining or 0) - amount
        account.pending -= amount
        return entry
    entry = _insert_entry(
        account,
        move,
        state="available",
        remaining=None,
        available_at=now,
        reverses=from_lot.id if from_lot is not None else None,
    )
    if entry is None:
        return None
    left = amount - (_consume(from_lot, amount) if from_lot is not None else 0)
    if left > 0:
        _consume_oldest(account, left, from_lot, lots)
    account.available -= amount
    if move.kind == "redeem":
        account.lifetime_redeemed += amount
    return entry


def _consume_oldest(
    account: Account,
    wanted: int,
    besides: LedgerEntry | None,
    lots: Sequence[LedgerEntry] | None,
) -> None:
    """Take `wanted` points from the account's open lots, soonest expiry first (any shortfall
    is the debt the caller's balance shows)."""
    if lots is None:
        lots = open_lots(account.id, exclude=besides.id if besides else None)
    for lot in lots:
        wanted -= _consume(lot, wanted)
        if wanted == 0:
            return


def _consume(lot: LedgerEntry, wanted: int) -> int:
    taken = min(wanted, lot.remaining or 0)
    lot.remaining = (lot.remaining or 0) - taken
    return taken


def open_lots(account_id: int, *, exclude: int | None = None) -> list[LedgerEntry]:
    """Available lots with points left, oldest expiry first (then oldest entry)."""
    stmt = (
        select(LedgerEntry)
        .where(
            LedgerEntry.account_id == account_id,
            LedgerEntry.state == "available",
            LedgerEntry.remaining > 0,
        )
        .order_by(LedgerEntry.expires_at.asc().nulls_last(), LedgerEntry.id)
    )
    if exclude is not None:
        stmt = stmt.where(LedgerEntry.id != exclude)
    return list(db.session.scalars(stmt))
