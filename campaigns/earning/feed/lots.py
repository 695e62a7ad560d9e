"""A purchase's campaign bonus lot: what it holds (one lot for every campaign it earns from),
its explanation, and the bookkeeping deltas a chunk collects before writing them once."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from campaigns.earning.engine import Bonus

BONUS_RULE = "bonus"  # a purchase's campaign bonuses: one lot, `tx:{id}:bonus`


@dataclass(frozen=True)
class Grant:
    """The bonuses of one purchase's lot, and whose and when they are."""

    program_id: int
    customer_id: int
    day: date  # program-local day of the purchase
    bonuses: list[Bonus]


@dataclass
class Usage:
    """Deltas to write in a few set-based statements."""

    # (campaign, customer, bucket) → [points, qualifying spend]
    counters: dict[tuple[int, int, str], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )
    # (campaign, day) → [points, clawed back, purchases, new participants]
    days: dict[tuple[int, date], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0])
    )
    # Campaign → bonus points granted less points given back (every campaign touched).
    budget: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    joined: dict[int, int] = field(default_factory=lambda: defaultdict(int))


def explain(bonuses: list[Bonus], customer_id: int, zone: ZoneInfo) -> dict[str, Any]:
    """One bonus lot's explanation: a summary the app shows, and each campaign's part (the
    text of a part no cap limited is its version's label: `campaigns.earning.labels`)."""
    parts = [bonus.explanation() for bonus in bonuses]
    if len(parts) == 1:
        summary = bonuses[0].summary
    else:
        total = sum(b.points for b in bonuses)
        shown = "; ".join(b.summary for b in bonuses[:3])
        more = f"; and {len(parts) - 3} more" if len(parts) > 3 else ""
        summary = f"+{total} pts from {len(parts)} campaigns: {shown}{more}"
    # With `customer_id` and the time zone of the cap periods, each part's version and points
    # let a refund give back exactly the cap room and budget used.
    return {
        "summary": summary,
        "rule": "campaigns",
        "customer_id": customer_id,
        "timezone": zone.key,
        "campaigns": parts,
    }


def explained_parts(explanation: dict[str, Any], lot_points: int) -> list[dict[str, Any]]:
    """Each campaign's part of a bonus lot (a lot written before 0005 had one campaign)."""
    if "campaigns" in explanation:
        return list(explanation["campaigns"])
    if explanation.get("campaign_id") is not None:
        return [{**explanation, "points": lot_points}]
    return []
