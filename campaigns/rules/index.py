"""An index from where purchases happen (merchant, MCC, category, partner) to the rules that
could count them, so a purchase meets a handful of rules whatever their number.

Any rule with `index_keys()` and compiled `conditions` can be indexed: campaign versions
today, challenges next. Lists come back in the order the rules were given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Generic, Protocol, TypeVar

from campaigns.rules.conditions import Conditions
from campaigns.rules.facts import Purchase

# Distinct (merchant, MCC, category, partner) lists an index keeps at most, per kind of list.
CANDIDATES_REMEMBERED = 100_000


class Indexed(Protocol):
    """A rule the index can file."""

    @property
    def conditions(self) -> Conditions: ...

    def index_keys(self) -> Iterable[tuple[str, str]]: ...


R = TypeVar("R", bound=Indexed)


class RuleIndex(Generic[R]):
    """Rules filed under their index keys; the answers for a place are remembered, since
    purchases repeat places a lot. The lists returned are shared: do not change them."""

    __slots__ = ("_accepted", "_candidates", "by_key", "everywhere", "rules")

    def __init__(self, rules: Iterable[R]) -> None:
        self.rules: Sequence[R] = tuple(rules)
        # Positions in `rules`: merged and sorted, they keep the caller's order.
        self.everywhere: list[int] = []
        self.by_key: dict[tuple[str, str], list[int]] = {}
        for position, rule in enumerate(self.rules):
            keys = tuple(rule.index_keys())
            if not keys:
                self.everywhere.append(position)
            for key in keys:
                self.by_key.setdefault(key, []).append(position)
        self._candidates: dict[tuple[str | None, ...], list[R]] = {}
        self._accepted: dict[tuple[str | bool | None, ...], list[R]] = {}

    def candidates(self, p: Purchase) -> list[R]:
        """The rules that could count `p`: filed under one of its keys, or under none."""
        # What purchases at one place share: merchant, MCC, category and partner.
        key = (p.merchant_id, p.mcc, p.category, p.partner)
        found = self._candidates.get(key)
        if found is None:
            if len(self._candidates) >= CANDIDATES_REMEMBERED:
                self._candidates.clear()
            found = self._candidates[key] = self._look_up(p)
        return found

    def accepting(self, p: Purchase) -> list[R]:
        """The candidates whose conditions `p`'s merchant, MCC, category and partner allow;
        the rest of each rule's conditions (channel, amount, time, audience) remain to check."""
        key = (p.merchant_id, p.mcc, p.category, p.partner, p.partner_event)
        found = self._accepted.get(key)
        if found is None:
            if len(self._accepted) >= CANDIDATES_REMEMBERED:
                self._accepted.clear()
            found = self._accepted[key] = [
                r for r in self.candidates(p) if r.conditions.place_allows(p)
            ]
        return found

    def _look_up(self, p: Purchase) -> list[R]:
        found = set(self.everywhere)
        for key in (
            ("merchant", p.merchant_id or ""),
            ("mcc", p.mcc),
            ("category", p.category or ""),
            ("partner", p.partner or ""),
        ):
            found.update(self.by_key.get(key, ()))
        rules = self.rules
        return [rules[position] for position in sorted(found)]
