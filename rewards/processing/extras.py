"""The seam where rules beyond the base rate plug into the chunk job.

`rewards` knows nothing of campaigns (the dependency points the other way): the worker passes
an object with these methods, and the chunk job calls it at fixed points of its one DB
transaction — after the accounts are locked, per purchase, when a refund takes points back
from a lot the extra rules granted, and at the end (what was inserted, then `finish`).
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
        """Awards beyond the base for one purchase; each `rule` is unique per transaction."""

    def record(self, inserted_keys: set[str]) -> None:
        """Note what the awards whose ledger rows were inserted used (caps, budgets).
        Called after the chunk's refunds, just before `finish`."""

    def restore(self, clawback: Clawback) -> None:
        """Give back the budget and cap room the clawed-back points had used."""

    def finish(self) -> None:
        """Write what `record` and `restore` collected (called once, last: rows shared by
        workers are locked here, just before the commit)."""
