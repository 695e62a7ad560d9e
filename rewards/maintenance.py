"""Scheduled ledger upkeep: release pending points, expire old lots, find stranded work."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence, Set
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, select, update
from sqlalchemy.orm import aliased

from rewards.db import db
from rewards.ledger import Movement, debit, lock_accounts, make_available, utcnow
from rewards.models import Account, Card, Customer, LedgerEntry, Transaction


def _due(
    *conditions: Any, order_by: Sequence[Any], limit: int
) -> list[tuple[Account, list[LedgerEntry]]]:
    """Lock (ascending id) up to `limit` accounts having entries that match `conditions`, and
    return each with those entries, fetched in one query after the locks are held."""
    due = select(LedgerEntry.account_id).where(*conditions).limit(limit)
    accounts = lock_accounts(set(db.session.scalars(due)))
    if not accounts:
        return []
    entries: dict[int, list[LedgerEntry]] = defaultdict(list)
    for entry in db.session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.account_id.in_(accounts), *conditions)
        .order_by(*order_by)
        .execution_options(populate_existing=True)
    ):
        entries[entry.account_id].append(entry)
    return [(account, entries[account_id]) for account_id, account in accounts.items()]


def release_pending(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Make pending entries whose `available_at` has passed available; returns how many.

    Each lot is released together with the pending clawbacks taken from it, so only what is
    left of the lot counts against existing debt. The caller commits; call again while it
    returns `limit`.
    """
    now = now or utcnow()
    due = _due(
        LedgerEntry.state == "pending",
        LedgerEntry.available_at <= now,
        order_by=[LedgerEntry.id],
        limit=limit,
    )
    return sum(_release(account, entries) for account, entries in due)


def _release(account: Account, entries: Sequence[LedgerEntry]) -> int:
    clawbacks: dict[int | None, list[LedgerEntry]] = defaultdict(list)
    for entry in entries:
        if entry.points < 0:
            clawbacks[entry.reverses_entry_id].append(entry)
    for lot in (e for e in entries if e.points > 0):
        make_available(account, lot, clawbacks.pop(lot.id, []))
    for orphans in clawbacks.values():  # their lot was released earlier (not expected)
        for entry in orphans:
            entry.state = "available"
            account.pending -= entry.points
            account.available += entry.points
    return len(entries)


def expire_lots(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Expire what is left of available lots past `expires_at`; returns the entries written."""
    now = now or utcnow()
    due = _due(
        LedgerEntry.state == "available",
        LedgerEntry.remaining > 0,
        LedgerEntry.expires_at <= now,
        order_by=[LedgerEntry.expires_at, LedgerEntry.id],
        limit=limit,
    )
    return sum(expire_lot(account, lot, now) for account, lots in due for lot in lots)


def expire_lot(account: Account, lot: LedgerEntry, now: datetime) -> bool:
    """Expire what is left of one lapsed lot of the locked `account` (an `expire` entry keyed
    by the lot: once, whoever gets there first, the hourly job or a redemption)."""
    points = lot.remaining or 0
    move = Movement(
        kind="expire",
        points=-points,
        source_type="expiry",
        source_id=lot.id,
        idempotency_key=f"expire:{lot.id}",
        occurred_at=lot.expires_at or now,
        explanation={
            "summary": f"{points} pts expired (earned {lot.occurred_at:%Y-%m-%d})",
            "rule": "expiry",
            "lot_id": lot.id,
        },
    )
    return debit(account, move, from_lot=lot, now=now) is not None


def expire_lapsed(account: Account, lots: Sequence[LedgerEntry], now: datetime) -> int:
    """Expire the lots of the locked account already past their expiry, of its open `lots`
    (`open_lots`), before spending from it: the hourly job may not have reached them, and
    lapsed points must never be spent."""
    lapsed = [lot for lot in lots if lot.expires_at is not None and lot.expires_at <= now]
    return sum(expire_lot(account, lot, now) for lot in lapsed)


def stranded_transactions(
    *,
    older_than: timedelta,
    still_queued: Callable[[Sequence[int]], Set[int]] | None = None,
    now: datetime | None = None,
    limit: int = 100_000,
) -> list[int]:
    """Ids of work that no queue will deliver; the caller commits, then enqueues them.

    - rows left `received` for longer than `older_than` (Redis lost the job, a worker died),
      except those `still_queued(ids)` says a pending job will process;
    - refunds still waiting although their purchase has reached its end (processed, excluded
      or rejected; a chunk raced them);
    - rows `unmatched` although their card is now enrolled (enrolment raced their chunk).
    Waiting and unmatched rows found are flipped back to `received`.
    """
    now = now or utcnow()
    received = list(
        db.session.scalars(
            select(Transaction.id)
            .where(Transaction.status == "received", Transaction.received_at <= now - older_than)
            .order_by(Transaction.id)
            .limit(limit)
        )
    )
    if received and still_queued is not None:
        queued = still_queued(received)
        received = [tx_id for tx_id in received if tx_id not in queued]
    purchase = aliased(Transaction)
    original_done = exists().where(
        and_(
            purchase.program_id == Transaction.program_id,
            purchase.external_id == Transaction.original_external_id,
            purchase.kind == "purchase",
            purchase.status.in_(("processed", "excluded", "rejected")),
        )
    )
    card_enrolled = exists().where(
        and_(
            Card.program_id == Transaction.program_id,
            Card.token == Transaction.card_token,
            Customer.id == Card.customer_id,
            Customer.status == "active",
        )
    )
    revived: list[int] = []
    for status, ready in (("waiting_for_original", original_done), ("unmatched", card_enrolled)):
        revived += db.session.scalars(
            update(Transaction)
            .where(Transaction.status == status, ready)
            .values(status="received", reason=None)
            .returning(Transaction.id)
        )
    return received + revived
