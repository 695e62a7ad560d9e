"""Challenges as a marketer resource: the `CHALLENGES` kind of `campaigns.resources`.

Definitions are checked by `campaigns.challenges.definition` with the shared condition language
for `conditions` and `audience`; what a validator cannot see alone is checked here against
the program's rows: the reward's badge, the sponsor partner and the audience's segment. Once a
challenge has been live, what keys its progress (goal type and unit, window type and period)
no longer changes: progress rows of the old shape would be read as the new one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from campaigns.audiences.segments import segment_exists
from campaigns.challenges.definition import validate_challenge
from campaigns.challenges.models import Badge, Challenge, ChallengeVersion
from campaigns.resources import LIFECYCLE_FILTERS, Item, Kind, Versions
from campaigns.rules import section_validator
from rewards.db import db
from rewards.errors import Conflict, InvalidInput
from rewards.models import Partner, Program

INVALID = "The challenge definition is not valid; see errors."
# What progress rows are keyed and measured by: fixed once a challenge has been live.
SHAPE = (("goal", "type"), ("goal", "unit"), ("window", "type"), ("window", "period"))


def validate(raw: Any, program: Program) -> dict[str, Any]:
    """The normalised challenge definition for `program`, or InvalidInput naming every path."""
    shared = section_validator(excluded_mccs=program.excluded_mccs or ())
    return validate_challenge(raw, shared_sections=shared)


def mirror(row: Challenge, values: dict[str, Any]) -> None:
    """Copy name, goal type and window onto the row (list filters and the feed read these)."""
    window = values["window"]
    row.name = values["name"]
    row.goal_type = values["goal"]["type"]
    row.period = window.get("period")
    row.starts_at = datetime.fromisoformat(window["starts_at"])
    ends_at = window["ends_at"]
    row.ends_at = datetime.fromisoformat(ends_at) if ends_at else None


def check(program_id: int, values: dict[str, Any], current: Item | None) -> None:
    """The badge, sponsor and segment named exist in this program; a challenge that has
    been live keeps its shape (409 naming the field)."""
    if current is not None and current.row.status != "draft":
        _keep_shape(current.version.definition, values)
    errors: dict[str, list[str]] = {}
    badge_id = values["reward"].get("badge_id")
    kept = current is not None and current.version.definition["reward"].get("badge_id")
    if badge_id is not None and badge_id != kept:  # a badge retired since may stay named
        problem = _badge_problem(program_id, badge_id)
        if problem:
            errors["reward.badge_id"] = [problem]
    sponsor = values.get("sponsor")
    if sponsor is not None and not _partner_exists(program_id, sponsor):
        errors["sponsor"] = ["No partner with this code in the program."]
    segment_id = values["audience"].get("segment_id")
    if segment_id is not None and not segment_exists(program_id, segment_id):
        errors["audience.segment_id"] = ["No such segment in this program."]
    if errors:
        raise InvalidInput(INVALID, errors=errors)


CHALLENGES = Kind(
    name="challenge",
    model=Challenge,
    validate=validate,
    mirror=mirror,
    versions=Versions(ChallengeVersion, parent="challenge_id"),
    lifecycle=True,
    filters=LIFECYCLE_FILTERS,
    check=check,
)


def challenges_rewarding(program_id: int, badge_id: int) -> list[Challenge]:
    """The program's challenges not ended (as stored) whose current version awards the badge."""
    stmt = (
        select(Challenge, ChallengeVersion.definition)
        .join(
            ChallengeVersion,
            (ChallengeVersion.challenge_id == Challenge.id)
            & (ChallengeVersion.version == Challenge.current_version),
        )
        .where(Challenge.program_id == program_id, Challenge.status != "ended")
        .order_by(Challenge.id)
    )
    return [
        row
        for row, definition in db.session.execute(stmt)
        if (definition.get("reward") or {}).get("badge_id") == badge_id
    ]


def _keep_shape(old: dict[str, Any], new: dict[str, Any]) -> None:
    for section, key in SHAPE:
        before, after = old[section].get(key), new[section].get(key)
        if before != after:
            raise Conflict(
                f"{section}.{key} cannot change once the challenge has been live "
                f"(was {before!r}); end it and create a new one.",
                field=f"{section}.{key}",
            )


def _badge_problem(program_id: int, badge_id: int) -> str | None:
    """Why the challenge cannot award this badge, or None."""
    badge = db.session.scalar(
        select(Badge).where(Badge.id == badge_id, Badge.program_id == program_id)
    )
    if badge is None:
        return "No such badge in this program."
    if badge.status == "retired":
        return "This badge is retired."
    kind = (badge.criteria or {}).get("type")
    if kind != "challenge":
        return f"This badge is awarded by a milestone ({kind}), not by challenges."
    return None


def _partner_exists(program_id: int, code: str) -> bool:
    stmt = select(Partner.id).where(Partner.program_id == program_id, Partner.code == code)
    return db.session.scalar(stmt) is not None
