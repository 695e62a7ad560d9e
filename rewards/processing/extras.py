"""The seam where rules beyond the base rate plug into the chunk job.

`rewards` knows nothing of campaigns (the dependency points the other way): the worker passes
an object with these methods, and the chunk job calls it at fixed points of its one DB
transaction — after the accounts are locked, per purchase, after the ledger insert, and when a
refund takes points back from a lot the extra rules granted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from fractions import Fraction
from typing import Any, Protocol

from rewards.processing.rules import Award, ProgramTerms, TxFacts


class ExtraRules(Protocol):
    """Campaigns today; tiers and challenges tomorrow."""

    def prepare(
        self,
        purchases: Sequence[tuple[TxFacts, int]],
        terms: dict[int, ProgramTerms],
        now: datetime,
    ) -> None:
        """Load what evaluation needs for these purchases (their customers are locked)."""

    def awards(self, tx: TxFacts, customer_id: int, base_points: int) -> list[Award]:
        """Awards beyond the base for one purchase; each `rule` is unique per transaction."""

    def record(self, inserted_keys: set[str]) -> None:
        """Persist what the awards whose ledger rows were inserted used (caps, budgets)."""

    def restore(self, explanation: dict[str, Any], taken: int, share: Fraction) -> None:
        """A refund took `taken` points back from a lot these rules granted; `share` is the
        part of the purchase refunded by it. Give back budget and cap room."""
