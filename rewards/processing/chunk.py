"""One chunk of transactions, end to end, in the caller's DB transaction.

1. Lock the chunk's `received` rows (`FOR UPDATE SKIP LOCKED`: another worker holding a row is
   already processing it) and load everything evaluation needs in a handful of queries.
2. Evaluate purchases with the pure rules in `rules.py`.
3. Write: one multi-row ledger insert, account totals on the locked account rows, one
   set-based status update. Refunds and reversals (a few percent of a feed) go through the
   ledger's FIFO primitives in `refunds.py`.
Re-running a chunk is a no-op: processed rows are no longer `received`, and every ledger entry
has a unique idempotency key (`tx:{id}:base`, `tx:{id}:claw:{lot}`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from rewards.db import db, dialect_insert
from rewards.ledger import ensure_accounts, lock_accounts, utcnow
from rewards.models import Account, LedgerEntry, Transaction
from rewards.processing import refunds
from rewards.processing.load import active_cards, load_terms, lock_received
from rewards.processing.results import ChunkResult, Outcome
from rewards.processing.rules import ProgramTerms, TxFacts, lot_dates, purchase_awards

# Rows per multi-row INSERT: 15 columns each stays far below PostgreSQL's 65,535 parameters.
INSERT_SLICE = 2000


def process_chunk(transaction_ids: list[int], *, now: datetime | None = None) -> ChunkResult:
    """Process the `received` transactions among `transaction_ids`. The caller commits."""
    now = now or utcnow()
    result = ChunkResult()
    txs = lock_received(transaction_ids)
    if not txs:
        return result
    terms = load_terms({tx.program_id for tx in txs})
    cards = active_cards(txs)
    outcomes: dict[int, Outcome] = {}
    purchases: list[tuple[TxFacts, int]] = []
    returns: list[tuple[TxFacts, int]] = []
    for tx in txs:
        customer_id = cards.get((tx.program_id, tx.card_token))
        if customer_id is None:
            outcomes[tx.id] = Outcome("unmatched", reason="card not enrolled")
        elif tx.mcc in terms[tx.program_id].excluded_mccs:
            outcomes[tx.id] = Outcome("excluded", customer_id, reason=f"MCC {tx.mcc} excluded")
        elif tx.kind == "purchase":
            purchases.append((tx, customer_id))
        else:
            returns.append((tx, customer_id))

    ensure_accounts((tx.program_id, c) for tx, c in purchases + returns)
    # Read-only look-up first, to know every account this chunk touches before locking them.
    linked = refunds.find_originals([tx for tx, _ in returns])
    customer_ids = {c for _, c in purchases + returns}
    customer_ids |= {o.customer_id for o in linked.values() if o.customer_id is not None}
    accounts = _lock_accounts_of(customer_ids)

    _write_earnings(_earn_rows(purchases, terms, accounts, now), accounts, result)
    for tx, customer_id in purchases:
        outcomes[tx.id] = Outcome("processed", customer_id)
    _write_outcomes(outcomes, now)

    # Purchases are processed now, so refunds waiting for them (and any in this chunk) apply.
    returns += refunds.lock_waiting_for([tx for tx, _ in purchases])
    originals = refunds.find_originals([tx for tx, _ in returns])
    later = {
        tx.id: refunds.apply_return(tx, customer_id, originals, terms, accounts, now, result)
        for tx, customer_id in returns
    }
    _write_outcomes(later, now)
    result.statuses.update(o.status for o in outcomes.values())
    result.statuses.update(o.status for o in later.values())
    return result


def _lock_accounts_of(customer_ids: set[int]) -> dict[int, Account]:
    """Lock the customers' accounts (ascending id) and index them by customer id."""
    ids = db.session.scalars(select(Account.id).where(Account.customer_id.in_(customer_ids)))
    return {a.customer_id: a for a in lock_accounts(ids).values()}


def _earn_rows(
    purchases: list[tuple[TxFacts, int]],
    terms: dict[int, ProgramTerms],
    accounts: dict[int, Account],
    now: datetime,
) -> list[dict[str, Any]]:
    """Ledger rows for the purchases' awards (pure apart from reading the locked accounts)."""
    debt = {a.id: max(0, -a.available) for a in accounts.values()}
    rows: list[dict[str, Any]] = []
    for tx, customer_id in purchases:
        program = terms[tx.program_id]
        account = accounts[customer_id]
        available_at, expires_at = lot_dates(tx.occurred_at, program, now)
        pending = available_at > now
        for award in purchase_awards(tx, program):
            remaining = award.points
            if not pending and debt[account.id]:
                repaid = min(debt[account.id], remaining)
                debt[account.id] -= repaid
                remaining -= repaid
            rows.append(
                {
                    "program_id": tx.program_id,
                    "account_id": account.id,
                    "kind": award.kind,
                    "points": award.points,
                    "state": "pending" if pending else "available",
                    "available_at": available_at,
                    "expires_at": expires_at,
                    "remaining": remaining,
                    "source_type": "transaction",
                    "source_id": tx.id,
                    "transaction_id": tx.id,
                    "reverses_entry_id": None,
                    "idempotency_key": f"tx:{tx.id}:{award.rule}",
                    "explanation": award.explanation,
                    "occurred_at": tx.occurred_at,
                }
            )
    return rows


def _write_earnings(
    rows: list[dict[str, Any]], accounts: dict[int, Account], result: ChunkResult
) -> None:
    """Insert the lots in one statement; totals follow only what was really inserted."""
    if not rows:
        return
    by_id = {a.id: a for a in accounts.values()}
    for start in range(0, len(rows), INSERT_SLICE):
        stmt = (
            dialect_insert(LedgerEntry)
            .values(rows[start : start + INSERT_SLICE])
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(LedgerEntry.account_id, LedgerEntry.points, LedgerEntry.state)
        )
        _apply_inserted(db.session.execute(stmt), by_id, result)


def _apply_inserted(inserted: Any, by_id: dict[int, Account], result: ChunkResult) -> None:
    for account_id, points, state in inserted:
        account = by_id[account_id]
        account.lifetime_earned += points
        if state == "pending":
            account.pending += points
        else:
            account.available += points
        result.entries += 1
        result.points += points


def _write_outcomes(outcomes: dict[int, Outcome], now: datetime) -> None:
    """One executemany UPDATE for the chunk's new statuses."""
    if not outcomes:
        return
    params = [
        {
            "id": tx_id,
            "status": o.status,
            "customer_id": o.customer_id,
            "reason": o.reason,
            "processed_at": now if o.status != "unmatched" else None,
        }
        for tx_id, o in outcomes.items()
    ]
    db.session.execute(update(Transaction), params)
    linked = [
        {"id": tx_id, "original_id": o.original_id}
        for tx_id, o in outcomes.items()
        if o.original_id
    ]
    if linked:
        db.session.execute(update(Transaction), linked)
