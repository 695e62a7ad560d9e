"""Domain events (the outbox): written in the same transaction as the change they announce;
a delivery job sends them to partners later."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from rewards.db import BigId, JSONType, Model, UTCDateTime


class Event(Model):
    __tablename__ = "events"
    __table_args__ = (
        Index(
            "ix_events_unpublished",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
        Index("ix_events_customer", "customer_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    type: Mapped[str] = mapped_column(String(64))
    # Makes an event idempotent: the same fact announced twice is stored once.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict] = mapped_column(JSONType)
    # The cardholder an event is about (level-ups, tier changes...), for their activity feed.
    customer_id: Mapped[int | None] = mapped_column(BigId)
    # The partner an event is about (its perk, voucher, sponsored challenge): only that
    # partner's webhook endpoints receive it. None: the program's own endpoints may.
    partner_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
