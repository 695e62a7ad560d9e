"""The `conditions` block: which purchases a rule (campaign, challenge, perk) counts.

`check_conditions` validates a block with a `Checker` (every problem by its exact path, e.g.
`conditions.mccs.2`); `Conditions.compile` turns the normalised block into frozensets and
plain attributes judged per purchase in the program's timezone. All conditions are AND-ed;
an absent one holds for every purchase.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo

from campaigns.rules.checking import Check, Checker, checked, join
from campaigns.rules.facts import Purchase, Shopper
from rewards.mcc import CATEGORIES

CHANNELS = ("in_store", "online", "contactless")
# Program exclusions (cash-like spending, gambling) protect minors; no rule may target them.
REFUSED_CATEGORIES = ("cash_like", "gambling")
MCC_ENTRY = re.compile(r"^([0-9]{4})(?:-([0-9]{4}))?$")
HH_MM = re.compile(r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$")
FIELDS = (
    "categories",
    "mccs",
    "merchant_ids",
    "partners",
    "amount_min_minor",
    "amount_max_minor",
    "channels",
    "weekdays",
    "time_of_day",
    "first_purchase_at_merchant",
    "partner_event",
)


def check_conditions(
    c: Checker, value: Any, path: str = "conditions", *, excluded_mccs: Iterable[str] = ()
) -> dict[str, Any]:
    """The normalised block (only the conditions that passed), problems recorded in `c`.

    `excluded_mccs` are the program's: naming one, alone or inside a range, is refused (a
    marketer would otherwise see a bonus promised on spending that never earns)."""
    excluded = frozenset(excluded_mccs)
    checks: dict[str, Check] = {
        "categories": lambda v, p: c.items(v, p, lambda i, ip: _category(c, i, ip)),
        "mccs": lambda v, p: c.items(v, p, lambda i, ip: _mcc(c, i, ip, excluded)),
        "merchant_ids": lambda v, p: c.items(v, p, c.text),
        "partners": lambda v, p: c.items(v, p, c.text),
        "amount_min_minor": c.positive,
        "amount_max_minor": c.positive,
        "channels": lambda v, p: c.items(v, p, lambda i, ip: c.choice(i, ip, CHANNELS)),
        "weekdays": lambda v, p: c.items(v, p, lambda i, ip: c.integer(i, ip, 1, 7)),
        "time_of_day": lambda v, p: _time_of_day(c, v, p),
        "first_purchase_at_merchant": c.boolean,
        "partner_event": c.boolean,
    }
    conditions = checked(c.obj(value, path, FIELDS), path, checks)
    low, high = conditions.get("amount_min_minor"), conditions.get("amount_max_minor")
    if low is not None and high is not None and low > high:
        c.fail(join(path, "amount_max_minor"), "Must not be below amount_min_minor.")
    return conditions


def _category(c: Checker, value: Any, path: str) -> str | None:
    category = c.choice(value, path, CATEGORIES)
    if category in REFUSED_CATEGORIES:
        c.fail(path, "Excluded by every program (cash-like, gambling); cannot be targeted.")
        return None
    return category


def _mcc(c: Checker, value: Any, path: str, excluded: frozenset[str]) -> str | None:
    match = MCC_ENTRY.match(value) if isinstance(value, str) else None
    if match is None:
        c.fail(path, 'Must be 4 digits ("5812") or a range ("5811-5814").')
        return None
    low, high = match.group(1), match.group(2)
    if high is not None and low > high:
        c.fail(path, "The range's low end is above its high end.")
        return None
    if high is None and value in excluded:
        c.fail(path, "Excluded by the program (never earns); cannot be targeted.")
        return None
    # Four-digit strings compare like the numbers they spell.
    covered = sorted(m for m in excluded if high and low <= m <= high)
    if covered:
        c.fail(
            path,
            f"The range covers {', '.join(covered)}, excluded by the program (never earns); "
            "split it around them.",
        )
        return None
    return value


def _time_of_day(c: Checker, value: Any, path: str) -> dict[str, str] | None:
    window = c.record(value, path, ("from", "to"))
    if window is None:
        return None
    ok = True
    for key in ("from", "to"):
        if not isinstance(window[key], str) or not HH_MM.match(window[key]):
            c.fail(join(path, key), 'Must be a 24-hour time "HH:MM".')
            ok = False
    if ok and window["from"] == window["to"]:
        c.fail(join(path, "to"), "Must differ from `from` (a window may wrap midnight).")
        ok = False
    return {"from": window["from"], "to": window["to"]} if ok else None


def mcc_codes(entries: Iterable[str]) -> frozenset[str]:
    """Every code named by `entries` ("5812", or the range "5811-5814" with both ends)."""
    codes: set[str] = set()
    for entry in entries:
        low, _, high = entry.partition("-")
        high = high or low
        codes.update(f"{n:04d}" for n in range(int(low), int(high) + 1))
    return frozenset(codes)


def parse_time(text: str) -> time:
    """ "HH:MM" as a time of day."""
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True, slots=True)
class Conditions:
    """A `conditions` block compiled: membership in frozensets, bounds as plain integers."""

    categories: frozenset[str] = frozenset()
    mccs: frozenset[str] = frozenset()
    merchants: frozenset[str] = frozenset()
    partners: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    weekdays: frozenset[int] = frozenset()
    # [from, to) in local wall-clock time; from > to wraps midnight.
    hours: tuple[time, time] | None = None
    amount_min: int | None = None  # inclusive
    amount_max: int | None = None  # inclusive
    first_purchase_at_merchant: bool = False
    # True: only purchases partners report (`partner.purchase`); False: only card purchases.
    partner_event: bool = False
    # Worked out once, so callers skip the checks a block does not need.
    targeted: bool = field(init=False, repr=False, compare=False)
    per_purchase: bool = field(init=False, repr=False, compare=False)
    timed: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        per_purchase = bool(
            self.channels or self.amount_min is not None or self.amount_max is not None
        )
        placed = bool(self.categories or self.mccs or self.merchants or self.partners)
        object.__setattr__(self, "per_purchase", per_purchase)
        object.__setattr__(self, "targeted", placed or per_purchase)
        object.__setattr__(self, "timed", bool(self.weekdays or self.hours))

    @classmethod
    def compile(cls, block: dict[str, Any] | None) -> Conditions:
        """Compile a block `check_conditions` normalised (None or {} holds for every purchase)."""
        d = block or {}
        window = d.get("time_of_day")
        return cls(
            categories=frozenset(d.get("categories") or ()),
            mccs=mcc_codes(d.get("mccs") or ()),
            merchants=frozenset(d.get("merchant_ids") or ()),
            partners=frozenset(d.get("partners") or ()),
            channels=frozenset(d.get("channels") or ()),
            weekdays=frozenset(d.get("weekdays") or ()),
            hours=(parse_time(window["from"]), parse_time(window["to"])) if window else None,
            amount_min=d.get("amount_min_minor"),
            amount_max=d.get("amount_max_minor"),
            first_purchase_at_merchant=bool(d.get("first_purchase_at_merchant")),
            partner_event=bool(d.get("partner_event")),
        )

    def matches(self, p: Purchase, s: Shopper, zone: ZoneInfo) -> bool:
        """Every condition holds for `p` (its local time in `zone`) made by `s`."""
        return (
            p.partner_event == self.partner_event
            and (not self.targeted or self.targets(p))
            and (not self.timed or self.in_time(p, zone))
            and (not self.first_purchase_at_merchant or self.new_merchant(p, s))
        )

    def targets(self, p: Purchase) -> bool:
        """The conditions on what was bought and how hold: category, MCC, merchant, partner,
        channel, amount (bounds included)."""
        return (
            (not self.categories or p.category in self.categories)
            and (not self.mccs or p.mcc in self.mccs)
            and (not self.merchants or p.merchant_id in self.merchants)
            and (not self.partners or p.partner in self.partners)
            and (not self.channels or p.channel in self.channels)
            and (self.amount_min is None or p.amount_minor >= self.amount_min)
            and (self.amount_max is None or p.amount_minor <= self.amount_max)
        )

    def place_allows(self, p: Purchase) -> bool:
        """False only when `p`'s merchant, MCC, category or partner rules it out: what
        purchases sharing those four have in common (the index remembers it for them)."""
        return p.partner_event == self.partner_event and (self.per_purchase or self.targets(p))

    def in_time(self, p: Purchase, zone: ZoneInfo) -> bool:
        """Weekday (ISO, 1 = Monday) and time of day hold in the program's local time."""
        local = p.occurred_at.astimezone(zone)
        if self.weekdays and local.isoweekday() not in self.weekdays:
            return False
        if self.hours:
            start, end = self.hours
            now = local.time()
            return start <= now < end if start <= end else now >= start or now < end
        return True

    def new_merchant(self, p: Purchase, s: Shopper) -> bool:
        """`p` is `s`'s first purchase at its merchant (a purchase without one never is)."""
        return p.merchant_id is not None and p.merchant_id not in s.known_merchants

    def index_keys(self) -> list[tuple[str, str]]:
        """Where an index files a rule with these conditions: its most selective dimension
        (none: the rule is a candidate for every purchase)."""
        for kind, values in (
            ("merchant", self.merchants),
            ("mcc", self.mccs),
            ("category", self.categories),
            ("partner", self.partners),
        ):
            if values:
                return [(kind, value) for value in values]
        return []
