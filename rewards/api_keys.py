"""Issuing and listing processor/partner API keys on behalf of an admin, with an audit trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from rewards.access import MintedKey, mint_api_key
from rewards.audit import record
from rewards.db import db
from rewards.models import ApiKey, Program
from rewards.programs import get_program


def describe(record: ApiKey) -> dict[str, Any]:
    """The key's public facts (never the secret or its hash), JSON-ready for the audit log."""
    return {"prefix": record.prefix, "name": record.name, "role": record.role}


def issue_api_key(*, program_slug: str, role: str, name: str, actor: str) -> MintedKey:
    """Mint a key for the program; the returned secret is shown once and never stored."""
    program = get_program(program_slug)
    minted = mint_api_key(program=program, role=role, name=name, created_by=actor)
    record(
        program_id=program.id,
        actor=actor,
        actor_role="admin",
        action="api_key.create",
        object_type="api_key",
        object_id=str(minted.record.id),
        before=None,
        after=describe(minted.record),
    )
    return minted


def list_api_keys(
    *, program_slug: str | None, limit: int, after_id: int | None = None
) -> list[tuple[ApiKey, str]]:
    """Keys (with their program's slug) by id, optionally of one program."""
    stmt = (
        select(ApiKey, Program.slug)
        .join(Program, Program.id == ApiKey.program_id)
        .order_by(ApiKey.id)
        .limit(limit)
    )
    if program_slug is not None:
        stmt = stmt.where(ApiKey.program_id == get_program(program_slug).id)
    if after_id is not None:
        stmt = stmt.where(ApiKey.id > after_id)
    return [(key, slug) for key, slug in db.session.execute(stmt)]
