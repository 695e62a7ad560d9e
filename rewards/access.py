"""API keys for processors and partners: minted once, stored hashed, program-scoped, revocable.

A partner key is bound to one partner of its program, named by code when it is minted; it
acts for that partner only while the partner is active.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update

from rewards import audit
from rewards.db import db
from rewards.errors import InvalidInput, NotFound
from rewards.models import ApiKey, Partner, Program
from rewards.models.access import API_KEY_ROLES
from rewards.pan import mask_pans

KEY_MARK = "rwk"


@dataclass(frozen=True)
class MintedKey:
    """A freshly created key; `secret` is the only time the full key exists in clear."""

    record: ApiKey
    secret: str
    partner_code: str | None = None  # the partner a partner key acts for


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _partner_to_bind(program_id: int, role: str, partner_code: str | None) -> Partner | None:
    """The partner a new key of `role` acts for: a partner key names an active partner of its
    program by code, a processor key names none (InvalidInput naming `partner` otherwise)."""
    if role != "partner":
        if partner_code is not None:
            raise InvalidInput("Only partner keys act for a partner.", field="partner")
        return None
    if partner_code is None:
        raise InvalidInput("A partner key must name its partner's code.", field="partner")
    partner = db.session.scalar(
        select(Partner).where(Partner.program_id == program_id, Partner.code == partner_code)
    )
    if partner is None or partner.status != "active":
        # The code is not echoed: it is caller input, and unknown and inactive look alike.
        raise InvalidInput("No active partner of this program has this code.", field="partner")
    return partner


def mint_api_key(
    *,
    program: Program,
    role: str,
    name: str,
    created_by: str | None,
    partner_code: str | None = None,
) -> MintedKey:
    """Create a key `rwk_<prefix>_<secret>` for `program` with `role` (processor or partner);
    a partner key acts for the program's active partner `partner_code`."""
    if role not in API_KEY_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(API_KEY_ROLES)}", field="role")
    partner = _partner_to_bind(program.id, role, partner_code)
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    record = ApiKey(
        program_id=program.id,
        role=role,
        partner_id=partner.id if partner else None,
        name=mask_pans(name),  # a label for people: a card number typed into it is masked
        prefix=prefix,
        secret_hash=_digest(secret),
        scopes=[role],
        created_by=created_by,
    )
    db.session.add(record)
    db.session.flush()
    return MintedKey(
        record=record,
        secret=f"{KEY_MARK}_{prefix}_{secret}",
        partner_code=partner.code if partner else None,
    )


def verify_api_key(presented: str) -> ApiKey | None:
    """The live key matching `presented`, or None. Constant-time on the secret."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_MARK:
        return None
    _, prefix, secret = parts
    record = db.session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if record is None or record.revoked_at is not None:
        return None
    if not hmac.compare_digest(record.secret_hash, _digest(secret)):
        return None
    return record


def acting_partner_id(record: ApiKey) -> int | None:
    """The partner a live partner key acts for, or None if the key is bound to none (minted
    before keys were bound) or its partner is inactive, or (never expected) of another program.
    Deactivating a partner suspends its keys; reactivating it restores them."""
    if record.partner_id is None:
        return None
    return db.session.scalar(
        select(Partner.id).where(
            Partner.id == record.partner_id,
            Partner.program_id == record.program_id,
            Partner.status == "active",
        )
    )


def touch_api_key(key_id: int) -> None:
    """Record use, at most once a minute per key so hot paths do not write on every call.

    Written in its own short transaction: a read-only request (which never commits) or one
    that fails still counts as use.
    """
    now = datetime.now(UTC)
    with db.engine.begin() as connection:
        connection.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .where((ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < now.replace(second=0)))
            .values(last_used_at=now)
        )


def revoke_api_key(*, key_id: int, actor: str) -> ApiKey:
    """Revoke a key; calls with it fail from the next request on. Audited."""
    key = db.session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"API key {key_id} not found")
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        audit.record(
            program_id=key.program_id,
            actor=actor,
            actor_role="admin",
            action="api_key.revoke",
            object_type="api_key",
            object_id=key.id,
            before={"revoked": False},
            after={"revoked": True},
        )
    return key
