"""Program: one co-branded card product, the tenant every other row belongs to."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, Numeric, String, func
from sqlalchemy.orm import Mapped, mapped_column

from rewards.db import BigId, JSONType, Model, UTCDateTime

# Cash advance, quasi-cash (financial institution and merchant), money orders / wire transfers,
# betting and lottery: points on these would reward cash-like spending and gambling by minors.
DEFAULT_EXCLUDED_MCCS = [
    "4829",
    "6010",
    "6011",
    "6050",
    "6051",
    "6540",
    "7800",
    "7801",
    "7802",
    "7995",
]


class Program(Model):
    __tablename__ = "programs"
    __table_args__ = (
        CheckConstraint("earn_rate >= 0", name="earn_rate_not_negative"),
        CheckConstraint("pending_days >= 0", name="pending_days_not_negative"),
        CheckConstraint("expiry_months >= 0", name="expiry_months_not_negative"),
        CheckConstraint("point_value_per_1000 >= 0", name="point_value_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    brand_partner: Mapped[str | None] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    points_name: Mapped[str] = mapped_column(String(50), default="points")
    # Points per major currency unit; base points are rounded down per transaction.
    earn_rate: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    pending_days: Mapped[int] = mapped_column(default=0)
    # 0 means points never expire.
    expiry_months: Mapped[int] = mapped_column(default=0)
    min_age: Mapped[int | None]
    max_age: Mapped[int | None]
    excluded_mccs: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # Bumped by every campaign change: workers cache compiled rules per (program, revision).
    rules_revision: Mapped[int] = mapped_column(default=0, server_default="0")
    # XP per activity, e.g. {"per_point": "0.1", "per_challenge": 50, "per_streak_day": 5}
    # (campaigns/levels); {} means the defaults.
    xp_rules: Mapped[dict] = mapped_column(JSONType, default=dict, server_default="{}")
    # What the program pays a partner for 1,000 points redeemed on its perks, in minor units of
    # `currency` (settlement); per 1,000 so that sub-unit point values stay integers. None:
    # not agreed yet, and settlements show points without an amount.
    point_value_per_1000: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )
