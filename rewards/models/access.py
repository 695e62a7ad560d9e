"""Who may call: API keys for processors and partners; the audit log; stored idempotent replies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from rewards.db import BigId, JSONType, Model, UTCDateTime

API_KEY_ROLES = ("processor", "partner")


# A live partner key always acts for a partner; a processor key never does. Unbound partner
# keys exist only revoked: those minted before keys were bound (revoked by migration 0017) and
# those whose partner was deleted (the foreign key sets them unbound, which this check allows
# only once they are revoked, so a partner with live keys cannot be deleted).
PARTNER_BOUND = (
    "(role = 'partner' AND (partner_id IS NOT NULL OR revoked_at IS NOT NULL)) "
    "OR (role <> 'partner' AND partner_id IS NULL)"
)


class ApiKey(Model):
    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(PARTNER_BOUND, name="partner_bound"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    # The partner (of the same program) a partner key acts for; None for processor keys.
    partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("partners.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    # The public part shown in logs and lists; the secret is only stored as a SHA-256 digest
    # (keys are 256-bit random, so a slow password hash adds nothing).
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditLog(Model):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    actor_role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(128))
    before: Mapped[dict | None] = mapped_column(JSONType)
    after: Mapped[dict | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())


class IdempotencyRecord(Model):
    """The first response to a POST sent with an Idempotency-Key, replayed for retries."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("caller", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    caller: Mapped[str] = mapped_column(String(200))  # program + principal
    key: Mapped[str] = mapped_column(String(200))
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[dict] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
