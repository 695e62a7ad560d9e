"""A program's XP rules and level ladder, as the marketer reads and replaces them (audited).

A change applies from each customer's next processed transaction: the feed recomputes that
customer's XP and level then (see `campaigns.levels.feed`); nothing is rewritten in bulk.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from campaigns.levels.models import Level
from campaigns.levels.rules import DEFAULT_RULES, validate_config
from rewards.audit import record
from rewards.db import db
from rewards.errors import InvalidInput
from rewards.models import Customer, Program
from rewards.programs import lock_rules


def level_config(*, program_id: int) -> dict[str, Any]:
    """The program's XP rules (stored values over the defaults) and its ladder, level 1 first."""
    program = db.session.get_one(Program, program_id)
    ladder = db.session.scalars(
        select(Level).where(Level.program_id == program_id).order_by(Level.level)
    )
    return {
        "xp_rules": {**DEFAULT_RULES, **(program.xp_rules or {})},
        "levels": [{"level": row.level, "xp": row.xp, "name": row.name} for row in ladder],
    }


def replace_level_config(
    *, program_id: int, raw: Any, actor: str, actor_role: str
) -> dict[str, Any]:
    """Replace the program's XP rules and ladder with `raw`, or raise `InvalidInput` naming
    every bad path (nothing stored). Waits for feed chunks using the old ones (rules lock)."""
    rules, ladder, errors = validate_config(raw)
    if errors:
        raise InvalidInput("The XP rules or levels are not valid.", errors=errors)
    lock_rules(program_id)
    before = level_config(program_id=program_id)
    program = db.session.get_one(Program, program_id)
    program.xp_rules = rules
    db.session.execute(delete(Level).where(Level.program_id == program_id))
    db.session.add_all(Level(program_id=program_id, **row) for row in ladder)
    db.session.flush()
    after = level_config(program_id=program_id)
    record(
        program_id=program_id,
        actor=actor,
        actor_role=actor_role,
        action="levels.replace",
        object_type="levels",
        object_id=program_id,
        before=before,
        after=after,
    )
    return after


def level_progress(customer: Customer) -> dict[str, Any]:
    """The customer's level and XP, the next level of the program's ladder and the XP still
    needed for it (None at the top, or without a ladder)."""
    above = db.session.scalar(
        select(Level)
        .where(Level.program_id == customer.program_id, Level.level > customer.level)
        .order_by(Level.level)
        .limit(1)
    )
    return {
        "level": customer.level,
        "xp": customer.xp,
        "next_level": above.level if above else None,
        "xp_to_next_level": max(0, above.xp - customer.xp) if above else None,
    }
