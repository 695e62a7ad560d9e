"""Issuing and listing processor/partner API keys on behalf of an admin, with an audit trail.

Partner keys are shown with their partner's code (null for processor keys).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from rewards.access import MintedKey, mint_api_key
from rewards.audit import record
from rewards.db import db
from rewards.models import ApiKey, Partner, Program
from rewards.programs import get_program


def describe(record: ApiKey, partner_code: str | None) -> dict[str, Any]:
    """The key's public facts (never the secret or its hash), JSON-ready for the audit log."""
    return {
        "prefix": record.prefix,
        "name": record.name,
        "role": record.role,
        "partner": partner_code,
    }


def issue_api_key(
    *, program_slug: str, role: str, name: str, actor: str, partner_code: str | None = None
) -> MintedKey:
    """Mint a key for the program (a partner key for its active partner `partner_code`); the
    returned secret is shown once and never stored."""
    program = get_program(program_slug)
    minted = mint_api_key(
        program=program, role=role, name=name, created_by=actor, partner_code=partner_code
    )
    record(
        program_id=program.id,
        actor=actor,
        actor_role="admin",
        action="api_key.create",
        object_type="api_key",
        object_id=str(minted.record.id),
        before=None,
        after=describe(minted.record, minted.partner_code),
    )
    return minted


def list_api_keys(
    *, program_slug: str | None, limit: int, after_id: int | None = None
) -> list[tuple[ApiKey, str, str | None]]:
    """Keys (with their program's slug and their partner's code) by id, optionally of one
    program."""
    stmt = (
        select(ApiKey, Program.slug, Partner.code)
        .join(Program, Program.id == ApiKey.program_id)
        .outerjoin(Partner, Partner.id == ApiKey.partner_id)
        .order_by(ApiKey.id)
        .limit(limit)
    )
    if program_slug is not None:
        stmt = stmt.where(ApiKey.program_id == get_program(program_slug).id)
    if after_id is not None:
        stmt = stmt.where(ApiKey.id > after_id)
    return [(key, slug, code) for key, slug, code in db.session.execute(stmt)]
