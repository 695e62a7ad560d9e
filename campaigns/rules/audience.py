"""The `audience` block: which customers a rule (campaign, challenge, perk) is for.

`check_audience` validates it with a `Checker`; `Audience.compile` turns it into plain
attributes, and `Audience.admits` judges a shopper on a given day: segment, tier, age.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from campaigns.rules.checking import MAX_ID, Check, Checker, checked, join
from campaigns.rules.facts import Shopper
from rewards.customers import age_on

FIELDS = ("segment_id", "tiers", "min_age", "max_age")


def check_audience(c: Checker, value: Any, path: str = "audience") -> dict[str, Any]:
    """The normalised block (only the rules that passed), problems recorded in `c`."""
    checks: dict[str, Check] = {
        "segment_id": lambda v, p: c.integer(v, p, 1, MAX_ID),
        "tiers": lambda v, p: c.items(v, p, c.text),
        "min_age": lambda v, p: c.integer(v, p, 0, 120),
        "max_age": lambda v, p: c.integer(v, p, 0, 120),
    }
    audience = checked(c.obj(value, path, FIELDS), path, checks)
    low, high = audience.get("min_age"), audience.get("max_age")
    if low is not None and high is not None and low > high:
        c.fail(join(path, "max_age"), "Must not be below min_age.")
    return audience


@dataclass(frozen=True, slots=True)
class Audience:
    """An `audience` block compiled. Ages are inclusive bounds; a shopper without a birth
    date is outside any age bound."""

    segment_id: int | None = None
    tiers: frozenset[str] = frozenset()
    min_age: int | None = None
    max_age: int | None = None
    everyone: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        everyone = not (
            self.tiers
            or self.segment_id is not None
            or self.min_age is not None
            or self.max_age is not None
        )
        object.__setattr__(self, "everyone", everyone)

    @classmethod
    def compile(cls, block: dict[str, Any] | None) -> Audience:
        """Compile a block `check_audience` normalised (None or {} admits everyone)."""
        d = block or {}
        return cls(
            segment_id=d.get("segment_id"),
            tiers=frozenset(d.get("tiers") or ()),
            min_age=d.get("min_age"),
            max_age=d.get("max_age"),
        )

    def admits(self, s: Shopper, on: date) -> bool:
        """`s` is in the segment, holds one of the tiers, and is of age on the day `on`."""
        if self.tiers and s.tier not in self.tiers:
            return False
        if self.segment_id is not None and self.segment_id not in s.segments:
            return False
        if self.min_age is not None or self.max_age is not None:
            if s.birth_date is None:
                return False
            age = age_on(s.birth_date, on)
            if (self.min_age is not None and age < self.min_age) or (
                self.max_age is not None and age > self.max_age
            ):
                return False
        return True
