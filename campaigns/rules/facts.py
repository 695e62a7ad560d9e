"""The facts rules are judged on: one purchase, and the customer who made it.

Plain frozen values the feed, the simulator and the offers page build from rows; every rule
(campaign, challenge, later perks) reads them and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rewards.models import Transaction
    from rewards.processing.rules import TxFacts


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
    # Reported by a partner (`partner.purchase`), not made with the card: only rules with the
    # `partner_event` condition count it, and only it.
    partner_event: bool = False

    @classmethod
    def of(cls, tx: TxFacts | Transaction, base_points: int = 0) -> Purchase:
        """The purchase the feed's transaction facts (or a stored transaction) describe,
        earning `base_points`. A stored transaction has no partner: that is derived when the
        feed loads it."""
        return cls(
            id=tx.id,
            amount_minor=tx.amount_minor,
            currency=tx.currency,
            mcc=tx.mcc,
            category=tx.category,
            merchant_id=tx.merchant_id,
            merchant_name=tx.merchant_name,
            partner=getattr(tx, "partner", None),
            channel=tx.channel,
            occurred_at=tx.occurred_at,
            base_points=base_points,
            partner_event=getattr(tx, "source", "card") == "partner",
        )


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
