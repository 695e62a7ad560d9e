"""Marketer: campaigns (earning rules) of the caller's program — definitions, versions, lifecycle.

Bodies are checked by `campaigns.earning.definition` (every problem at once, named by its path, e.g.
`conditions.mccs.2`); the schemas here document them and shape responses. The views are the
standard ones of a marketer resource (`api.resources.marketer`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint

from api.fields import UtcDateTime
from api.resources.marketer import (
    CheckedByService,
    MarketerResource,
    register,
    versioned_item,
)
from campaigns.earning.compiled import PERIODS
from campaigns.earning.definition import CHANNELS, EFFECT_TYPES
from campaigns.earning.models import STATUSES
from campaigns.earning.service import CAMPAIGNS, Usage, usage_of
from campaigns.resources import Item
from rewards.mcc import CATEGORIES

blp = Blueprint(
    "campaigns",
    __name__,
    url_prefix="/v1",
    description="Marketer: campaigns (earning rules), their versions and lifecycle.",
)

# --- the definition (documentation and output) --------------------------------------------


def _enum(values: tuple[str, ...], description: str = "") -> dict[str, Any]:
    return (
        {"enum": list(values), "description": description}
        if description
        else {"enum": list(values)}
    )


class AudienceSchema(ma.Schema):
    segment_id = ma.fields.Integer(metadata={"description": "Only members of this segment"})
    tiers = ma.fields.List(ma.fields.String(), metadata={"description": "Only these tiers"})
    min_age = ma.fields.Integer(metadata={"minimum": 0, "maximum": 120})
    max_age = ma.fields.Integer(metadata={"minimum": 0, "maximum": 120})


class TimeOfDaySchema(ma.Schema):
    from_ = ma.fields.String(
        attribute="from", data_key="from", metadata={"example": "22:00", "pattern": "HH:MM"}
    )
    to = ma.fields.String(metadata={"example": "02:00", "description": "May wrap midnight"})


class ConditionsSchema(ma.Schema):
    """All optional and AND-ed; times are in the program's timezone."""

    categories = ma.fields.List(
        ma.fields.String(
            metadata=_enum(tuple(c for c in CATEGORIES if c not in ("cash_like", "gambling")))
        ),
    )
    mccs = ma.fields.List(
        ma.fields.String(metadata={"example": "5811-5814"}),
        metadata={"description": 'Codes ("5812") or ranges ("5811-5814")'},
    )
    merchant_ids = ma.fields.List(ma.fields.String())
    partners = ma.fields.List(ma.fields.String())
    amount_min_minor = ma.fields.Integer(metadata={"minimum": 1})
    amount_max_minor = ma.fields.Integer(metadata={"minimum": 1})
    channels = ma.fields.List(ma.fields.String(metadata=_enum(CHANNELS)))
    weekdays = ma.fields.List(
        ma.fields.Integer(metadata={"minimum": 1, "maximum": 7}),
        metadata={"description": "ISO weekdays, 1 = Monday"},
    )
    time_of_day = ma.fields.Nested(TimeOfDaySchema)
    first_purchase_at_merchant = ma.fields.Boolean()


class EffectSchema(ma.Schema):
    type = ma.fields.String(metadata=_enum(EFFECT_TYPES))
    value = ma.fields.String(
        metadata={
            "example": "3",
            "description": "Decimal, ≤ 4 places: multiplier > 1 (of base points), fixed_bonus "
            "whole points per purchase, points_per_unit per major currency unit, "
            "percent_of_spend ≤ 100",
        }
    )


class PeriodCapSchema(ma.Schema):
    period = ma.fields.String(metadata=_enum(PERIODS))
    points = ma.fields.Integer(metadata={"minimum": 1})


class QualifyingSpendSchema(ma.Schema):
    period = ma.fields.String(metadata=_enum(PERIODS))
    amount_minor = ma.fields.Integer(metadata={"minimum": 1})


class CapsSchema(ma.Schema):
    per_transaction = ma.fields.Integer(metadata={"minimum": 1})
    per_customer = ma.fields.List(ma.fields.Nested(PeriodCapSchema))
    qualifying_spend = ma.fields.Nested(QualifyingSpendSchema)


class CampaignDefinitionSchema(ma.Schema):
    name = ma.fields.String(metadata={"example": "Weekend Eats"})
    starts_at = ma.fields.String(
        metadata={"format": "date-time", "example": "2026-04-01T00:00:00Z"}
    )
    ends_at = ma.fields.String(allow_none=True, metadata={"format": "date-time"})
    priority = ma.fields.Integer(metadata={"minimum": 0, "maximum": 1000, "default": 100})
    stackable = ma.fields.Boolean(metadata={"default": True})
    requires_activation = ma.fields.Boolean(metadata={"default": False})
    audience = ma.fields.Nested(AudienceSchema)
    conditions = ma.fields.Nested(ConditionsSchema)
    effect = ma.fields.Nested(EffectSchema)
    caps = ma.fields.Nested(CapsSchema)
    budget_points = ma.fields.Integer(allow_none=True, metadata={"minimum": 1})
    max_participants = ma.fields.Integer(allow_none=True, metadata={"minimum": 1})


class CampaignCreateSchema(CheckedByService, CampaignDefinitionSchema):
    name = ma.fields.String(required=True, metadata={"example": "Weekend Eats"})
    starts_at = ma.fields.String(required=True, metadata={"format": "date-time"})
    effect = ma.fields.Nested(EffectSchema, required=True)


class CampaignUpdateSchema(CheckedByService, CampaignDefinitionSchema):
    """A JSON Merge Patch (RFC 7396) of the definition: objects merge, null removes a key."""


class CampaignSchema(CampaignDefinitionSchema):
    id = ma.fields.Integer()
    status = ma.fields.String(
        metadata={**_enum(STATUSES), "description": "Effective now (follows the window)"}
    )
    version = ma.fields.Integer(metadata={"description": "The current version"})
    budget_used = ma.fields.Integer()
    budget_remaining = ma.fields.Integer(allow_none=True)
    participants = ma.fields.Integer()
    created_by = ma.fields.String()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


def campaign_dict(
    item: Item, usage: Usage | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """The campaign as the API shows it: current definition, effective status, counters."""
    budget = item.version.definition.get("budget_points")
    usage = usage or usage_of([item])[item.row.id]
    return versioned_item(
        item,
        now,
        budget_used=usage.budget_used,
        budget_remaining=None if budget is None else max(0, budget - usage.budget_used),
        participants=usage.participants,
    )


def campaign_dicts(items: list[Item]) -> list[dict[str, Any]]:
    """A page of campaigns, their usage read in one query."""
    usage = usage_of(items)
    return [campaign_dict(item, usage[item.row.id]) for item in items]


# --- views ---------------------------------------------------------------------------------

register(
    blp,
    MarketerResource.versioned(
        definition=CampaignDefinitionSchema,
        parent="campaign_id",
        kind=CAMPAIGNS,
        plural="campaigns",
        noun="Campaign",
        schema=CampaignSchema,
        create_schema=CampaignCreateSchema,
        update_schema=CampaignUpdateSchema,
        present=campaign_dict,
        present_page=campaign_dicts,
        created="Created as a draft",
        summaries={
            "list": "List the program's campaigns, newest first (filter by status and day)",
            "create": "Create a campaign: a draft at version 1",
            "get": "Read a campaign: current definition, status, version and counters",
            "update": "Change a campaign (merge patch); live campaigns get a new version, "
            "ended ones are 409",
            "versions": "List a campaign's versions, newest first",
            "version": "Read one version of a campaign's definition",
            "activate": "Activate a draft or paused campaign: scheduled until its start, then "
            "active",
            "pause": "Pause a scheduled or active campaign (it grants nothing until activated "
            "again)",
            "end": "End a campaign for good (it can no longer be edited or resumed)",
        },
    ),
)
