"""Several `ExtraRules` behind the chunk's one seam: checked for clashes when the chunk
starts, called in the order given, each refund handed to every extra (`refunds`) and each
proportional clawback routed by lot kind."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rewards.processing.extras import (
    EXTRA_LOT_KINDS,
    RESERVED_NAMESPACES,
    Clawback,
    ExtraRules,
    ExtrasConflict,
    Reclaim,
    Refund,
    check_awards,
)
from rewards.processing.rules import Award, ProgramTerms, TxFacts, purchase_awards

# Every lot kind a refund may claw back, whichever extras run: the base rate's `earn` and
# every kind an extra may grant. A running extra may reclaim its kinds itself
# (`ExtraRules.reclaimed_kinds`: challenge rewards go only when the challenge falls below its
# target). A lot whose kind no running extra owns (challenges switched off, a lot written by
# a retired extra) loses its points proportionally, exactly like the others: points never
# outlive the purchase that earned them. Only the owner's bookkeeping is not updated (budget
# or cap room not given back, challenge progress not reduced), which can leave a limit more
# used than it is, never overspent; if the owner runs again later and reclaims the lot, what
# the proportional clawbacks took already counts towards what it reclaims (`Reclaim.owed`).
CLAWBACK_KINDS = ("earn", *sorted(EXTRA_LOT_KINDS))


class ExtraSet:
    """The chunk's extras, in order; refuses two claiming one lot kind or key namespace."""

    def __init__(self, extras: Sequence[ExtraRules] = ()) -> None:
        self.extras = list(extras)
        self.owners: dict[str, ExtraRules] = {}  # lot kind → the extra that grants it
        # Lot kinds whose running owner decides itself what a refund takes back.
        self.reclaimed: frozenset[str] = frozenset()
        namespaces: dict[str, ExtraRules] = {}
        for extra in self.extras:
            namespace, kinds = extra.key_namespace, frozenset(extra.lot_kinds)
            if not namespace or ":" in namespace or namespace in RESERVED_NAMESPACES:
                raise ExtrasConflict(f"{extra!r}: key namespace {namespace!r} is not allowed")
            if namespace in namespaces:
                raise ExtrasConflict(f"two extras claim the key namespace {namespace!r}")
            namespaces[namespace] = extra
            if not kinds <= EXTRA_LOT_KINDS:  # none: an extra that only observes (XP)
                raise ExtrasConflict(f"{extra!r}: lot kinds {sorted(kinds)} are not allowed")
            for kind in sorted(kinds):
                if kind in self.owners:
                    raise ExtrasConflict(f"two extras claim the lot kind {kind!r}")
                self.owners[kind] = extra
            reclaimed = frozenset(extra.reclaimed_kinds)
            if not reclaimed <= kinds:
                raise ExtrasConflict(f"{extra!r} reclaims kinds it does not grant")
            self.reclaimed |= reclaimed

    def prepare(
        self,
        purchases: Sequence[tuple[TxFacts, int]],
        terms: dict[int, ProgramTerms],
        now: datetime,
        refunded: Sequence[tuple[int, int]] = (),
    ) -> None:
        """Every extra's `prepare`, in order."""
        for extra in self.extras:
            extra.prepare(purchases, terms, now, refunded)

    def awards(self, tx: TxFacts, customer_id: int, program: ProgramTerms) -> list[Award]:
        """Every award of one purchase (base, then each extra's), through the one guard.

        Raises `ArithmeticError`/`ValueError` (the purchase alone is rejected) or
        `ExtrasConflict` (an extra's bug: the whole chunk fails)."""
        awards = purchase_awards(tx, program)
        check_awards(awards)  # before the extra rules multiply an absurd base
        if not self.extras:
            return awards
        base = sum(a.points for a in awards if a.rule == "base")
        rules = {a.rule for a in awards}
        for extra in self.extras:
            for award in extra.awards(tx, customer_id, base):
                self._check_owned(extra, award, rules)
                rules.add(award.rule)
                awards.append(award)
        check_awards(awards)
        return awards

    @staticmethod
    def _check_owned(extra: ExtraRules, award: Award, rules: set[str]) -> None:
        namespace = extra.key_namespace
        if award.rule != namespace and not award.rule.startswith(f"{namespace}:"):
            raise ExtrasConflict(f"award {award.rule!r} outside its namespace {namespace!r}")
        if award.kind not in extra.lot_kinds:
            raise ExtrasConflict(f"award {award.rule!r} of an undeclared kind {award.kind!r}")
        if award.rule in rules:
            raise ExtrasConflict(f"award {award.rule!r} twice for one transaction")

    def accept(self, tx: TxFacts) -> None:
        """Every extra's `accept`: the purchase's awards passed the guard and are written."""
        for extra in self.extras:
            extra.accept(tx)

    def refunds(self, refund: Refund) -> list[tuple[ExtraRules, Reclaim]]:
        """Every extra's `refunds`, in order: the lots each asks to take back, with whose."""
        return [(extra, reclaim) for extra in self.extras for reclaim in extra.refunds(refund)]

    def restore(self, clawback: Clawback) -> None:
        """Hand a clawback to the extra owning its lot's kind; nobody's for `earn`, or for a
        kind no running extra grants (see `CLAWBACK_KINDS`)."""
        owner = self.owners.get(clawback.kind)
        if owner is not None:
            owner.restore(clawback)

    def finish(self, inserted_keys: set[str]) -> None:
        """Every extra's `record`, then every extra's `finish`, in order: the rows they share
        with other workers are locked in the same order by every chunk."""
        for extra in self.extras:
            extra.record(inserted_keys)
        for extra in self.extras:
            extra.finish()
