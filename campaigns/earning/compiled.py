"""A campaign version compiled: its conditions as predicates over plain facts about a
purchase and its shopper, its effect as exact arithmetic, and its cap periods.

A definition is the dict that `campaigns/earning/definition.py` validates (window, audience,
conditions, effect, caps, budget); `Campaign.compile` turns it into a `Campaign` once per
version. `campaigns.earning.engine` indexes compiled versions and evaluates purchases against them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from fractions import Fraction
from functools import cached_property, lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from rewards.currencies import minor_units

PERIODS = ("day", "week", "month", "quarter", "campaign")


@dataclass(frozen=True)
class Purchase:
    """What the engine needs to know about one purchase."""

    id: int
    amount_minor: int
    currency: str
    mcc: str
    category: str | None
    merchant_id: str | None
    merchant_name: str | None
    partner: str | None
    channel: str | None
    occurred_at: datetime
    base_points: int


@dataclass(frozen=True)
class Shopper:
    """What the engine needs to know about the customer making the purchase."""

    customer_id: int
    birth_date: date | None = None
    tier: str | None = None
    segments: frozenset[int] = frozenset()
    # Campaign id → when the customer activated that offer.
    activations: dict[int, datetime] = field(default_factory=dict)
    # Merchants this customer bought from before this purchase.
    known_merchants: frozenset[str] = frozenset()


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


def _parse_time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _mcc_codes(entries: Iterable[str]) -> frozenset[str]:
    codes: set[str] = set()
    for entry in entries:
        low, _, high = entry.partition("-")
        high = high or low
        codes.update(f"{n:04d}" for n in range(int(low), int(high) + 1))
    return frozenset(codes)


def _age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


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
    categories: frozenset[str]
    mccs: frozenset[str]
    merchants: frozenset[str]
    partners: frozenset[str]
    channels: frozenset[str]
    weekdays: frozenset[int]
    hours: tuple[time, time] | None
    amount_min: int | None
    amount_max: int | None
    first_purchase_at_merchant: bool
    tiers: frozenset[str]
    segment_id: int | None
    min_age: int | None
    max_age: int | None
    per_transaction: int | None
    per_customer: tuple[tuple[str, int], ...]
    qualifying_spend: tuple[str, int] | None
    budget_points: int | None = None
    max_participants: int | None = None

    @classmethod
    def compile(cls, campaign_id: int, version: int, d: dict[str, Any]) -> Campaign:
        """Compile a validated definition dict."""
        conditions = d.get("conditions") or {}
        audience = d.get("audience") or {}
        caps = d.get("caps") or {}
        window = conditions.get("time_of_day")
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
            categories=frozenset(conditions.get("categories") or ()),
            mccs=_mcc_codes(conditions.get("mccs") or ()),
            merchants=frozenset(conditions.get("merchant_ids") or ()),
            partners=frozenset(conditions.get("partners") or ()),
            channels=frozenset(conditions.get("channels") or ()),
            weekdays=frozenset(conditions.get("weekdays") or ()),
            hours=(_parse_time(window["from"]), _parse_time(window["to"])) if window else None,
            amount_min=conditions.get("amount_min_minor"),
            amount_max=conditions.get("amount_max_minor"),
            first_purchase_at_merchant=bool(conditions.get("first_purchase_at_merchant")),
            tiers=frozenset(audience.get("tiers") or ()),
            segment_id=audience.get("segment_id"),
            min_age=audience.get("min_age"),
            max_age=audience.get("max_age"),
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
        for kind, values in (
            ("merchant", self.merchants),
            ("mcc", self.mccs),
            ("category", self.categories),
            ("partner", self.partners),
        ):
            if values:
                return [(kind, value) for value in values]
        return []

    def applies(self, p: Purchase, s: Shopper, zone: ZoneInfo) -> bool:
        """Every condition of this version holds for the purchase and the shopper."""
        # The checks a version does not need are skipped (they would hold anyway).
        return (
            (not self._targeted or self._targets(p))
            and self._window(p, zone)
            and (not self._audienced or self._audience(p, s))
        )

    def _applies_at(self, p: Purchase, s: Shopper, zone: ZoneInfo, at: datetime) -> bool:
        """`applies` for a purchase at `at` (its time in UTC) whose merchant, MCC, category
        and partner this version's targeting already accepted."""
        end = self._utc_ends
        return (
            self._utc_starts <= at
            and (end is None or at < end)
            and (not self._per_purchase or self._targets(p))
            and (not (self.weekdays or self.hours) or self._window(p, zone))
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
        return not (self._per_purchase or self.weekdays or self.hours or self._audienced)

    @cached_property
    def _per_purchase(self) -> bool:
        """Targeting that depends on more than the merchant, MCC, category and partner."""
        return bool(self.channels or self.amount_min is not None or self.amount_max is not None)

    @cached_property
    def _targeted(self) -> bool:
        return bool(
            self.categories
            or self.mccs
            or self.merchants
            or self.partners
            or self.channels
            or self.amount_min is not None
            or self.amount_max is not None
        )

    @cached_property
    def _audienced(self) -> bool:
        return bool(
            self.requires_activation
            or self.tiers
            or self.segment_id is not None
            or self.first_purchase_at_merchant
            or self.min_age is not None
            or self.max_age is not None
        )

    def _targets(self, p: Purchase) -> bool:
        return (
            (not self.categories or p.category in self.categories)
            and (not self.mccs or p.mcc in self.mccs)
            and (not self.merchants or p.merchant_id in self.merchants)
            and (not self.partners or p.partner in self.partners)
            and (not self.channels or p.channel in self.channels)
            and (self.amount_min is None or p.amount_minor >= self.amount_min)
            and (self.amount_max is None or p.amount_minor <= self.amount_max)
        )

    def _window(self, p: Purchase, zone: ZoneInfo) -> bool:
        if p.occurred_at < self.starts_at or (self.ends_at and p.occurred_at >= self.ends_at):
            return False
        if not (self.weekdays or self.hours):
            return True
        local = p.occurred_at.astimezone(zone)
        if self.weekdays and local.isoweekday() not in self.weekdays:
            return False
        if self.hours:
            start, end = self.hours
            now = local.time()
            inside = start <= now < end if start <= end else now >= start or now < end
            if not inside:
                return False
        return True

    def _audience(self, p: Purchase, s: Shopper) -> bool:
        if self.requires_activation:
            activated = s.activations.get(self.id)
            if activated is None or activated > p.occurred_at:
                return False
        if self.tiers and s.tier not in self.tiers:
            return False
        if self.segment_id is not None and self.segment_id not in s.segments:
            return False
        if self.first_purchase_at_merchant and (
            p.merchant_id is None or p.merchant_id in s.known_merchants
        ):
            return False
        if self.min_age is not None or self.max_age is not None:
            if s.birth_date is None:
                return False
            age = _age_on(s.birth_date, p.occurred_at.date())
            if (self.min_age is not None and age < self.min_age) or (
                self.max_age is not None and age > self.max_age
            ):
                return False
        return True

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
    where = ", ".join(sorted(c.categories)) or (
        "selected merchants"
        if c.merchants
        else "selected merchant categories"
        if c.mccs
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
