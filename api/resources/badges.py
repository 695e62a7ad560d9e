"""Marketer: badges of the caller's program — what they look like and what awards them.

Bodies are checked by `campaigns.challenges.badges.validate_badge` (every problem at once, by
its path: `criteria.count`, `image_url`); the schemas here document them and shape responses.
Badges are unversioned; the views are the standard ones of a marketer resource
(`api.resources.marketer`), and DELETE is refused while a challenge that is not over awards the
badge or once customers hold it.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from api.fields import UtcDateTime
from api.resources.marketer import CheckedByService, MarketerResource, register
from campaigns.challenges.badges import BADGES, CRITERIA
from campaigns.challenges.models import BADGE_STATUSES
from campaigns.resources import Item

blp = Blueprint(
    "badges",
    __name__,
    url_prefix="/v1",
    description="Marketer: badges (collectibles awarded by challenges and milestones).",
)


class BadgeCriteriaSchema(ma.Schema):
    """Exactly one of: `{"type": "challenge"}` (awarded by challenges whose reward names it),
    `{"type": "first_purchase"}`, `{"type": "distinct_partners", "count": N}`,
    `{"type": "streak_days", "days": N}`, `{"type": "lifetime_points", "points": X}`."""

    type = ma.fields.String(metadata={"enum": list(CRITERIA)})
    count = ma.fields.Integer(
        metadata={"minimum": 1, "maximum": 1000, "description": "distinct_partners only"}
    )
    days = ma.fields.Integer(
        metadata={"minimum": 1, "maximum": 366, "description": "streak_days only"}
    )
    points = ma.fields.Integer(metadata={"minimum": 1, "description": "lifetime_points only"})


class BadgeBodySchema(ma.Schema):
    name = ma.fields.String(metadata={"example": "Coffee Lover"})
    description = ma.fields.String(allow_none=True)
    image_url = ma.fields.String(
        allow_none=True,
        metadata={"format": "uri", "pattern": "^https://", "example": "https://cdn.example/b.png"},
    )
    criteria = ma.fields.Nested(BadgeCriteriaSchema)
    status = ma.fields.String(
        metadata={
            "enum": list(BADGE_STATUSES),
            "default": "draft",
            "description": "Only active badges are awarded and shown to cardholders",
        }
    )


class BadgeCreateSchema(CheckedByService, BadgeBodySchema):
    name = ma.fields.String(required=True, metadata={"example": "Coffee Lover"})
    criteria = ma.fields.Nested(BadgeCriteriaSchema, required=True)


class BadgeUpdateSchema(CheckedByService, BadgeBodySchema):
    """A JSON Merge Patch (RFC 7396): `criteria` merges key by key, so switching its type
    removes the old parameter with null (`{"criteria": {"type": "first_purchase",
    "count": null}}`)."""


class BadgeSchema(BadgeBodySchema):
    id = ma.fields.Integer()
    created_by = ma.fields.String()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class BadgePageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(BadgeSchema))
    next_cursor = ma.fields.String(allow_none=True)


def badge_dict(item: Item) -> dict[str, Any]:
    badge = item.row
    return {
        "id": badge.id,
        **BADGES.definition(item),
        "created_by": badge.created_by,
        "created_at": badge.created_at,
        "updated_at": badge.updated_at,
    }


register(
    blp,
    MarketerResource(
        kind=BADGES,
        plural="badges",
        noun="Badge",
        schema=BadgeSchema,
        page_schema=BadgePageSchema,
        create_schema=BadgeCreateSchema,
        update_schema=BadgeUpdateSchema,
        present=badge_dict,
        summaries={
            "list": "List the program's badges, newest first",
            "create": "Create a badge (a draft unless status says otherwise)",
            "get": "Read a badge",
            "update": "Change a badge (merge patch)",
            "delete": "Delete a badge; 409 while a challenge that is not over awards it or "
            "once customers hold it (retire it instead)",
        },
    ),
)
