"""Tables of what partners send in: the secret their events are signed with, the links between
their customer ids and our cardholders (made by the cardholder with a one-time code), and
every signed event received, kept so a redelivery gets the first answer again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from rewards.db import BigId, JSONType, Model, UTCDateTime


class PartnerInboundSecret(Model):
    """The `whsec_` secret a partner signs its events with (sealed), and during a rotation's
    overlap the previous one, still accepted until `previous_until`."""

    __tablename__ = "partner_inbound_secrets"

    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    secret_sealed: Mapped[str] = mapped_column(String(200))
    previous_sealed: Mapped[str | None] = mapped_column(String(200))
    previous_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )


class PartnerLinkCode(Model):
    """A one-time code the partner's app shows its customer: whoever claims it in our app links
    their card account to `partner_ref`. Stored only as a keyed hash."""

    __tablename__ = "partner_link_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    partner_ref: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())


class PartnerLink(Model):
    """The partner knows our cardholder `customer_id` as `partner_ref`; one each way."""

    __tablename__ = "partner_links"
    __table_args__ = (
        UniqueConstraint("partner_id", "partner_ref"),
        UniqueConstraint("partner_id", "customer_id"),
        Index("ix_partner_links_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    partner_ref: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())


class InboundEvent(Model):
    """A signed event a partner sent, by its `webhook-id`: applied once, answered alike."""

    __tablename__ = "inbound_events"
    __table_args__ = (UniqueConstraint("partner_id", "webhook_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    webhook_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(64))
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"))
    response_status: Mapped[int]
    response_body: Mapped[dict] = mapped_column(JSONType)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
