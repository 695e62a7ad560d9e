"""The seam where rules beyond the base rate plug into the chunk job.

`rewards` knows nothing of campaigns (the dependency points the other way): the worker passes
an object with these methods, and the chunk job calls it at fixed points of its one DB
transaction — after the accounts are locked, per purchase (size the awards, then accept them
once they pass the guard), when a refund takes points back from a lot the extra rules granted,
and at the end (what was inserted, then `finish`).

Every award, base or extra, passes one guard (`check_awards`): a purchase whose awards cannot
be evaluated or are out of range is rejected alone, and the rest of its chunk earns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from rewards.processing.rules import Award, ProgramTerms, TxFacts


@dataclass(frozen=True)
class Clawback:
    """A refund took `taken` points (maybe none) back from a lot the extra rules granted.

    Cumulative figures let the rules split exactly what this refund took: earlier refunds
    took `clawed_before` points from the lot (of `lot_points`) and covered `refunded_before`
    of the purchase's `amount_minor` (made at `purchase_at`); with this one, `refunded_after`."""

    program_id: int
    explanation: dict[str, Any]
    lot_points: int
    clawed_before: int
    taken: int
    refunded_before: int
    refunded_after: int
    amount_minor: int
    purchase_at: datetime
    occurred_at: datetime  # the refund's


# No single transaction may earn more than this (a guard against absurd amounts or rates).
MAX_POINTS = 10**12


class AwardOutOfRange(ArithmeticError):
    """An award too large to be believed (or negative): its purchase is rejected alone."""


def check_awards(awards: Sequence[Award]) -> None:
    """Raise `AwardOutOfRange` unless every award of one purchase, and their sum, lies within
    0..MAX_POINTS: what one ledger lot, account and cap counter can always hold."""
    for award in awards:
        if not 0 <= award.points <= MAX_POINTS:
            raise AwardOutOfRange(f"{award.rule} points out of range")
    if sum(award.points for award in awards) > MAX_POINTS:
        raise AwardOutOfRange("points out of range")


class ExtraRules(Protocol):
    """Campaigns today; tiers and challenges tomorrow."""

    def prepare(
        self,
        purchases: Sequence[tuple[TxFacts, int]],
        terms: dict[int, ProgramTerms],
        now: datetime,
        refunded: Sequence[tuple[int, int]] = (),
    ) -> None:
        """Load what evaluation needs for these purchases (their customers are locked), and
        lock what refunds of the `(program id, purchase id)` pairs in `refunded` will touch."""

    def awards(self, tx: TxFacts, customer_id: int, base_points: int) -> list[Award]:
        """Awards beyond the base for one purchase; each `rule` is unique per transaction.

        Nothing later purchases see (caps, budgets, progress) may change here: the chunk
        first checks every award of the purchase (`check_awards`) and then `accept`s them.
        Raising `ArithmeticError` or `ValueError` rejects this purchase alone."""

    def accept(self, tx: TxFacts) -> None:
        """The chunk writes the awards `awards` just returned for `tx`: count what they use,
        so later purchases of the chunk see it. Not called for a rejected purchase."""

    def record(self, inserted_keys: set[str]) -> None:
        """Note what the awards whose ledger rows were inserted used (caps, budgets).
        Called after the chunk's refunds, just before `finish`."""

    def restore(self, clawback: Clawback) -> None:
        """Give back the budget and cap room the clawed-back points had used."""

    def finish(self) -> None:
        """Write what `record` and `restore` collected (called once, last: rows shared by
        workers are locked here, just before the commit)."""
