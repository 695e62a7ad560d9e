"""Card transactions as the processor sent them, and the batches (submissions) they came in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from rewards.db import BigId, JSONType, Model, UTCDateTime

TRANSACTION_KINDS = ("purchase", "refund", "reversal")
TRANSACTION_STATUSES = (
    "received",  # stored, waiting for a worker
    "processed",  # points (or clawbacks) written
    "unmatched",  # card not enrolled yet; picked up when it is
    "waiting_for_original",  # refund/reversal whose purchase has not been processed yet
    "rejected",  # failed a business rule at processing time (reason says which)
    "excluded",  # excluded MCC: stored for history, never earns
)
CHANNELS = ("in_store", "online", "contactless")


class Batch(Model):
    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    source: Mapped[str] = mapped_column(String(16))  # api, file, marqeta, cli
    filename: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(
        String(16), default="receiving"
    )  # receiving, queued, failed
    received_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    accepted: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicates: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BatchRejection(Model):
    """One rejected row of a batch: its 0-based index and the field-level messages."""

    __tablename__ = "batch_rejections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    row_index: Mapped[int] = mapped_column(BigInteger)
    errors: Mapped[dict] = mapped_column(JSONType)


class Transaction(Model):
    __tablename__ = "transactions"
    __table_args__ = (
        UniqueConstraint("program_id", "external_id"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= amount_minor", name="refund_range"
        ),
        # Status changes once per row; partial indexes on the waiting states keep that update
        # from touching them, so processing a row maintains as few index entries as possible.
        Index(
            "ix_transactions_received",
            "received_at",
            postgresql_where=text("status = 'received'"),
            sqlite_where=text("status = 'received'"),
        ),
        Index(
            "ix_transactions_unmatched",
            "program_id",
            "card_token",
            postgresql_where=text("status = 'unmatched'"),
            sqlite_where=text("status = 'unmatched'"),
        ),
        Index("ix_transactions_batch_id", "batch_id"),
        Index(
            "ix_transactions_waiting_original",
            "program_id",
            "original_external_id",
            postgresql_where=text("status = 'waiting_for_original'"),
            sqlite_where=text("status = 'waiting_for_original'"),
        ),
        Index(
            "ix_transactions_purchase_lookup",
            "program_id",
            "card_token",
            "merchant_id",
            "occurred_at",
            postgresql_where=text("kind = 'purchase'"),
            sqlite_where=text("kind = 'purchase'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    external_id: Mapped[str] = mapped_column(String(128))
    card_token: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    mcc: Mapped[str] = mapped_column(String(4))
    category: Mapped[str | None] = mapped_column(String(32))
    merchant_id: Mapped[str | None] = mapped_column(String(64))
    merchant_name: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str | None] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    original_external_id: Mapped[str | None] = mapped_column(String(128))
    # Resolved at processing time: the purchase a refund/reversal applies to.
    original_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"))
    status: Mapped[str] = mapped_column(String(24), default="received")
    reason: Mapped[str | None] = mapped_column(String(200))
    # On purchases: how much of the amount refunds and reversals have taken back so far.
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "card" (the processor's feed) or "partner" (a signed event from a partner's own app or
    # shop, `rewards.events.inbound`): partner purchases earn only through campaigns with a
    # `partner_event` condition and name their customer and partner directly.
    source: Mapped[str] = mapped_column(String(16), default="card", server_default="card")
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
