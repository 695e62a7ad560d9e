"""The audit log: who changed what, with the state before and after, written in the same
transaction as the change it describes (so a rolled-back change leaves no audit row)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from rewards.db import db
from rewards.models import AuditLog, Program
from rewards.pan import mask_pans


def record(
    *,
    program_id: int | None,
    actor: str,
    actor_role: str,
    action: str,
    object_type: str,
    object_id: str | int,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    """Add one audit row (flushed, so its id is known); the caller's entry point commits."""
    row = AuditLog(
        program_id=program_id,
        actor=mask_pans(actor),
        actor_role=actor_role,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=masked_json(before),
        after=masked_json(after),
    )
    db.session.add(row)
    db.session.flush()
    return row


def masked_json(value: Any) -> Any:
    """A JSON-ready value with card numbers masked in every string (keys included).

    The services mask or refuse card numbers at the door; this keeps the audit log clean of
    any that a path without such a door (a CLI, a future import) lets through.
    """
    if isinstance(value, str):
        return mask_pans(value)
    if isinstance(value, dict):
        return {masked_json(key): masked_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [masked_json(item) for item in value]
    return value


@dataclass(frozen=True)
class AuditLine:
    """One audit row as the read API shows it, with its program's slug."""

    row: AuditLog
    program_slug: str | None


@dataclass(frozen=True)
class AuditPage:
    """A newest-first page; `last_id` is set when more rows follow."""

    lines: list[AuditLine]
    last_id: int | None


def audit_page(
    *,
    program_id: int | None,
    limit: int,
    before_id: int | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
) -> AuditPage:
    """Audit rows newest first; `program_id=None` means every program (admins)."""
    stmt = (
        select(AuditLog, Program.slug)
        .outerjoin(Program, Program.id == AuditLog.program_id)
        .order_by(AuditLog.id.desc())
        .limit(limit + 1)
    )
    if program_id is not None:
        stmt = stmt.where(AuditLog.program_id == program_id)
    if before_id is not None:
        stmt = stmt.where(AuditLog.id < before_id)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    if object_type:
        stmt = stmt.where(AuditLog.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditLog.object_id == object_id)
    rows = db.session.execute(stmt).all()
    lines = [AuditLine(row=row, program_slug=slug) for row, slug in rows[:limit]]
    more = len(rows) > limit
    return AuditPage(lines=lines, last_id=lines[-1].row.id if more else None)
