"""Perk tables: a program's perks and their versions, and the redemptions that spent points on
them.

A perk's price, stock and limits live in its versioned definition; the row mirrors what the
redemption path and the catalog read without JSON (title, window, cost, stock) and keeps the
live stock counter `stock_used`, which only a redemption (or, later, a cancellation) moves,
under the perk row's lock. The CHECK constraints are the last line of defence: stock is
never oversold even if a code path forgot to look.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from rewards.db import BigId, JSONType, Model, UTCDateTime

REDEMPTION_STATUSES = ("completed", "cancelled")
VOUCHER_STATUSES = ("issued", "used", "expired", "cancelled")
CODE_SOURCES = ("generated", "uploaded")


class Perk(Model):
    """One perk of a program, offered by one of its partners."""

    __tablename__ = "perks"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'scheduled', 'active', 'paused', 'ended')", name="status_known"
        ),
        CheckConstraint("current_version >= 1", name="version_positive"),
        CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="window_ordered"),
        CheckConstraint("cost_points > 0", name="cost_positive"),
        CheckConstraint("stock_used >= 0", name="stock_used_not_negative"),
        CheckConstraint(
            "stock_total IS NULL OR stock_used <= stock_total", name="stock_not_oversold"
        ),
        Index("ix_perks_program_id_status", "program_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))  # the title (list filters, audit)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    current_version: Mapped[int] = mapped_column(default=1)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cost_points: Mapped[int] = mapped_column(BigInteger)
    stock_total: Mapped[int | None] = mapped_column(BigInteger)  # None: unlimited
    stock_used: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )


class PerkVersion(Model):
    """The full definition a perk had from one edit to the next (never changed): a
    redemption names the version whose price it paid."""

    __tablename__ = "perk_versions"
    __table_args__ = (
        UniqueConstraint("perk_id", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    perk_id: Mapped[int] = mapped_column(ForeignKey("perks.id"))
    version: Mapped[int]
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())


class Redemption(Model):
    """A cardholder spent `points` on one unit of a perk (the price of `perk_version`); the
    `redeem` ledger entry that took the points is `ledger_entry_id`."""

    __tablename__ = "redemptions"
    __table_args__ = (
        CheckConstraint("status IN ('completed', 'cancelled')", name="status_known"),
        CheckConstraint("points > 0", name="points_positive"),
        # A customer's redemptions of a perk since a period began (per-customer limits).
        Index("ix_redemptions_customer_perk", "customer_id", "perk_id", "created_at"),
        Index("ix_redemptions_perk_id", "perk_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    perk_id: Mapped[int] = mapped_column(ForeignKey("perks.id"))
    perk_version: Mapped[int]
    points: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="completed")
    ledger_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    # What it spent, per expiry of the lots it took from, in the order taken:
    # [["2027-03-01T00:00:00+00:00", 200], [null, 100]]. A cancellation gives each part back
    # as a lot with that expiry, so cancelling never extends (nor shortens) a point's life.
    spent_lots: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VoucherCode(Model):
    """A code a partner uploaded to a perk's pool, waiting to be issued. Stored sealed (for
    display) and as a keyed hash (for look-ups), never in clear. Unique per partner, so a
    code typed at the partner's till names one voucher."""

    __tablename__ = "voucher_codes"
    __table_args__ = (
        UniqueConstraint("partner_id", "code_hash"),
        CheckConstraint("status IN ('available', 'issued')", name="status_known"),
        # The next code to issue: the oldest available one of the perk.
        Index(
            "ix_voucher_codes_available",
            "perk_id",
            "id",
            postgresql_where=text("status = 'available'"),
            sqlite_where=text("status = 'available'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    perk_id: Mapped[int] = mapped_column(ForeignKey("perks.id"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    code_hash: Mapped[str] = mapped_column(String(64))
    code_sealed: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="available")
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())


class Voucher(Model):
    """What a redemption gave the cardholder: a code to show at the partner's till, valid
    until `expires_at`. issued → used (the partner confirms it) | expired | cancelled."""

    __tablename__ = "vouchers"
    __table_args__ = (
        UniqueConstraint("partner_id", "code_hash"),
        CheckConstraint(
            "status IN ('issued', 'used', 'expired', 'cancelled')", name="status_known"
        ),
        CheckConstraint("source IN ('generated', 'uploaded')", name="source_known"),
        Index("ix_vouchers_customer_id", "customer_id", "id"),
        # The expiry job's look-up: issued vouchers by expiry.
        Index(
            "ix_vouchers_issued_expiry",
            "expires_at",
            postgresql_where=text("status = 'issued'"),
            sqlite_where=text("status = 'issued'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    perk_id: Mapped[int] = mapped_column(ForeignKey("perks.id"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    redemption_id: Mapped[int] = mapped_column(ForeignKey("redemptions.id"), unique=True)
    source: Mapped[str] = mapped_column(String(16))
    code_hash: Mapped[str] = mapped_column(String(64))
    code_sealed: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="issued")
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CustomerFeatures(Model):
    """What a cardholder's purchases say about their taste, kept by the feed (one row per
    customer, updated in the chunk's transaction): per category and per partner the purchases
    and net spend, per category and part of the day (program timezone) the purchases, and the
    latest purchase. The catalog ranks perks from this row, never from a scan of purchases."""

    __tablename__ = "customer_features"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    purchases: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # {"dining": [purchases, spend_minor]}; spend net of refunds, never below zero.
    categories: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    partners: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # {"dining|morning": purchases}
    dayparts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    last_purchase_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The latest purchase per partner: {"star-cafe": "2026-11-30T08:12:00+00:00"}
    partner_last_at: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )


class PerkPopularity(Model):
    """Redemptions (not cancelled) of a perk in the last 90 days by one cohort of cardholders,
    recomputed by a scheduled job: `all`, an age band (`18-20`), or an age band and the
    category they buy most (`18-20|dining`: cardholders who shop alike). What similar
    cardholders redeem, and the catalog's cold start."""

    __tablename__ = "perk_popularity"

    perk_id: Mapped[int] = mapped_column(ForeignKey("perks.id"), primary_key=True)
    cohort: Mapped[str] = mapped_column(String(48), primary_key=True)
    redemptions: Mapped[int] = mapped_column(BigInteger, default=0)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
