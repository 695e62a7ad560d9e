"""One chunk of transactions, end to end, in the caller's DB transaction.

1. Lock the chunk's `received` rows (`FOR UPDATE SKIP LOCKED`: another worker holding a row is
   already processing it) and load everything evaluation needs in a handful of queries.
2. Evaluate purchases with the pure rules in `rules.py`.
3. Write set-based (`bulk.py`): one ledger insert, one account update, one status update.
   Refunds and reversals (a few percent of a feed) go through the ledger's FIFO primitives
   in `refunds.py`, on ORM rows re-read after the bulk writes.
Re-running a chunk is a no-op: processed rows are no longer `received`, and every ledger entry
has a unique idempotency key (`tx:{id}:base`, each extra's `tx:{id}:{namespace}…`,
`tx:{id}:claw:{lot}`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from rewards.db import among, db
from rewards.events.credits import announce_partner_credits
from rewards.ledger import ensure_accounts, lock_accounts, utcnow
from rewards.models import Account, Transaction
from rewards.processing import bulk, refunds
from rewards.processing.extra_set import ExtraSet
from rewards.processing.extras import ExtraRules
from rewards.processing.load import active_cards, ladders_of, load_terms, lock_received, with_tiers
from rewards.processing.results import ChunkResult, Outcome
from rewards.processing.rules import ProgramTerms, TxFacts, lot_dates
from rewards.tiers.standing import reassess_customers


@dataclass(frozen=True)
class LockedAccount:
    """An account row locked by this chunk, as the bulk path needs it."""

    id: int
    available: int


def process_chunk(
    transaction_ids: list[int],
    *,
    now: datetime | None = None,
    extras: Sequence[ExtraRules] = (),
) -> ChunkResult:
    """Process the `received` transactions among `transaction_ids`. The caller commits.

    `extras` add rules beyond the base rate, called in this order (the worker passes
    `workers.jobs.feed_extras`); `ExtrasConflict` if two claim one lot kind or key namespace.
    """
    seam = ExtraSet(extras)  # refuses clashing extras before anything is locked
    now = now or utcnow()
    result = ChunkResult()
    txs = lock_received(transaction_ids)
    if not txs:
        return result
    terms = load_terms({tx.program_id for tx in txs})
    outcomes, purchases, returns = _classify(txs, terms, active_cards(txs))

    # Read-only look-up first, to know every account this chunk touches before locking them.
    linked = refunds.find_originals([tx for tx, _ in returns])
    customers = {(tx.program_id, c) for tx, c in purchases + returns}
    customers |= {(o.program_id, o.customer_id) for o in linked.values() if o.customer_id}
    accounts = _lock_accounts(customers)
    # Tiers (rewards.tiers): base points use each buyer's tier, read now the account is locked.
    purchases = with_tiers(purchases, terms)
    refunded = sorted({(o.program_id, o.id) for o in linked.values()})
    seam.prepare(purchases, terms, now, refunded)

    rows, rejected = _earn_rows(purchases, terms, accounts, now, seam)
    inserted = _write_earnings(rows, result)
    announce_partner_credits(purchases, rows, inserted)
    for tx, customer_id in purchases:
        outcomes[tx.id] = rejected.get(tx.id) or Outcome("processed", customer_id)
    _write_outcomes(outcomes, now)

    # Purchases are processed now, so refunds waiting for them (and any in this chunk) apply.
    returns += refunds.lock_waiting_for([tx for tx, _ in purchases])
    batch = refunds.ReturnBatch.load(
        [tx for tx, _ in returns], terms=terms, now=now, result=result, extras=seam
    )
    # ORM rows for the FIFO primitives, re-read now that the bulk account update is done.
    touched = {c for _, c in returns}
    touched |= {o.customer_id for o in batch.originals.values() if o.customer_id}
    batch.accounts.update(
        (a.customer_id, a)
        for a in lock_accounts(accounts[c].id for c in touched if c in accounts).values()
    )
    later = {tx.id: batch.apply(tx, customer_id) for tx, customer_id in returns}
    # Last, so rows shared between workers (campaign budgets) stay locked only briefly.
    seam.finish(inserted)
    _write_outcomes(later, now)
    # Tiers (rewards.tiers): reassess this chunk's customers on what they have now earned.
    reassess_customers(customers, ladders_of(terms), now=now)
    result.statuses.update(o.status for o in outcomes.values())
    result.statuses.update(o.status for o in later.values())
    return result


def _classify(
    txs: list[TxFacts], terms: dict[int, ProgramTerms], cards: dict[tuple[int, str], int]
) -> tuple[dict[int, Outcome], list[tuple[TxFacts, int]], list[tuple[TxFacts, int]]]:
    """Settle unmatched and excluded rows; split the rest into purchases and returns."""
    outcomes: dict[int, Outcome] = {}
    purchases: list[tuple[TxFacts, int]] = []
    returns: list[tuple[TxFacts, int]] = []
    for tx in txs:
        customer_id = (
            tx.customer_id if tx.source == "partner" else cards.get((tx.program_id, tx.card_token))
        )
        if customer_id is None:
            outcomes[tx.id] = Outcome("unmatched", reason="card not enrolled")
        elif tx.kind != "purchase":
            # A return follows its purchase: excluded only if the purchase was (refunds.py).
            returns.append((tx, customer_id))
        elif tx.mcc in terms[tx.program_id].excluded_mccs:
            outcomes[tx.id] = Outcome("excluded", customer_id, reason=f"MCC {tx.mcc} excluded")
        else:
            purchases.append((tx, customer_id))
    return outcomes, purchases, returns


def _lock_accounts(customers: set[tuple[int, int]]) -> dict[int, LockedAccount]:
    """Lock the customers' accounts in ascending id order (creating missing ones first)."""
    if not customers:
        return {}
    ids = {c for _, c in customers}
    stmt = (
        select(Account.customer_id, Account.id, Account.available)
        .where(among(Account.customer_id, ids))
        .order_by(Account.id)
        .with_for_update()
    )
    rows = db.session.execute(stmt).all()
    if len(rows) < len(ids):
        ensure_accounts(customers)
        rows = db.session.execute(stmt).all()
    return {customer_id: LockedAccount(id_, available) for customer_id, id_, available in rows}


def _earn_rows(
    purchases: list[tuple[TxFacts, int]],
    terms: dict[int, ProgramTerms],
    accounts: dict[int, LockedAccount],
    now: datetime,
    seam: ExtraSet,
) -> tuple[list[dict[str, Any]], dict[int, Outcome]]:
    """Ledger rows for the purchases' awards (available lots repay existing debt first), and
    the purchases rejected because evaluation failed on their values: one bad row must not
    block the other rows of its chunk."""
    debt = {a.id: max(0, -a.available) for a in accounts.values()}
    rows: list[dict[str, Any]] = []
    rejected: dict[int, Outcome] = {}
    for tx, customer_id in purchases:
        program = terms[tx.program_id]
        account_id = accounts[customer_id].id
        try:
            available_at, expires_at = lot_dates(tx.occurred_at, program, now)
            awards = seam.awards(tx, customer_id, program)
        except (ArithmeticError, ValueError) as exc:
            # This row alone: a failure retried would stall every row of the chunk forever.
            rejected[tx.id] = Outcome("rejected", customer_id, reason=f"cannot evaluate: {exc}")
            continue
        seam.accept(tx)
        pending = available_at > now
        for award in awards:
            remaining = award.points
            if not pending and debt[account_id]:
                repaid = min(debt[account_id], remaining)
                debt[account_id] -= repaid
                remaining -= repaid
            rows.append(
                {
                    "program_id": tx.program_id,
                    "account_id": account_id,
                    "kind": award.kind,
                    "points": award.points,
                    "state": "pending" if pending else "available",
                    "available_at": available_at,
                    "expires_at": expires_at,
                    "remaining": remaining,
                    "source_type": "transaction",
                    "source_id": tx.id,
                    "transaction_id": tx.id,
                    "idempotency_key": f"tx:{tx.id}:{award.rule}",
                    "explanation": award.explanation,
                    "occurred_at": tx.occurred_at,
                }
            )
    return rows, rejected


def _write_earnings(rows: list[dict[str, Any]], result: ChunkResult) -> set[str]:
    """Insert the lots; account totals follow only what was really inserted (returned)."""
    deltas: dict[int, dict[str, int]] = defaultdict(
        lambda: {"available": 0, "pending": 0, "lifetime_earned": 0}
    )
    inserted = set()
    for account_id, points, state, key in bulk.insert_ledger_rows(rows):
        inserted.add(key)
        delta = deltas[account_id]
        delta["lifetime_earned"] += points
        delta["pending" if state == "pending" else "available"] += points
        result.entries += 1
        result.points += points
    bulk.add_to_accounts(deltas)
    return inserted


def _write_outcomes(outcomes: dict[int, Outcome], now: datetime) -> None:
    """One statement for the new statuses (and, for returns, the purchase they refer to)."""
    bulk.update_outcomes(
        [
            {
                "id": tx_id,
                "status": o.status,
                "customer_id": o.customer_id,
                "reason": o.reason,
                "processed_at": now if o.status != "unmatched" else None,
            }
            for tx_id, o in outcomes.items()
        ]
    )
    linked = [{"id": i, "original_id": o.original_id} for i, o in outcomes.items() if o.original_id]
    if linked:
        db.session.execute(update(Transaction), linked)
