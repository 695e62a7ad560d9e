"""Progress milestones of challenge periods for the activity feed: "halfway there".

A purchase that takes a period from below half its target to at least half, without
completing it, is a milestone: a `challenge.progress_milestone` event in the chunk's
transaction, keyed per (customer, challenge, period), so a period has at most one however
often refunds take it back below half and purchases above it again, and a re-run of the
chunk writes nothing new. Half is rounded up (2 of 3, 3 of 5, ¥25,000 of ¥50,000); a target
of 1 has no halfway point (its first purchase completes it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from campaigns.challenges.feed.compiled import CompiledChallenge
from campaigns.challenges.wording import money
from rewards.db import db, dialect_insert, is_postgres, json_rows
from rewards.models import Event

MILESTONE = "challenge.progress_milestone"


def halfway(target: int) -> int:
    """The value at which a period is halfway to `target` (rounded up)."""
    return (target + 1) // 2


def reached(before: int, after: int, target: int) -> bool:
    """Whether going from `before` to `after` passes halfway without completing."""
    half = halfway(target)
    return target > 1 and before < half <= after < target


def milestone_event(
    *,
    program_id: int,
    customer_id: int,
    challenge: CompiledChallenge,
    period: str,
    value: int,
    target: int,
    currency: str,
) -> dict[str, Any]:
    """The event row of one period passing halfway."""
    if challenge.goal.type == "spend":
        done = f"{money(value, currency)} of {money(target, currency)}"
    else:
        done = f"{value} of {target}"
    return {
        "program_id": program_id,
        "customer_id": customer_id,
        "type": MILESTONE,
        "key": f"chl-half:{customer_id}:{challenge.id}:{period}",
        "payload": {
            "challenge_id": challenge.id,
            "challenge_name": challenge.name,
            "period": period,
            "milestone": "halfway",
            "value": value,
            "target": target,
            "summary": f"Halfway there: {challenge.name} ({done})",
        },
    }


def write_milestones(rows: list[dict[str, Any]]) -> None:
    """Insert the milestone events (one statement on PostgreSQL, however many: a chunk may
    pass halfway in tens of thousands of periods); one already stored (a re-run) is left."""
    if not rows:
        return
    if is_postgres():
        db.session.execute(_INSERT_EVENTS, {"rows": json_rows(rows)})
        return
    for start in range(0, len(rows), 500):  # SQLite's limit on bound parameters
        stmt = dialect_insert(Event).values(rows[start : start + 500])
        db.session.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))


_INSERT_EVENTS = text(
    "INSERT INTO events (program_id, customer_id, type, key, payload) "
    "SELECT v.program_id, v.customer_id, v.type, v.key, v.payload "
    "FROM json_to_recordset(CAST(:rows AS json)) AS v(program_id bigint, customer_id bigint, "
    "type text, key text, payload jsonb) "
    "ON CONFLICT (key) DO NOTHING"
)
