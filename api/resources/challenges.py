"""Marketer: challenges of the caller's program — definitions, versions, lifecycle.

Bodies are checked by `campaigns.challenges.definition` with the shared condition language
(every problem at once, by its path: `goal.target`, `conditions.mccs.0`, `reward.badge_id`);
the schemas here document them and shape responses. The views are the standard ones of a
marketer resource (`api.resources.marketer`), exactly as campaigns have them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from api.fields import UtcDateTime
from api.resources.campaigns import AudienceSchema, ConditionsSchema
from api.resources.marketer import (
    CheckedByService,
    MarketerResource,
    register,
    versioned_item,
)
from campaigns.challenges.definition import JOIN_MODES
from campaigns.challenges.goals import GOAL_TYPES, STREAK_UNITS
from campaigns.challenges.models import CHALLENGE_STATUSES
from campaigns.challenges.service import CHALLENGES
from campaigns.challenges.windows import FIXED, MONTH, RECURRING, WEEK
from campaigns.resources import Item

blp = Blueprint(
    "challenges",
    __name__,
    url_prefix="/v1",
    description="Marketer: challenges (goals cardholders chase), their versions and lifecycle.",
)


class GoalSchema(ma.Schema):
    type = ma.fields.String(metadata={"enum": list(GOAL_TYPES)})
    target = ma.fields.Integer(
        metadata={
            "minimum": 1,
            "description": "Purchases (count), minor units (spend), distinct merchants or "
            "categories, or streak length in `unit`",
        }
    )
    unit = ma.fields.String(
        metadata={"enum": list(STREAK_UNITS), "description": "Streak goals only"}
    )


class WindowSchema(ma.Schema):
    """Fixed dates, or recurring periods (ISO weeks / calendar months in the program's
    timezone) that reset at each boundary."""

    type = ma.fields.String(metadata={"enum": [FIXED, RECURRING]})
    period = ma.fields.String(
        metadata={"enum": [WEEK, MONTH], "description": "Recurring windows only"}
    )
    starts_at = ma.fields.String(
        metadata={"format": "date-time", "example": "2026-04-01T00:00:00Z"}
    )
    ends_at = ma.fields.String(allow_none=True, metadata={"format": "date-time"})


class RewardSchema(ma.Schema):
    points = ma.fields.Integer(
        metadata={"minimum": 0, "description": "challenge_reward points, once per period"}
    )
    badge_id = ma.fields.Integer(
        metadata={"minimum": 1, "description": "A badge of the program with criteria challenge"}
    )
    xp = ma.fields.Integer(metadata={"minimum": 0})


class ChallengeDefinitionSchema(ma.Schema):
    name = ma.fields.String(metadata={"example": "Three coffees a week"})
    description = ma.fields.String(allow_none=True)
    goal = ma.fields.Nested(GoalSchema)
    window = ma.fields.Nested(WindowSchema)
    join = ma.fields.String(
        metadata={
            "enum": list(JOIN_MODES),
            "default": "automatic",
            "description": "opt_in: only purchases after joining count",
        }
    )
    repeatable = ma.fields.Boolean(
        metadata={"default": False, "description": "Completable once per recurring period"}
    )
    reward = ma.fields.Nested(RewardSchema)
    sponsor = ma.fields.String(
        allow_none=True, metadata={"description": "Code of a partner of the program"}
    )
    priority = ma.fields.Integer(metadata={"minimum": 0, "maximum": 1000, "default": 100})
    conditions = ma.fields.Nested(
        ConditionsSchema, metadata={"description": "Which purchases qualify (as campaigns)"}
    )
    audience = ma.fields.Nested(AudienceSchema)


class ChallengeCreateSchema(CheckedByService, ChallengeDefinitionSchema):
    name = ma.fields.String(required=True, metadata={"example": "Three coffees a week"})
    goal = ma.fields.Nested(GoalSchema, required=True)
    window = ma.fields.Nested(WindowSchema, required=True)


class ChallengeUpdateSchema(CheckedByService, ChallengeDefinitionSchema):
    """A JSON Merge Patch (RFC 7396) of the definition: objects merge, null removes a key.
    Once live, goal type and unit and window type and period no longer change (409)."""


class ChallengeSchema(ChallengeDefinitionSchema):
    id = ma.fields.Integer()
    status = ma.fields.String(
        metadata={
            "enum": list(CHALLENGE_STATUSES),
            "description": "Effective now (follows the window)",
        }
    )
    version = ma.fields.Integer(metadata={"description": "The current version"})
    participants = ma.fields.Integer(metadata={"description": "Customers with any progress"})
    completions = ma.fields.Integer(metadata={"description": "Completions not revoked"})
    created_by = ma.fields.String()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


def challenge_dict(item: Item, now: datetime | None = None) -> dict[str, Any]:
    """The challenge as the API shows it: current definition, effective status, counters."""
    row = item.row
    return versioned_item(item, now, participants=row.participants, completions=row.completions)


register(
    blp,
    MarketerResource.versioned(
        definition=ChallengeDefinitionSchema,
        parent="challenge_id",
        kind=CHALLENGES,
        plural="challenges",
        noun="Challenge",
        schema=ChallengeSchema,
        create_schema=ChallengeCreateSchema,
        update_schema=ChallengeUpdateSchema,
        present=challenge_dict,
        created="Created as a draft",
        summaries={
            "list": "List the program's challenges, newest first (filter by status and day)",
            "create": "Create a challenge: a draft at version 1",
            "get": "Read a challenge: current definition, status, version and counters",
            "update": "Change a challenge (merge patch); live challenges get a new version, "
            "ended ones are 409",
            "versions": "List a challenge's versions, newest first",
            "version": "Read one version of a challenge's definition",
            "activate": "Activate a draft or paused challenge: scheduled until its start, then "
            "active",
            "pause": "Pause a scheduled or active challenge (nothing counts until activated again)",
            "end": "End a challenge for good (it can no longer be edited, resumed or joined)",
        },
    ),
)
