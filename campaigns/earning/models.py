"""Campaign tables: a campaign (status and live counters) and its immutable definition versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from rewards.db import BigId, JSONType, Model, UTCDateTime

STATUSES = ("draft", "scheduled", "active", "paused", "ended")


class Campaign(Model):
    """One earning rule of a program. Name and window mirror the current version (for filters)."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'scheduled', 'active', 'paused', 'ended')", name="status_known"
        ),
        CheckConstraint("current_version >= 1", name="version_positive"),
        CheckConstraint("budget_used >= 0", name="budget_used_not_negative"),
        CheckConstraint("participants >= 0", name="participants_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    current_version: Mapped[int] = mapped_column(default=1)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Live counters the engine updates as it grants (never above budget / max participants).
    budget_used: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    participants: Mapped[int] = mapped_column(default=0, server_default="0")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )


class CampaignVersion(Model):
    """The full definition a campaign had from one edit to the next; ledger entries name it."""

    __tablename__ = "campaign_versions"
    __table_args__ = (
        UniqueConstraint("campaign_id", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    version: Mapped[int]
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
