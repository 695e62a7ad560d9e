"""Level thresholds per program, and every change of a customer's XP."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from rewards.db import BigId, Model, UTCDateTime


class Level(Model):
    """Level `level` is reached at `xp` experience points (level 1 at 0)."""

    __tablename__ = "levels"
    __table_args__ = (
        CheckConstraint("level >= 1", name="level_positive"),
        CheckConstraint("xp >= 0", name="xp_not_negative"),
    )

    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    level: Mapped[int] = mapped_column(primary_key=True)
    xp: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(64))


class XpEntry(Model):
    """A change of one customer's XP (`customers.xp` is the running total): `xp` may be negative
    when a clawback takes back what earned it. Weekly and monthly XP boards sum these by
    `created_at`; like the campaign counters it carries no foreign keys (set-based writes)."""

    __tablename__ = "xp_entries"
    __table_args__ = (
        Index("ix_xp_entries_program_created", "program_id", "created_at"),
        Index("ix_xp_entries_customer", "customer_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(BigId)
    customer_id: Mapped[int] = mapped_column(BigId)
    xp: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)  # the customer's XP after this change
    reason: Mapped[str] = mapped_column(String(32))  # points, challenge, streak_day, clawback
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
