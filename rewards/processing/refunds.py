"""Refunds and reversals: take back exactly what the purchase earned, proportionally.

Clawbacks are cumulative so partial refunds never drift: after refunds totalling R of an
amount A, a lot of P points has lost floor(P·R/A) in all, so a full refund takes back exactly
P. A refund with no link is matched to the latest not-fully-refunded purchase on the same card
at the same merchant within 120 days; failing that, the base points of the refunded amount are
clawed back. Spent points leave a negative balance (debt) that later earnings repay. A return
whose purchase was excluded is excluded; one whose purchase was rejected is rejected (nothing
was earned to take back), with the purchase's reason.

Every lot the purchase earned is clawed back alike, whatever its kind (`earn`, a campaign
`bonus`, a `challenge_reward`: `extra_set.CLAWBACK_KINDS`), whether or not an extra granting
that kind runs now; the extra owning the kind then gives back what the lot used. The one
exception: kinds a running extra reclaims itself (`ExtraRules.reclaimed_kinds`) are left to
it. Every extra hears of every refund of a purchase (`ExtraRules.refunds`) and may ask for
points back from its own lots of those kinds, on this purchase or another of the customer's
(`Reclaim`, applied here with the same clawback primitive and its own idempotency key).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select

from rewards.db import db
from rewards.ledger import Movement, debit, lock_accounts
from rewards.models import Account, LedgerEntry, Transaction
from rewards.processing.extra_set import CLAWBACK_KINDS, ExtraSet
from rewards.processing.extras import Clawback, ExtraRules, ExtrasConflict, Reclaim, Refund
from rewards.processing.load import TX_COLUMNS, facts_from_row
from rewards.processing.results import ChunkResult, Outcome
from rewards.processing.rules import ProgramTerms, TxFacts, points_for_amount

MATCH_WINDOW = timedelta(days=120)
WAITING = "original not processed yet"
REASON_LENGTH = 200  # transactions.reason


def find_originals(returns: list[TxFacts]) -> dict[int, Transaction]:
    """`return tx id → its purchase` (ORM rows, freshly read) for those that can be found."""
    found: dict[int, Transaction] = {}
    linked = [tx for tx in returns if tx.original_external_id]
    if linked:
        wanted = _by_program((tx.program_id, tx.original_external_id or "") for tx in linked)
        stmt = (
            select(Transaction)
            .where(Transaction.kind == "purchase", _keyed(Transaction.external_id, wanted))
            .execution_options(populate_existing=True)
        )
        by_key = {(t.program_id, t.external_id): t for t in db.session.scalars(stmt)}
        for tx in linked:
            original = by_key.get((tx.program_id, tx.original_external_id or ""))
            # A partner's refund only ever of that partner's purchase, a card's of a card's.
            if original is not None and (original.source, original.partner_id) == (
                tx.source,
                tx.partner_id,
            ):
                found[tx.id] = original
    for tx in returns:
        if not tx.original_external_id and tx.kind == "refund":
            original = _latest_refundable_purchase(tx)
            if original is not None:
                found[tx.id] = original
    return found


def _by_program(keys: Iterable[tuple[int, str]]) -> dict[int, list[str]]:
    grouped: dict[int, set[str]] = {}
    for program_id, external_id in keys:
        grouped.setdefault(program_id, set()).add(external_id)
    return {program_id: sorted(ids) for program_id, ids in grouped.items()}


def _keyed(column: Any, wanted: dict[int, list[str]]) -> Any:
    """`(program_id = p AND column IN (...)) OR ...`: a chunk nearly always has one program."""
    return or_(*(and_(Transaction.program_id == p, column.in_(ids)) for p, ids in wanted.items()))


def _latest_refundable_purchase(tx: TxFacts) -> Transaction | None:
    stmt = (
        select(Transaction)
        .where(
            Transaction.program_id == tx.program_id,
            Transaction.card_token == tx.card_token,
            Transaction.merchant_id == tx.merchant_id,
            Transaction.kind == "purchase",
            Transaction.status == "processed",
            Transaction.refunded_minor < Transaction.amount_minor,
            Transaction.occurred_at <= tx.occurred_at,
            Transaction.occurred_at >= tx.occurred_at - MATCH_WINDOW,
        )
        .order_by(Transaction.occurred_at.desc(), Transaction.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    return db.session.scalar(stmt)


def lock_waiting_for(purchases: list[TxFacts]) -> list[tuple[TxFacts, int]]:
    """Refunds/reversals that were waiting for these purchases, locked for this chunk."""
    if not purchases:
        return []
    wanted = _by_program((tx.program_id, tx.external_id) for tx in purchases)
    stmt = (
        select(*TX_COLUMNS, Transaction.customer_id)
        .where(
            Transaction.status == "waiting_for_original",
            _keyed(Transaction.original_external_id, wanted),
        )
        .order_by(Transaction.id)
        .with_for_update(skip_locked=True)
    )
    return [(facts_from_row(row), row.customer_id) for row in db.session.execute(stmt)]


@dataclass
class ReturnBatch:
    """Everything the returns of one chunk need, loaded in a few queries."""

    originals: dict[int, Transaction]
    lots: dict[int, list[LedgerEntry]]
    # Per lot: points already gone from it to expiry and to earlier clawbacks.
    gone: dict[tuple[int, str], int]
    terms: dict[int, ProgramTerms]
    accounts: dict[int, Account]
    now: datetime
    result: ChunkResult
    extras: ExtraSet

    @classmethod
    def load(
        cls,
        returns: list[TxFacts],
        *,
        terms: dict[int, ProgramTerms],
        now: datetime,
        result: ChunkResult,
        extras: ExtraSet,
    ) -> ReturnBatch:
        """Find the purchases and their lots; `accounts` starts empty, the caller fills it."""
        originals = find_originals(returns)
        lots = _lots_of({o.id for o in originals.values()})
        gone = _gone_from({lot.id for group in lots.values() for lot in group})
        return cls(originals, lots, gone, terms, {}, now, result, extras)

    def apply(self, tx: TxFacts, customer_id: int) -> Outcome:
        """Claw back what `tx` (refund or reversal) takes away; returns its outcome."""
        original = self.originals.get(tx.id)
        if original is None:
            if tx.original_external_id:
                return Outcome("waiting_for_original", customer_id, reason=WAITING)
            return self._claw_back_base(tx, customer_id)
        if original.status == "excluded":
            return Outcome(
                "excluded",
                customer_id,
                reason="original purchase excluded",
                original_id=original.id,
            )
        if original.status == "rejected":
            # Final: a rejected purchase earned nothing and is never processed again, so a
            # refund waiting for it would wait forever.
            return Outcome(
                "rejected",
                customer_id,
                reason=f"original purchase rejected ({original.reason or 'no reason given'})"[
                    :REASON_LENGTH
                ],
                original_id=original.id,
            )
        if original.status != "processed":
            return Outcome("waiting_for_original", customer_id, reason=WAITING)
        before = original.refunded_minor
        applied = min(tx.amount_minor, original.amount_minor - before)
        if applied <= 0:
            return Outcome(
                "processed",
                customer_id,
                reason="purchase already fully refunded",
                original_id=original.id,
            )
        original.refunded_minor = before + applied
        account = _account_for(original.customer_id, self.accounts)  # type: ignore[arg-type]
        for lot in self.lots.get(original.id, []):
            if lot.kind not in self.extras.reclaimed:
                self._claw_back_lot(tx, original, lot, account, before, applied)
        refund = Refund(
            program_id=original.program_id,
            purchase_id=original.id,
            customer_id=original.customer_id,  # type: ignore[arg-type]
            amount_minor=original.amount_minor,
            refunded_before=before,
            refunded_after=before + applied,
            refund_id=tx.id,
            refund_kind=tx.kind,
            merchant_name=original.merchant_name,
            occurred_at=tx.occurred_at,
        )
        for extra, reclaim in self.extras.refunds(refund):
            self._reclaim(tx, extra, reclaim, account)
        reason = (
            None if applied == tx.amount_minor else f"only {applied} of the amount was refundable"
        )
        return Outcome("processed", customer_id, reason=reason, original_id=original.id)

    def _claw_back_lot(
        self,
        tx: TxFacts,
        original: Transaction,
        lot: LedgerEntry,
        account: Account,
        before: int,
        applied: int,
    ) -> None:
        # What the refunded share of the purchase earned, less what already left this lot by
        # earlier clawbacks or by expiry (expired points are gone, not spent: never twice).
        amount = original.amount_minor
        owed = lot.points * (before + applied) // amount
        clawed = self.gone.get((lot.id, "clawback"), 0)
        taken = max(0, owed - clawed - self.gone.get((lot.id, "expire"), 0))
        if taken:
            self.gone[(lot.id, "clawback")] = clawed + taken
            explanation = {
                "summary": _summary(tx, original, taken),
                "rule": "clawback",
                "original_external_id": original.external_id,
                "refunded_minor": applied,
                "purchase_amount_minor": amount,
                "lot_id": lot.id,
            }
            self._take(tx, account, taken, f"tx:{tx.id}:claw:{lot.id}", explanation, from_lot=lot)
        # Even when no point comes back (rounding, an expired lot), the refunded spend gives
        # its qualifying-spend room back: the extra owning the lot's kind hears of it.
        if lot.kind != "earn":
            self.extras.restore(
                Clawback(
                    program_id=original.program_id,
                    kind=lot.kind,
                    idempotency_key=lot.idempotency_key,
                    explanation=lot.explanation or {},
                    lot_points=lot.points,
                    clawed_before=clawed,
                    taken=taken,
                    refunded_before=before,
                    refunded_after=before + applied,
                    amount_minor=amount,
                    purchase_at=original.occurred_at,
                    occurred_at=tx.occurred_at,
                )
            )

    def _reclaim(self, tx: TxFacts, extra: ExtraRules, reclaim: Reclaim, account: Account) -> None:
        """Take back from an extra's own lot what it asks (`Reclaim.owed` in all, less what
        earlier clawbacks and expiry took), from the same account, under the extra's key."""
        lot = self._lot_by_key(reclaim.lot_key)
        if lot is None:
            raise ExtrasConflict(f"{extra!r} reclaims a lot that does not exist")
        if lot.kind not in extra.reclaimed_kinds or lot.account_id != account.id:
            raise ExtrasConflict(f"{extra!r} reclaims a lot that is not its own")
        for (lot_id, kind), points in _gone_from({lot.id}).items():
            self.gone.setdefault((lot_id, kind), points)
        clawed = self.gone.get((lot.id, "clawback"), 0)
        owed = min(reclaim.owed, lot.points)
        taken = max(0, owed - clawed - self.gone.get((lot.id, "expire"), 0))
        if taken:
            self.gone[(lot.id, "clawback")] = clawed + taken
            explanation = {**reclaim.explanation, "lot_id": lot.id, "points": taken}
            self._take(tx, account, taken, reclaim.idempotency_key, explanation, from_lot=lot)

    def _lot_by_key(self, key: str) -> LedgerEntry | None:
        """A lot an extra reclaims: one the batch loaded, or read now (rare: a revocation)."""
        for group in self.lots.values():
            for lot in group:
                if lot.idempotency_key == key:
                    return lot
        # Not filed under its purchase in `lots`: that purchase's other lots are not loaded.
        return db.session.scalar(
            select(LedgerEntry)
            .where(LedgerEntry.idempotency_key == key)
            .execution_options(populate_existing=True)
        )

    def _take(
        self,
        tx: TxFacts,
        account: Account,
        points: int,
        key: str,
        explanation: dict[str, Any],
        from_lot: LedgerEntry | None = None,
    ) -> None:
        """Write one clawback entry for `tx` (idempotent on `key`)."""
        move = Movement(
            kind="clawback",
            points=-points,
            source_type="transaction",
            source_id=tx.id,
            transaction_id=tx.id,
            idempotency_key=key,
            occurred_at=tx.occurred_at,
            explanation=explanation,
        )
        if debit(account, move, from_lot=from_lot, now=self.now) is not None:
            self.result.entries += 1
            self.result.points -= points

    def _claw_back_base(self, tx: TxFacts, customer_id: int) -> Outcome:
        """No purchase to link: take back the base points of the refunded amount."""
        terms = self.terms[tx.program_id]
        if tx.mcc in terms.excluded_mccs:  # nothing was earned there to take back
            return Outcome("excluded", customer_id, reason=f"MCC {tx.mcc} excluded")
        rate = terms.earn_rate
        points = points_for_amount(tx.amount_minor, tx.currency, rate)
        if points > 0:
            explanation = {
                "summary": f"Refund at {tx.merchant_name or 'a merchant'}: {points} pts taken "
                "back (base rate on the refunded amount)",
                "rule": "unlinked_refund",
                "rate": f"{rate.normalize():f}",
                "amount_minor": tx.amount_minor,
                "currency": tx.currency,
            }
            account = _account_for(customer_id, self.accounts)
            self._take(tx, account, points, f"tx:{tx.id}:base_claw", explanation)
        return Outcome(
            "processed", customer_id, reason="no matching purchase; base points clawed back"
        )


def _summary(tx: TxFacts, original: Transaction, taken: int) -> str:
    what = "Reversal" if tx.kind == "reversal" else "Refund"
    where = original.merchant_name or "a merchant"
    return f"{what} at {where}: {taken} pts taken back from your purchase"


def _account_for(customer_id: int, accounts: dict[int, Account]) -> Account:
    """The customer's locked account (locking it now if an original belongs to someone else)."""
    if customer_id not in accounts:
        account_id = db.session.scalar(select(Account.id).where(Account.customer_id == customer_id))
        for account in lock_accounts([account_id]).values():  # type: ignore[list-item]
            accounts[account.customer_id] = account
    return accounts[customer_id]


def _gone_from(lot_ids: set[int]) -> dict[tuple[int, str], int]:
    """`(lot id, kind) → points` taken from these lots so far by clawbacks and expiry."""
    if not lot_ids:
        return {}
    stmt = (
        select(LedgerEntry.reverses_entry_id, LedgerEntry.kind, func.sum(-LedgerEntry.points))
        .where(
            LedgerEntry.reverses_entry_id.in_(lot_ids),
            LedgerEntry.kind.in_(("clawback", "expire")),
        )
        .group_by(LedgerEntry.reverses_entry_id, LedgerEntry.kind)
    )
    rows = db.session.execute(stmt).all()
    return {(lot_id or 0, kind): int(points) for lot_id, kind, points in rows}


def _lots_of(transaction_ids: set[int]) -> dict[int, list[LedgerEntry]]:
    """The positive earning entries of these purchases, per purchase, oldest first: of every
    kind a purchase can earn (`CLAWBACK_KINDS`), whichever extras run now."""
    lots: dict[int, list[LedgerEntry]] = {}
    if not transaction_ids:
        return lots
    stmt = (
        select(LedgerEntry)
        .where(
            LedgerEntry.transaction_id.in_(transaction_ids),
            LedgerEntry.kind.in_(CLAWBACK_KINDS),
            LedgerEntry.points > 0,
        )
        .order_by(LedgerEntry.id)
        .execution_options(populate_existing=True)
    )
    for lot in db.session.scalars(stmt):
        lots.setdefault(lot.transaction_id, []).append(lot)  # type: ignore[arg-type]
    return lots
