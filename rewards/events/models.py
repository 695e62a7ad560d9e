"""Webhook tables: the endpoints partners (and the program itself) register, one delivery per
(endpoint, event) fanned out from the outbox, and every attempt at sending it.

An endpoint's signing secret must be usable to sign, so it is stored sealed (`rewards.sealing`),
never in clear. During a rotation's overlap the previous secret signs too, until
`previous_secret_until`. `lease_until` makes one worker at a time the sender of an endpoint, so
its events go out in order and a crashed worker's lease simply runs out.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from rewards.db import BigId, JSONType, Model, UTCDateTime

DELIVERY_STATUSES = ("pending", "delivered", "failed")


class WebhookEndpoint(Model):
    """A URL that receives the events it subscribes to; `partner_id` None: the program's own."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_owner", "program_id", "partner_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(500), default="")
    event_types: Mapped[list[str]] = mapped_column(JSONType, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    # Why the platform disabled it ("410 Gone", "failing since ..."); None when enabled.
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    secret_sealed: Mapped[str] = mapped_column(String(200))
    previous_secret_sealed: Mapped[str | None] = mapped_column(String(200))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # First failure of the current run of failures; cleared by a success.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )


class WebhookDelivery(Model):
    """One event to one endpoint: pending until a 2xx (delivered) or the schedule's end (failed)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status_known"),
        # The sender's question: this endpoint's oldest pending delivery.
        Index(
            "ix_webhook_deliveries_pending",
            "endpoint_id",
            "event_id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_webhook_deliveries_log", "program_id", "partner_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # Attempts in the current schedule (a replay starts a new one; the log keeps them all).
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
    last_latency_ms: Mapped[int | None]
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )


class WebhookAttempt(Model):
    """One HTTP exchange of a delivery, as the delivery log shows it."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    # Indexed: /metrics reads the last hour's attempts.
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status_code: Mapped[int | None]
    latency_ms: Mapped[int]
    error: Mapped[str | None] = mapped_column(String(200))
    # The start of the receiver's answer, card numbers masked (it is text from outside).
    response_excerpt: Mapped[str] = mapped_column(String(1024), default="")
