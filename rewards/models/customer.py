"""Customers (cardholders, known by the bank's external ref) and their cards (processor tokens)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from rewards.db import BigId, JSONType, Model, UTCDateTime


class Customer(Model):
    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("program_id", "external_ref"),
        # The hourly tier review finds customers whose review date has come.
        Index(
            "ix_customers_tier_review_on",
            "tier_review_on",
            postgresql_where=text("tier_review_on IS NOT NULL"),
            sqlite_where=text("tier_review_on IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    external_ref: Mapped[str] = mapped_column(String(128))
    birth_date: Mapped[date | None]
    nickname: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    consent_leaderboard: Mapped[bool] = mapped_column(default=False)
    consent_marketing: Mapped[bool] = mapped_column(default=False)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    tier: Mapped[str | None] = mapped_column(String(32))
    # When the current tier was reached, and when it is reviewed (program-local date; a tier
    # only goes down at its review). Both None at the base tier.
    tier_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tier_review_on: Mapped[date | None]
    # When the cardholder themself switched leaderboard consent on in the app (PATCH /v1/me);
    # None if consent came from the bank or processor. Minors appear only with this set.
    leaderboard_opted_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    level: Mapped[int] = mapped_column(default=1)
    xp: Mapped[int] = mapped_column(default=0)
    # The points XP counts (campaigns.levels.facts), summed over the account's ledger entries
    # up to entry id `xp_points_upto`: a chunk adds only the entries after it.
    xp_points: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    xp_points_upto: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())


class Card(Model):
    __tablename__ = "cards"
    __table_args__ = (UniqueConstraint("program_id", "token"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    token: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
