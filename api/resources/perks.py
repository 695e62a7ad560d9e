"""Marketer: perks of the caller's program — what cardholders can spend points on.

Bodies are checked by `campaigns.perks.validate_perk` (every problem at once, by its path:
`limit.per`, `cost_points`) and against the program's rows (partner, tier, stock already
redeemed); the schemas here document them and shape responses. Perks are versioned and have
the lifecycle of campaigns: a live perk's edit is a new version, and a redemption records the
version whose price it paid. The views are the standard ones of a marketer resource
(`api.resources.marketer`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from api.fields import UtcDateTime
from api.resources.marketer import (
    CheckedByService,
    LifecycleQueryArgsSchema,
    MarketerResource,
    TransitionSchema,
    register,
)
from campaigns.lifecycle import STATUSES, effective_status
from campaigns.perks import LIMIT_PERIODS, PERKS
from campaigns.resources import Item
from rewards.mcc import CATEGORIES
from rewards.perks.models import PerkVersion

blp = Blueprint(
    "perks",
    __name__,
    url_prefix="/v1",
    description="Marketer: perks (what cardholders spend points on, from partner brands).",
)


class PerkLimitSchema(ma.Schema):
    """How often one cardholder may redeem the perk."""

    count = ma.fields.Integer(metadata={"minimum": 1, "maximum": 1000})
    per = ma.fields.String(metadata={"enum": list(LIMIT_PERIODS)})


class PerkDefinitionSchema(ma.Schema):
    title = ma.fields.String(metadata={"example": "Free coffee", "maxLength": 120})
    description = ma.fields.String(allow_none=True, metadata={"maxLength": 2000})
    image_url = ma.fields.String(
        allow_none=True,
        metadata={"format": "uri", "pattern": "^https://", "example": "https://cdn.example/p.png"},
    )
    category = ma.fields.String(allow_none=True, metadata={"enum": list(CATEGORIES)})
    partner = ma.fields.String(
        metadata={"description": "An active partner's code; fixed once the perk has been live"}
    )
    cost_points = ma.fields.Integer(metadata={"minimum": 1, "maximum": 10**9})
    stock = ma.fields.Integer(
        allow_none=True,
        metadata={
            "minimum": 0,
            "maximum": 10**9,
            "description": "Units ever offered (null: unlimited); not below those redeemed",
        },
    )
    limit = ma.fields.Nested(
        PerkLimitSchema, allow_none=True, metadata={"description": "Per cardholder; null: none"}
    )
    starts_at = ma.fields.String(
        metadata={"format": "date-time", "description": "Default: when created"}
    )
    ends_at = ma.fields.String(allow_none=True, metadata={"format": "date-time"})
    min_age = ma.fields.Integer(allow_none=True, metadata={"minimum": 0, "maximum": 120})
    min_tier = ma.fields.String(
        allow_none=True, metadata={"description": "A tier code of the program (GET /v1/tiers)"}
    )


class PerkCreateSchema(CheckedByService, PerkDefinitionSchema):
    title = ma.fields.String(required=True, metadata={"example": "Free coffee"})
    partner = ma.fields.String(required=True, metadata={"example": "star-cafe"})
    cost_points = ma.fields.Integer(required=True, metadata={"example": 500})


class PerkUpdateSchema(CheckedByService, PerkDefinitionSchema):
    """A JSON Merge Patch (RFC 7396) of the definition: objects merge, null removes a key.
    A live perk gets a new version; the partner no longer changes once live (409)."""


class PerkSchema(PerkDefinitionSchema):
    id = ma.fields.Integer()
    status = ma.fields.String(
        metadata={"enum": list(STATUSES), "description": "Effective now (follows the window)"}
    )
    version = ma.fields.Integer(metadata={"description": "The current version"})
    redeemed = ma.fields.Integer(metadata={"description": "Units redeemed (not cancelled)"})
    stock_left = ma.fields.Integer(allow_none=True, metadata={"description": "null: unlimited"})
    created_by = ma.fields.String()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class PerkPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(PerkSchema))
    next_cursor = ma.fields.String(allow_none=True)


class PerkVersionSchema(PerkDefinitionSchema):
    perk_id = ma.fields.Integer()
    version = ma.fields.Integer()
    created_by = ma.fields.String()
    created_at = UtcDateTime()


class PerkVersionPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(PerkVersionSchema))
    next_cursor = ma.fields.String(allow_none=True)


class PerkQueryArgsSchema(LifecycleQueryArgsSchema):
    pass


class PerkTransitionSchema(TransitionSchema):
    pass


def perk_dict(item: Item, now: datetime | None = None) -> dict[str, Any]:
    """The perk as the API shows it: current definition, effective status, stock."""
    row = item.row
    left = None if row.stock_total is None else row.stock_total - row.stock_used
    return {
        **item.version.definition,
        "id": row.id,
        "status": effective_status(row, now or datetime.now(UTC)),
        "version": item.version.version,
        "redeemed": row.stock_used,
        "stock_left": left,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def version_dict(version: PerkVersion) -> dict[str, Any]:
    return {
        **version.definition,
        "perk_id": version.perk_id,
        "version": version.version,
        "created_by": version.created_by,
        "created_at": version.created_at,
    }


register(
    blp,
    MarketerResource(
        kind=PERKS,
        plural="perks",
        noun="Perk",
        schema=PerkSchema,
        page_schema=PerkPageSchema,
        create_schema=PerkCreateSchema,
        update_schema=PerkUpdateSchema,
        query_schema=PerkQueryArgsSchema,
        present=perk_dict,
        version_schema=PerkVersionSchema,
        version_page_schema=PerkVersionPageSchema,
        present_version=version_dict,
        transition_schema=PerkTransitionSchema,
        created="Created as a draft",
        summaries={
            "list": "List the program's perks, newest first (filter by status and day)",
            "create": "Create a perk: a draft at version 1",
            "get": "Read a perk: current definition, status, version and stock",
            "update": "Change a perk (merge patch); live perks get a new version (a redemption "
            "keeps the price it paid), ended ones are 409",
            "versions": "List a perk's versions, newest first",
            "version": "Read one version of a perk's definition",
            "activate": "Activate a draft or paused perk: scheduled until its start, then open",
            "pause": "Pause a scheduled or active perk (no redemptions until activated again)",
            "end": "End a perk for good",
        },
    ),
)
