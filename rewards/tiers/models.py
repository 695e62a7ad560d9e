"""A program's tier ladder, one row per tier (the rules are in `rewards.tiers.ladder`)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rewards.db import BigId, Model


class ProgramTier(Model):
    """One tier: reached with `threshold` qualifying points over a rolling 12 months; base
    points are multiplied by `earn_multiplier` (1 for the base tier, whose threshold is 0)."""

    __tablename__ = "tiers"
    __table_args__ = (
        UniqueConstraint("program_id", "code"),
        UniqueConstraint("program_id", "threshold"),
        CheckConstraint("threshold >= 0", name="threshold_not_negative"),
        CheckConstraint("earn_multiplier >= 1", name="multiplier_at_least_one"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    threshold: Mapped[int] = mapped_column(BigInteger)
    earn_multiplier: Mapped[Decimal] = mapped_column(Numeric(8, 4))
