"""The tier rules as pure functions: which tier points earn, and how a customer's tier moves.

*Qualifying points* are what purchases earned in the rolling 12 months (base and campaign
bonus points, net of what refunds took back); adjustments, challenge rewards and spending do
not count, so points cannot be bought back and a refund cannot keep a tier. The caller counts
them (`rewards.tiers` queries); everything here is arithmetic on dates and integers.

- Upgrade: as soon as the rolling points reach a higher tier's threshold, the customer moves
  up (several steps at once if earned) and the review date is set a year from that day.
- Review: on or after the review date the tier is set to what the last 12 months earned (kept,
  raised or lowered) and, if still above the base tier, the next review is a year later.
- Never mid-year: between upgrade and review a customer keeps their tier however little they
  earn. A customer above the base tier always has a review date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Tier:
    code: str
    name: str
    threshold: int  # qualifying points over 12 months to reach it; the base tier's is 0
    earn_multiplier: Fraction  # on base points: 1 for the base tier, e.g. 5/4 for +25 %


@dataclass(frozen=True)
class Standing:
    """Where a customer stands: `tier` (a code) and its `review_on` (local date, or None at
    the base tier)."""

    tier: str
    review_on: date | None


@dataclass(frozen=True)
class Outlook:
    """What the app shows: points still needed for the next tier (None at the top) and what
    must still be earned by the review date to keep the current tier (None without review)."""

    next_tier: str | None
    to_next_tier: int | None
    keep_by: date | None
    to_keep: int | None


class Ladder:
    """A program's tiers, lowest first. The lowest must have threshold 0 and multiplier 1."""

    def __init__(self, tiers: list[Tier]) -> None:
        ordered = sorted(tiers, key=lambda t: t.threshold)
        if not ordered or ordered[0].threshold != 0:
            raise ValueError("the lowest tier must have threshold 0")
        if len({t.threshold for t in ordered}) != len(ordered):
            raise ValueError("tier thresholds must differ")
        if len({t.code for t in ordered}) != len(ordered):
            raise ValueError("tier codes must differ")
        if any(t.earn_multiplier < 1 for t in ordered):
            raise ValueError("an earn multiplier is at least 1")
        self.tiers = ordered
        self._rank = {t.code: n for n, t in enumerate(ordered)}

    @property
    def base(self) -> Tier:
        return self.tiers[0]

    def get(self, code: str | None) -> Tier:
        """The tier with `code`; the base tier for None or a code the ladder no longer has."""
        if code is None or code not in self._rank:
            return self.base
        return self.tiers[self._rank[code]]

    def earned(self, points: int) -> Tier:
        """The highest tier whose threshold `points` reach."""
        reached = self.base
        for tier in self.tiers:
            if points >= tier.threshold:
                reached = tier
        return reached

    def above(self, tier: Tier) -> Tier | None:
        rank = self._rank[tier.code]
        return self.tiers[rank + 1] if rank + 1 < len(self.tiers) else None

    def rank(self, tier: Tier) -> int:
        return self._rank[tier.code]

    def has(self, code: str) -> bool:
        """Whether the ladder has a tier with `code`."""
        return code in self._rank


def decimal_text(value: Fraction) -> str:
    """`Fraction(5, 4)` → `'1.25'` (multipliers have at most 4 decimals: exact)."""
    return f"{(Decimal(value.numerator) / Decimal(value.denominator)).normalize():f}"


def one_year_after(day: date) -> date:
    """The same day a year later; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


def one_year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def counting_from(day: date) -> date:
    """The first local day of the rolling 12 months that end with `day` (the day after the
    same date a year earlier): a purchase counts for 365 (or 366) days including its own."""
    return one_year_before(day) + timedelta(days=1)


@dataclass(frozen=True)
class ProgramLadder:
    """A program's ladder with the timezone its dates (review dates, the 12 months) are in."""

    program_id: int
    ladder: Ladder
    timezone: str

    def today(self, now: datetime) -> date:
        """The program-local date at `now`."""
        return now.astimezone(ZoneInfo(self.timezone)).date()

    def start_of(self, day: date) -> datetime:
        """The UTC instant the local `day` begins (DST-aware)."""
        local = datetime.combine(day, time(0), tzinfo=ZoneInfo(self.timezone))
        return local.astimezone(UTC)


def reassess(ladder: Ladder, current: Standing, rolling_points: int, today: date) -> Standing:
    """The customer's standing after earning `rolling_points` in the 12 months up to `today`
    (local date). Upgrades at once; changes downwards only on or after the review date."""
    held = ladder.get(current.tier)
    earned = ladder.earned(rolling_points)
    if ladder.rank(earned) > ladder.rank(held):
        return Standing(earned.code, one_year_after(today))
    review_on = current.review_on
    if review_on is not None and today >= review_on:
        if earned is ladder.base:
            return Standing(earned.code, None)
        return Standing(earned.code, one_year_after(review_on))
    if review_on is None and held is not ladder.base:
        # A tier without a review date (set by hand, or a ladder change): review in a year.
        return Standing(held.code, one_year_after(today))
    return Standing(held.code, review_on)


def outlook(
    ladder: Ladder, current: Standing, rolling_points: int, points_toward_review: int
) -> Outlook:
    """`rolling_points`: earned in the 12 months up to now. `points_toward_review`: earned
    since a year before the review date (what the review will count so far)."""
    held = ladder.get(current.tier)
    after = ladder.above(held)
    to_next = None if after is None else max(0, after.threshold - rolling_points)
    if current.review_on is None or held is ladder.base:
        return Outlook(after.code if after else None, to_next, None, None)
    to_keep = max(0, held.threshold - points_toward_review)
    return Outlook(after.code if after else None, to_next, current.review_on, to_keep)
