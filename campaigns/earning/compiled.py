"""A campaign version compiled: its conditions and audience (the shared condition language,
`campaigns.rules`), its window, its effect as exact arithmetic, and its cap periods.

A definition is the dict that `campaigns/earning/definition.py` validates (window, audience,
conditions, effect, caps, budget); `Campaign.compile` turns it into a `Campaign` once per
version. `campaigns.earning.engine` indexes compiled versions and evaluates purchases against them.
`Purchase` and `Shopper` live in `campaigns.rules.facts` and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from fractions import Fraction
from functools import cached_property, lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from campaigns.rules.audience import Audience
from campaigns.rules.conditions import Conditions
from campaigns.rules.facts import Purchase, Shopper
from rewards.currencies import minor_units

__all__ = [
    "PERIODS",
    "Campaign",
    "Purchase",
    "Shopper",
    "day_bucket",
    "money_text",
    "period_key",
]

PERIODS = ("day", "week", "month", "quarter", "campaign")


def period_key(period: str, moment: datetime, zone: ZoneInfo) -> str:
    """The cap bucket of `moment` in the program's timezone (midnight is local midnight)."""
    return day_bucket(period, moment.astimezone(zone).date())


@lru_cache(maxsize=8192)
def day_bucket(period: str, local: date) -> str:
    """The cap bucket of the program-local day `local` (remembered: every purchase of a day
    in a period shares its bucket)."""
    if period == "day":
        return f"d:{local.isoformat()}"
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"w:{year}-W{week:02d}"
    if period == "month":
        return f"m:{local:%Y-%m}"
    if period == "quarter":
        return f"q:{local.year}-Q{(local.month - 1) // 3 + 1}"
    return "c"


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value))


@dataclass(frozen=True)
class Campaign:
    """One campaign version, compiled."""

    id: int
    version: int
    name: str
    priority: int
    stackable: bool
    requires_activation: bool
    starts_at: datetime
    ends_at: datetime | None
    effect: str
    value: Decimal
    conditions: Conditions
    audience: Audience
    per_transaction: int | None
    per_customer: tuple[tuple[str, int], ...]
    qualifying_spend: tuple[str, int] | None
    budget_points: int | None = None
    max_participants: int | None = None

    @classmethod
    def compile(cls, campaign_id: int, version: int, d: dict[str, Any]) -> Campaign:
        """Compile a validated definition dict."""
        caps = d.get("caps") or {}
        spend = caps.get("qualifying_spend")
        return cls(
            id=campaign_id,
            version=version,
            name=d["name"],
            priority=int(d.get("priority", 100)),
            stackable=bool(d.get("stackable", True)),
            requires_activation=bool(d.get("requires_activation", False)),
            starts_at=_as_datetime(d["starts_at"]),
            ends_at=_as_datetime(d["ends_at"]) if d.get("ends_at") else None,
            effect=d["effect"]["type"],
            value=_decimal(d["effect"]["value"]),
            conditions=Conditions.compile(d.get("conditions")),
            audience=Audience.compile(d.get("audience")),
            per_transaction=caps.get("per_transaction"),
            per_customer=tuple(
                (c["period"], int(c["points"])) for c in caps.get("per_customer") or ()
            ),
            qualifying_spend=(spend["period"], int(spend["amount_minor"])) if spend else None,
            budget_points=d.get("budget_points"),
            max_participants=d.get("max_participants"),
        )

    def index_keys(self) -> list[tuple[str, str]]:
        """Where the index files this campaign: its most selective targeting dimension."""
        return self.conditions.index_keys()

    def applies(self, p: Purchase, s: Shopper, zone: ZoneInfo) -> bool:
        """Every condition of this version holds for the purchase and the shopper."""
        # The checks a version does not need are skipped (they would hold anyway).
        conditions = self.conditions
        return (
            p.partner_event == conditions.partner_event
            and (not conditions.targeted or conditions.targets(p))
            and self._window(p, zone)
            and (not self._audienced or self._audience(p, s))
        )

    def _applies_at(self, p: Purchase, s: Shopper, zone: ZoneInfo, at: datetime) -> bool:
        """`applies` for a purchase at `at` (its time in UTC) whose merchant, MCC, category
        and partner this version's targeting already accepted."""
        end, conditions = self._utc_ends, self.conditions
        return (
            self._utc_starts <= at
            and (end is None or at < end)
            and (not conditions.per_purchase or conditions.targets(p))
            and (not conditions.timed or conditions.in_time(p, zone))
            and (not self._audienced or self._audience(p, s))
        )

    # The window in UTC: datetimes in one tzinfo compare without working out offsets.
    @cached_property
    def _utc_starts(self) -> datetime:
        return self.starts_at.astimezone(UTC)

    @cached_property
    def _utc_ends(self) -> datetime | None:
        return self.ends_at and self.ends_at.astimezone(UTC)

    @cached_property
    def _windowed_only(self) -> bool:
        """Once the targeting accepted a purchase's merchant, MCC, category and partner,
        only the window in UTC is left to check."""
        conditions = self.conditions
        return not (conditions.per_purchase or conditions.timed or self._audienced)

    @cached_property
    def _audienced(self) -> bool:
        """Checks that need the shopper: activation, audience, first purchase at a merchant."""
        return bool(
            self.requires_activation
            or not self.audience.everyone
            or self.conditions.first_purchase_at_merchant
        )

    def _window(self, p: Purchase, zone: ZoneInfo) -> bool:
        if p.occurred_at < self.starts_at or (self.ends_at and p.occurred_at >= self.ends_at):
            return False
        return not self.conditions.timed or self.conditions.in_time(p, zone)

    def _audience(self, p: Purchase, s: Shopper) -> bool:
        if self.requires_activation:
            activated = s.activations.get(self.id)
            if activated is None or activated > p.occurred_at:
                return False
        if self.conditions.first_purchase_at_merchant and not self.conditions.new_merchant(p, s):
            return False
        return self.audience.everyone or self.audience.admits(s, p.occurred_at.date())

    # The compiled conditions and audience, read as the version's own attributes (as callers
    # did before they were values of `campaigns.rules`); never on the feed's hot path.
    @property
    def categories(self) -> frozenset[str]:
        return self.conditions.categories

    @property
    def mccs(self) -> frozenset[str]:
        return self.conditions.mccs

    @property
    def merchants(self) -> frozenset[str]:
        return self.conditions.merchants

    @property
    def partners(self) -> frozenset[str]:
        return self.conditions.partners

    @property
    def channels(self) -> frozenset[str]:
        return self.conditions.channels

    @property
    def weekdays(self) -> frozenset[int]:
        return self.conditions.weekdays

    @property
    def hours(self) -> tuple[time, time] | None:
        return self.conditions.hours

    @property
    def amount_min(self) -> int | None:
        return self.conditions.amount_min

    @property
    def amount_max(self) -> int | None:
        return self.conditions.amount_max

    @property
    def first_purchase_at_merchant(self) -> bool:
        return self.conditions.first_purchase_at_merchant

    @property
    def segment_id(self) -> int | None:
        return self.audience.segment_id

    @property
    def tiers(self) -> frozenset[str]:
        return self.audience.tiers

    @property
    def min_age(self) -> int | None:
        return self.audience.min_age

    @property
    def max_age(self) -> int | None:
        return self.audience.max_age

    def charges(
        self, points: int, qualifying_minor: int, occurred_at: datetime, zone: ZoneInfo
    ) -> tuple[tuple[str, int, int], ...]:
        """(period bucket, points, qualifying spend) a grant of `points` on a purchase at
        `occurred_at` charges against this version's per-customer caps. Versions never
        change, so a refund works this out again instead of the ledger storing it."""
        found = [
            (period_key(period, occurred_at, zone), points, 0) for period, _ in self.per_customer
        ]
        if self.qualifying_spend:
            found.append(
                (period_key(self.qualifying_spend[0], occurred_at, zone), 0, qualifying_minor)
            )
        return tuple(found)

    @cached_property
    def effect_text(self) -> str:
        """ "3× on dining", "+25 pts on every purchase"… (worked out once per version)."""
        return _effect_text(self)

    @cached_property
    def label(self) -> str:
        """ "3× on dining — Weekend Eats": a bonus's summary when no cap limited it."""
        return f"{self.effect_text} — {self.name}"

    def raw_points(self, p: Purchase, qualifying_minor: int) -> int:
        """The effect on `qualifying_minor` of the amount, before caps: exact integer
        arithmetic on the rate as a fraction, floored once at the end (a share rounded on
        the way, such as 5/14 as a decimal, loses a point)."""
        if qualifying_minor <= 0:
            return 0
        numerator, denominator = self._rate
        if self.effect == "fixed_bonus":
            return max(0, numerator // denominator)
        if self.effect == "multiplier":
            # base × (qualifying / amount) × (value − 1), one division.
            numerator *= p.base_points * qualifying_minor
            denominator *= p.amount_minor
        else:  # points_per_unit and percent_of_spend: per major unit of qualifying spend
            numerator *= qualifying_minor
            denominator *= 10 ** minor_units(p.currency)
        return max(0, numerator // denominator)

    @cached_property
    def _rate(self) -> tuple[int, int]:
        """What the effect multiplies by, as an exact fraction (numerator, denominator > 0):
        the bonus of a fixed bonus, value − 1 for a multiplier (the base is already earned),
        value / 100 for a percentage, the value itself per unit."""
        rate = Fraction(self.value)  # exact: the value is a Decimal parsed from its string
        if self.effect == "multiplier":
            rate -= 1
        elif self.effect == "percent_of_spend":
            rate /= 100
        return rate.numerator, rate.denominator


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _effect_text(c: Campaign) -> str:
    value = f"{c.value.normalize():f}"
    conditions = c.conditions
    where = ", ".join(sorted(conditions.categories)) or (
        "selected merchants"
        if conditions.merchants
        else "selected merchant categories"
        if conditions.mccs
        else "every purchase"
    )
    if c.effect == "multiplier":
        return f"{value}× on {where}"
    if c.effect == "fixed_bonus":
        return f"+{value} pts on {where}"
    if c.effect == "points_per_unit":
        return f"{value} extra pts per unit on {where}"
    return f"{value}% back in points on {where}"


def money_text(amount_minor: int, currency: str) -> str:
    digits = minor_units(currency)
    return f"{Decimal(amount_minor).scaleb(-digits):,.{digits}f} {currency}"
