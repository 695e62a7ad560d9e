"""Whether a cardholder may redeem a perk now, and if not, which rule says no: the same
judgement for the catalog (`GET /v1/me/perks` shows it) and for a redemption (which refuses
with it). Pure functions on rows already read; the caller locks what must not move.

Rules, in the order a refusal names them:

- `active`: the perk is live and inside its window;
- `min_age`: the customer's age today (program timezone) is at least the minimum (a customer
  whose birth date the bank did not send is not eligible for an age-gated perk);
- `min_tier`: the customer's tier is at least the minimum (a tier the ladder no longer has
  keeps the perk closed, never open);
- `limit`: the customer's redemptions in the current period (day, ISO week or month in the
  program timezone, or lifetime) are below the limit;
- `stock`: units are left (and codes, for a perk that issues its partner's uploaded codes);
- `points`: the available balance covers the price (pending points cannot be spent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from rewards.customers import age_on
from rewards.lifecycle import effective_status
from rewards.tiers.ladder import Ladder


class PerkState(Protocol):
    """What the rules read of a perk: a `Perk` row, or the catalog's lighter `PerkFacts`."""

    @property
    def status(self) -> str: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def ends_at(self) -> datetime | None: ...
    @property
    def cost_points(self) -> int: ...
    @property
    def stock_total(self) -> int | None: ...
    @property
    def stock_used(self) -> int: ...


@dataclass(frozen=True)
class Refusal:
    """Why not: the rule (`min_age`, `stock`, ...) and a sentence the app can show."""

    rule: str
    detail: str
    points_missing: int | None = None


@dataclass(frozen=True)
class Holder:
    """What the rules read about the cardholder."""

    birth_date: date | None
    tier: str | None
    available: int


def period_start(per: str, now: datetime, zone: ZoneInfo) -> datetime | None:
    """When the current limit period began (UTC): the local day, ISO week (Monday) or month
    that holds `now`; None for a lifetime limit."""
    if per == "lifetime":
        return None
    today = now.astimezone(zone).date()
    if per == "week":
        first = today - timedelta(days=today.weekday())
    elif per == "month":
        first = today.replace(day=1)
    else:
        first = today
    return datetime.combine(first, time(0), tzinfo=zone).astimezone(UTC)


def refusals(
    perk: PerkState,
    definition: dict[str, Any],
    holder: Holder,
    *,
    ladder: Ladder | None,
    used_in_period: int,
    now: datetime,
    zone: ZoneInfo,
    codes_left: int | None = None,
) -> list[Refusal]:
    """Every rule that refuses `holder` the perk now, in the order above (empty: may redeem).
    `codes_left`: what is left of the uploaded pool of a perk that issues uploaded codes."""
    found: list[Refusal] = []
    status = effective_status(perk, now)
    if status != "active":
        found.append(Refusal("active", f"This perk is {status}, not open for redemption."))
    found += _gates(definition, holder, ladder, now, zone)
    limit = definition.get("limit")
    if limit is not None and used_in_period >= limit["count"]:
        found.append(Refusal("limit", _limit_text(limit)))
    sold_out = perk.stock_total is not None and perk.stock_used >= perk.stock_total
    if sold_out or (codes_left is not None and codes_left <= 0):
        found.append(Refusal("stock", "This perk is out of stock."))
    missing = perk.cost_points - max(holder.available, 0)
    if missing > 0:
        found.append(
            Refusal(
                "points",
                f"You need {missing} more points: it costs {perk.cost_points} and "
                f"{max(holder.available, 0)} are available.",
                points_missing=missing,
            )
        )
    return found


def _gates(
    definition: dict[str, Any], holder: Holder, ladder: Ladder | None, now: datetime, zone: ZoneInfo
) -> list[Refusal]:
    found = []
    min_age = definition.get("min_age")
    if min_age is not None:
        today = now.astimezone(zone).date()
        if holder.birth_date is None or age_on(holder.birth_date, today) < min_age:
            found.append(Refusal("min_age", f"Only for cardholders aged {min_age} or over."))
    min_tier = definition.get("min_tier")
    if min_tier is not None and not _tier_reaches(ladder, holder.tier, min_tier):
        name = ladder.get(min_tier).name if ladder and ladder.has(min_tier) else min_tier
        found.append(Refusal("min_tier", f"Only for {name} tier and above."))
    return found


def _tier_reaches(ladder: Ladder | None, tier: str | None, minimum: str) -> bool:
    if ladder is None or not ladder.has(minimum):
        return False
    return ladder.rank(ladder.get(tier)) >= ladder.rank(ladder.get(minimum))


def _limit_text(limit: dict[str, Any]) -> str:
    count, per = limit["count"], limit["per"]
    times = "once" if count == 1 else f"{count} times"
    span = "in total" if per == "lifetime" else f"per {per}"
    return f"You can redeem this perk {times} {span}, and you have."
