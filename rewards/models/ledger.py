"""The ledger: one account per customer and the append-only entries it summarises.

An entry's points, kind, key and explanation never change. Two bookkeeping fields do: `state`
moves once from pending to available, and `remaining` on a positive lot falls as spending,
clawbacks and expiry consume it (oldest lot first).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from rewards.db import BigId, JSONType, Model, UTCDateTime

ENTRY_KINDS = (
    "earn",
    "bonus",
    "challenge_reward",
    "adjust",
    "redeem",
    "redemption_refund",
    "clawback",
    "expire",
)


class Account(Model):
    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("pending >= 0", name="pending_not_negative"),
        CheckConstraint("lifetime_earned >= 0", name="lifetime_earned_not_negative"),
        CheckConstraint("lifetime_redeemed >= 0", name="lifetime_redeemed_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), unique=True)
    # May go negative: a refund after the points were spent leaves a documented debt that
    # later earnings repay first.
    available: Mapped[int] = mapped_column(BigInteger, default=0)
    pending: Mapped[int] = mapped_column(BigInteger, default=0)
    lifetime_earned: Mapped[int] = mapped_column(BigInteger, default=0)
    lifetime_redeemed: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )


class LedgerEntry(Model):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("points <> 0", name="points_not_zero"),
        CheckConstraint("remaining >= 0 AND remaining <= points", name="remaining_in_lot"),
        Index("ix_ledger_entries_account_id_desc", "account_id", "id"),
        Index(
            "ix_ledger_entries_pending_release",
            "available_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        Index(
            "ix_ledger_entries_open_lots",
            "account_id",
            "expires_at",
            "id",
            postgresql_where=text("remaining > 0"),
            sqlite_where=text("remaining > 0"),
        ),
        # Refunds sum what earlier clawbacks took from a purchase's lots (processing/refunds).
        Index(
            "ix_ledger_entries_reverses",
            "reverses_entry_id",
            postgresql_where=text("reverses_entry_id IS NOT NULL"),
            sqlite_where=text("reverses_entry_id IS NOT NULL"),
        ),
        # A redemption's `redeem` and `redemption_refund` entries (settlement, reconcile).
        Index(
            "ix_ledger_entries_redemption",
            "source_id",
            postgresql_where=text("source_type = 'redemption'"),
            sqlite_where=text("source_type = 'redemption'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    kind: Mapped[str] = mapped_column(String(24))
    points: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))  # pending, available
    available_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Only on positive entries (lots): points not yet spent, clawed back or expired.
    remaining: Mapped[int | None] = mapped_column(BigInteger)
    source_type: Mapped[str] = mapped_column(String(24))  # transaction, adjustment, expiry...
    source_id: Mapped[int | None] = mapped_column(BigInteger)
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"), index=True)
    # For clawbacks: the lot the points were taken back from.
    reverses_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    explanation: Mapped[dict] = mapped_column(JSONType, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
