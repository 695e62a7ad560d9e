"""Partners: the brands of a program, and the processor merchant ids that belong to them.

`Partner.merchant_ids` is what the marketer configured. `PartnerMerchant` is the look-up the
feed reads: one row per merchant id of an *active* partner, unique per program, so the
database itself refuses a merchant id that two active partners claim (even when two requests
race) and derivation is one indexed query per chunk.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from rewards.db import BigId, JSONType, Model, UTCDateTime

PARTNER_STATUSES = ("active", "inactive")


class Partner(Model):
    """A brand of one program; campaigns target it by `code` (`conditions.partners`)."""

    __tablename__ = "partners"
    __table_args__ = (
        UniqueConstraint("program_id", "code"),
        CheckConstraint("status IN ('active', 'inactive')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No index of its own: the unique (program_id, code) constraint leads with it.
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    merchant_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )


class PartnerMerchant(Model):
    """A merchant id claimed by an active partner: at most one per (program, merchant id)."""

    __tablename__ = "partner_merchants"

    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
