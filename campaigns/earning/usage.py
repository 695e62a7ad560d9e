"""What campaigns have used up: cap counters per customer and period, the campaigns each
customer earned from, points per day, and the offers cardholders activated. Written by the
feed in the same transaction as the bonuses."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, SmallInteger, String, func
from sqlalchemy.orm import Mapped, mapped_column

from rewards.db import BigId, JSONType, Model, UTCDateTime


class CampaignCounter(Model):
    """Bonus points and qualifying spend one customer used in one cap period of a campaign."""

    __tablename__ = "campaign_counters"

    # No foreign keys on the feed's per-grant bookkeeping (counters, participants, days): the
    # feed writes tens of thousands of these rows per chunk with ids it read from locked
    # rows, campaigns and customers are never deleted, and a key check per row (plus its
    # KEY SHARE lock on the campaign) cost the feed a tenth of its time with many campaigns.
    # Keyed customer, bucket, campaign (migration 0009): the feed reads the chunk's customers'
    # counters of the current periods, whatever the number of counters kept from before.
    customer_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # `d:2026-11-29`, `w:2026-W48`, `m:2026-11`, `q:2026-Q4` (program timezone) or `c`.
    bucket: Mapped[str] = mapped_column(String(16), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    spend_minor: Mapped[int] = mapped_column(BigInteger, default=0)


class CustomerCampaigns(Model):
    """The campaigns a customer has earned from: `max_participants`, and who is new (the
    daily figures count participants as they first earn).

    One row per customer, not one per (campaign, customer): the feed reads the rows of a
    chunk's customers in one statement and appends to them in another, instead of inserting a
    row for every campaign each purchase earns from. The customer's account is locked while
    a chunk writes, so appends never race."""

    __tablename__ = "customer_campaigns"

    customer_id: Mapped[int] = mapped_column(BigId, primary_key=True)  # no foreign key: above
    campaign_ids: Mapped[list[int]] = mapped_column(JSONType)


class OfferActivation(Model):
    """A cardholder switched on an activate-to-earn offer; only later purchases earn."""

    __tablename__ = "offer_activations"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())


class CampaignDay(Model):
    """Bonus points one campaign granted and lost to refunds on one program-local day.

    Stats read these instead of scanning the ledger. Several workers add to the same day at
    once, so each chunk adds to one of several `shard` rows (drawn at random): a worker seldom
    waits on another's uncommitted chunk, and rows are upserted in key order (no deadlock)."""

    __tablename__ = "campaign_days"

    campaign_id: Mapped[int] = mapped_column(BigId, primary_key=True)  # no foreign key: above
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    clawed_back: Mapped[int] = mapped_column(BigInteger, default=0)
    purchases: Mapped[int] = mapped_column(default=0)
    # Customers who first earned from the campaign that day.
    participants: Mapped[int] = mapped_column(default=0, server_default="0")
