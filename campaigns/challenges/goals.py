"""Goals and progress: what one period's qualifying purchases add up to.

Whether a purchase qualifies is decided elsewhere (the shared condition language); here a
purchase that qualified is a `Contribution`. A `Tally` keeps multisets of the contributions'
facts (merchants, categories, days), not sets, so that taking a contribution away is exact:
a merchant bought from twice still counts after one of the two purchases is refunded.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from campaigns.challenges.streaks import streak

GOAL_TYPES = ("count", "spend", "distinct_merchants", "distinct_categories", "streak")
STREAK_UNITS = ("days", "weeks")


@dataclass(frozen=True)
class Goal:
    """What a challenge asks for: `type`, `target`, and the `unit` of a streak."""

    type: str
    target: int
    unit: str | None = None

    @classmethod
    def of(cls, definition: dict[str, Any]) -> Goal:
        """The goal of a validated challenge definition."""
        goal = definition["goal"]
        return cls(type=goal["type"], target=goal["target"], unit=goal.get("unit"))


@dataclass(frozen=True)
class Contribution:
    """What one qualifying purchase brings to one challenge period.

    `amount_minor` is what still counts after partial refunds; a purchase refunded in full
    contributes nothing at all (it is no longer a purchase, a merchant visit or an active day).
    """

    transaction_id: int
    amount_minor: int
    local_day: date
    merchant_id: str | None = None
    category: str | None = None


@dataclass
class Tally:
    """The running totals of one progress row: add and remove contributions in any order."""

    count: int = 0
    spend_minor: int = 0
    merchants: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    days: Counter[date] = field(default_factory=Counter)

    @classmethod
    def of(cls, contributions: list[Contribution]) -> Tally:
        """The tally of a set of contributions (e.g. the rows of one progress period)."""
        tally = cls()
        for contribution in contributions:
            tally.add(contribution)
        return tally

    def add(self, c: Contribution) -> None:
        """Count a qualifying purchase."""
        self._apply(c, +1)

    def remove(self, c: Contribution) -> None:
        """Take back everything `c` added (a full refund or a reversal)."""
        self._apply(c, -1)

    def refund(self, c: Contribution, refund_minor: int) -> Contribution | None:
        """Take `refund_minor` off what `c` contributes; returns what it contributes now, or
        None when nothing is left (it then stops counting as a purchase entirely)."""
        if not 0 < refund_minor <= c.amount_minor:
            raise ValueError(f"A refund of {refund_minor} on a contribution of {c.amount_minor}.")
        self.remove(c)
        if refund_minor == c.amount_minor:
            return None
        rest = replace(c, amount_minor=c.amount_minor - refund_minor)
        self.add(rest)
        return rest

    def value(self, goal: Goal, today: date) -> int:
        """What the goal compares with its target; for streaks, the best length as of
        `today` (see `campaigns.challenges.streaks`)."""
        if goal.type == "count":
            return self.count
        if goal.type == "spend":
            return self.spend_minor
        if goal.type == "distinct_merchants":
            return len(self.merchants)
        if goal.type == "distinct_categories":
            return len(self.categories)
        return streak(goal.unit or "days", self.days, today).best

    def _apply(self, c: Contribution, sign: int) -> None:
        # An unknown merchant or category is not a distinct one.
        counters: tuple[tuple[Counter[Any], Any], ...] = (
            (self.merchants, c.merchant_id),
            (self.categories, c.category),
            (self.days, c.local_day),
        )
        if sign < 0 and (
            self.count < 1
            or self.spend_minor < c.amount_minor
            or any(key is not None and counter[key] < 1 for counter, key in counters)
        ):
            raise ValueError(f"Removed a contribution that was never added: {c}.")
        self.count += sign
        self.spend_minor += sign * c.amount_minor
        for counter, key in counters:
            if key is None:
                continue
            left = counter[key] + sign
            if left:
                counter[key] = left
            else:
                del counter[key]


def joined_in_time(join: str, joined_at: datetime | None, occurred_at: datetime) -> bool:
    """Whether a purchase at `occurred_at` may count: always for an automatic challenge;
    for an opt-in one only once the cardholder joined, and only purchases from then on."""
    if join == "automatic":
        return True
    return joined_at is not None and occurred_at >= joined_at
