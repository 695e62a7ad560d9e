"""The seam where rules beyond the base rate plug into the chunk job.

`rewards` knows nothing of campaigns or challenges (the dependency points the other way): the
worker passes a list of objects with these methods (`ExtraRules`), and the chunk job calls
each of them, in the order given, at fixed points of its one DB transaction — after the
accounts are locked, per purchase (size the awards, then accept them once they pass the
guard), for every refund or reversal of a purchase (`refunds`: an extra whose state follows
the purchase, such as challenge progress, updates it and may ask for lots back), when a refund
takes points back proportionally from a lot of a kind the extra owns (`restore`), and at the
end (what was inserted, then `finish`). `extra_set.ExtraSet` does the fanning out.

Refunds claw back a purchase's lots proportionally, except the kinds a running extra claims
in `reclaimed_kinds`: those it takes back itself, in full or not at all, through `Reclaim`s
(a challenge reward goes only when the challenge falls below its target). A lot of such a
kind whose owner is not running is clawed back proportionally like any other (see
`extra_set.CLAWBACK_KINDS`): points never outlive the purchase that earned them.

Each extra declares the ledger lot kinds it grants (`lot_kinds`) and the namespace of its
idempotency keys (`key_namespace`: its awards' `rule`s are `ns` or `ns:…`, keyed
`tx:{id}:{rule}`); two extras may share neither, so a refund knows whom a lot belongs to and
two extras can never write (or skip, on a key conflict) each other's lots.

Every award, base or extra, passes one guard (`check_awards`): a purchase whose awards cannot
be evaluated or are out of range is rejected alone, and the rest of its chunk earns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from rewards.ledger import EARNING_KINDS
from rewards.processing.rules import Award, ProgramTerms, TxFacts

# Lot kinds an extra may grant for a purchase: what a purchase can earn besides the base
# rate's `earn` (manual `adjust` lots are never a purchase's).
EXTRA_LOT_KINDS = EARNING_KINDS - {"earn", "adjust"}

# Key namespaces no extra may claim: the base award (`tx:{id}:base`), the refunds' entries
# (`tx:{id}:claw:{lot}`, `tx:{id}:base_claw`) and the per-campaign lots written before
# revision 0005 (`tx:{id}:cmp:{campaign}`, still in ledgers and still clawed back).
RESERVED_NAMESPACES = frozenset({"base", "claw", "base_claw", "cmp"})


class OptimisticRace(Exception):
    """An extra's optimistic read turned out stale in a way that matters (another worker
    used a limit meanwhile). The job rolls the chunk back and runs it again with every extra
    rebuilt in lock-early mode (`lock_early=True`), which must not raise this again."""


class ExtrasConflict(Exception):
    """The extras break the seam's contract: two claim one lot kind or key namespace, or an
    award falls outside its extra's kind or namespace. A bug, never a property of the data:
    the chunk fails whole (nothing is written) rather than writing lots no one can claw back
    properly or skipping one on another's key."""


@dataclass(frozen=True)
class Clawback:
    """A refund took `taken` points (maybe none) back from a lot of `kind` that an extra owns.

    Cumulative figures let the rules split exactly what this refund took: earlier refunds
    took `clawed_before` points from the lot (of `lot_points`) and covered `refunded_before`
    of the purchase's `amount_minor` (made at `purchase_at`); with this one, `refunded_after`."""

    program_id: int
    kind: str  # the lot's
    idempotency_key: str  # the lot's
    explanation: dict[str, Any]
    lot_points: int
    clawed_before: int
    taken: int
    refunded_before: int
    refunded_after: int
    amount_minor: int
    purchase_at: datetime
    occurred_at: datetime  # the refund's


@dataclass(frozen=True)
class Refund:
    """A refund or reversal `refund_id` applied to purchase `purchase_id` of `customer_id`:
    cumulative refunded amounts of the purchase's `amount_minor` before and after it."""

    program_id: int
    purchase_id: int
    customer_id: int
    amount_minor: int
    refunded_before: int
    refunded_after: int
    refund_id: int
    refund_kind: str  # refund | reversal
    merchant_name: str | None
    occurred_at: datetime  # the refund's


@dataclass(frozen=True)
class Reclaim:
    """An extra asks the refund path to take back points from one of its own lots (of a kind
    in its `reclaimed_kinds`), keyed `lot_key`: up to `owed` points in all over the lot's
    life (what earlier clawbacks and expiry took counts towards it), written once as a
    `clawback` entry under `idempotency_key` (the extra's own, not `tx:{id}:…`)."""

    lot_key: str
    owed: int
    idempotency_key: str
    explanation: dict[str, Any]


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
    """Campaigns today; challenges and tiers tomorrow. Built per chunk run: one instance sees
    one chunk, and a rerun after `OptimisticRace` gets fresh instances."""

    @property
    def lot_kinds(self) -> frozenset[str]:
        """The ledger kinds of the lots this extra grants (a subset of `EXTRA_LOT_KINDS`);
        refunds hand it the clawbacks of exactly these kinds."""

    @property
    def key_namespace(self) -> str:
        """The first segment of its awards' rules: `bonus` keys campaign lots `tx:{id}:bonus`."""

    @property
    def reclaimed_kinds(self) -> frozenset[str]:
        """Of `lot_kinds`, those the generic refund path must not claw back proportionally:
        the extra decides in `refunds` what goes back (empty for campaigns)."""

    def prepare(
        self,
        purchases: Sequence[tuple[TxFacts, int]],
        terms: dict[int, ProgramTerms],
        now: datetime,
        refunded: Sequence[tuple[int, int]] = (),
    ) -> None:
        """Load what evaluation needs for these purchases (their customers are locked), and
        what refunds of the `(program id, purchase id)` pairs in `refunded` will touch.
        In lock-early mode, lock here the shared rows it would otherwise confirm in `finish`."""

    def awards(self, tx: TxFacts, customer_id: int, base_points: int) -> list[Award]:
        """Awards beyond the base for one purchase, each of a kind in `lot_kinds` and a rule
        in `key_namespace` (unique per transaction).

        Nothing later purchases see (caps, budgets, progress) may change here: the chunk
        first checks every award of the purchase (`check_awards`) and then `accept`s them; a
        purchase rejected meanwhile gets no `accept`, and the next `awards` call supersedes
        this one. Raising `ArithmeticError` or `ValueError` rejects this purchase alone."""

    def accept(self, tx: TxFacts) -> None:
        """The chunk writes the awards `awards` just returned for `tx`: count what they use,
        so later purchases of the chunk see it. Not called for a rejected purchase."""

    def record(self, inserted_keys: set[str]) -> None:
        """Note what the awards whose ledger rows were inserted used (caps, budgets); keys of
        every extra are passed. Called after the chunk's refunds, just before `finish`."""

    def refunds(self, refund: Refund) -> list[Reclaim]:
        """A refund or reversal reached purchase `refund.purchase_id` (called once per return
        that refunds something, in the chunk's transaction, after the purchase's
        proportional clawbacks): update what follows the purchase and say which of its own
        lots, of kinds in `reclaimed_kinds`, lose points. A purchase of this very chunk may
        be refunded in it; a purchase `prepare` did not foresee may come up (an unlinked
        refund matched meanwhile)."""

    def restore(self, clawback: Clawback) -> None:
        """Give back what the clawed-back points of one of its lots had used (budget, caps)."""

    def finish(self) -> None:
        """Write what `record` and `restore` collected, and confirm optimistic reads
        (raising `OptimisticRace` if one went stale in a way that matters). Called once,
        last, in the order the extras were given: rows shared by workers are locked here,
        just before the commit, and always in the same order."""
