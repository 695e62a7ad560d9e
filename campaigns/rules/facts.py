"""The facts rules are judged on: one purchase, and the customer who made it.

Plain frozen values the feed, the simulator and the offers page build from rows; every rule
(campaign, challenge, later perks) reads them and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class Purchase:
    """What a rule needs to know about one purchase."""

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
    """What a rule needs to know about the customer making the purchase."""

    customer_id: int
    birth_date: date | None = None
    tier: str | None = None
    segments: frozenset[int] = frozenset()
    # Campaign id → when the customer activated that offer.
    activations: dict[int, datetime] = field(default_factory=dict)
    # Merchants this customer bought from before this purchase.
    known_merchants: frozenset[str] = frozenset()
