"""Marketer: campaigns (earning rules) of the caller's program — definitions, versions, lifecycle.

Bodies are checked by `campaigns.earning.definition` (every problem at once, named by its path, e.g.
`conditions.mccs.2`); the schemas here document them and shape responses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, current_principal, program_id, requires
from api.errors import PROBLEM_JSON, ProblemSchema
from api.fields import CalendarDate, PageQueryArgsSchema, UtcDateTime
from api.idempotency import commit, idempotent
from api.resources.adjustments import IDEMPOTENCY_KEY_PARAMETER
from api.resources.programs import page
from campaigns.earning import service
from campaigns.earning.compiled import PERIODS
from campaigns.earning.definition import CHANNELS, EFFECT_TYPES
from campaigns.earning.models import STATUSES, CampaignVersion
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


class _CheckedByService(ma.Schema):
    """A body documented by its fields but checked by `campaigns.earning.definition`, which reports
    every problem at once under its full path."""

    def load(self, data: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if not isinstance(data, dict):
            raise ma.ValidationError("Must be a JSON object.", "_schema")
        return data


class CampaignCreateSchema(_CheckedByService, CampaignDefinitionSchema):
    name = ma.fields.String(required=True, metadata={"example": "Weekend Eats"})
    starts_at = ma.fields.String(required=True, metadata={"format": "date-time"})
    effect = ma.fields.Nested(EffectSchema, required=True)


class CampaignUpdateSchema(_CheckedByService, CampaignDefinitionSchema):
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


class CampaignPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(CampaignSchema))
    next_cursor = ma.fields.String(allow_none=True)


class CampaignVersionSchema(CampaignDefinitionSchema):
    campaign_id = ma.fields.Integer()
    version = ma.fields.Integer()
    created_by = ma.fields.String()
    created_at = UtcDateTime()


class CampaignVersionPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(CampaignVersionSchema))
    next_cursor = ma.fields.String(allow_none=True)


class CampaignQueryArgsSchema(PageQueryArgsSchema):
    status = ma.fields.String(
        load_default=None,
        validate=ma.validate.OneOf(STATUSES),
        metadata={"description": "Effective status now"},
    )
    active_on = CalendarDate(
        load_default=None,
        metadata={"description": "Window overlaps this day (program timezone), YYYY-MM-DD"},
    )


class CampaignTransitionSchema(ma.Schema):
    reason = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(1, 500),
        metadata={"description": "Why (kept in the audit log)"},
    )


def campaign_dict(
    view: service.CampaignView, usage: service.Usage | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """The campaign as the API shows it: current definition, effective status, counters."""
    campaign = view.campaign
    budget = view.version.definition.get("budget_points")
    usage = usage or service.usage_of([view])[campaign.id]
    return {
        **view.version.definition,
        "id": campaign.id,
        "status": service.effective_status(campaign, now or datetime.now(UTC)),
        "version": view.version.version,
        "budget_used": usage.budget_used,
        "budget_remaining": None if budget is None else max(0, budget - usage.budget_used),
        "participants": usage.participants,
        "created_by": campaign.created_by,
        "created_at": campaign.created_at,
        "updated_at": campaign.updated_at,
    }


def version_dict(version: CampaignVersion) -> dict[str, Any]:
    return {
        **version.definition,
        "campaign_id": version.campaign_id,
        "version": version.version,
        "created_by": version.created_by,
        "created_at": version.created_at,
    }


# --- views ---------------------------------------------------------------------------------


@blp.route("/campaigns")
class Campaigns(MethodView):
    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(422,)))
    @blp.arguments(CampaignQueryArgsSchema, location="query")
    @blp.response(200, CampaignPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the program's campaigns, newest first (filter by status and day)"""
        views = service.list_campaigns(
            program_id=program_id(),
            limit=args["limit"] + 1,
            before_id=args["cursor"],
            status=args["status"],
            active_on=args["active_on"],
        )
        result = page(views, args["limit"], id_of=lambda view: view.campaign.id)
        usage = service.usage_of(result["data"])
        result["data"] = [campaign_dict(view, usage[view.campaign.id]) for view in result["data"]]
        return result

    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(409, 422)))
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @blp.arguments(CampaignCreateSchema)
    @blp.alt_response(201, schema=CampaignSchema, success=True, description="Created as a draft")
    @blp.alt_response(
        422, schema=ProblemSchema, content_type=PROBLEM_JSON, description="Names each bad field"
    )
    @idempotent
    def post(self, data: dict[str, Any]) -> Any:
        """Create a campaign: a draft at version 1"""
        view = service.create_campaign(
            program_id=program_id(), definition=data, actor=current_principal().actor
        )
        return CampaignSchema().dump(campaign_dict(view)), 201


@blp.route("/campaigns/<id:campaign_id>")
class CampaignById(MethodView):
    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @blp.response(200, CampaignSchema)
    def get(self, campaign_id: int) -> dict[str, Any]:
        """Read a campaign: current definition, status, version and counters"""
        return campaign_dict(service.get_campaign(program_id=program_id(), campaign_id=campaign_id))

    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(404, 409, 422)))
    @blp.arguments(CampaignUpdateSchema)
    @blp.response(200, CampaignSchema)
    def patch(self, changes: dict[str, Any], campaign_id: int) -> dict[str, Any]:
        """Change a campaign (merge patch); live campaigns get a new version, ended ones are 409"""
        view = service.update_campaign(
            program_id=program_id(),
            campaign_id=campaign_id,
            changes=changes,
            actor=current_principal().actor,
        )
        commit()
        return campaign_dict(view)


@blp.route("/campaigns/<id:campaign_id>/versions")
class CampaignVersions(MethodView):
    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(404, 422)))
    @blp.arguments(PageQueryArgsSchema, location="query")
    @blp.response(200, CampaignVersionPageSchema)
    def get(self, args: dict[str, Any], campaign_id: int) -> dict[str, Any]:
        """List a campaign's versions, newest first"""
        versions = service.list_versions(
            program_id=program_id(),
            campaign_id=campaign_id,
            limit=args["limit"] + 1,
            before_version=args["cursor"],
        )
        result = page(versions, args["limit"], id_of=lambda version: version.version)
        result["data"] = [version_dict(version) for version in result["data"]]
        return result


@blp.route("/campaigns/<id:campaign_id>/versions/<id:version>")
class CampaignVersionByNumber(MethodView):
    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @blp.response(200, CampaignVersionSchema)
    def get(self, campaign_id: int, version: int) -> dict[str, Any]:
        """Read one version of a campaign's definition"""
        return version_dict(
            service.get_version(program_id=program_id(), campaign_id=campaign_id, version=version)
        )


def _transition(action: Any, campaign_id: int, data: dict[str, Any]) -> dict[str, Any]:
    view = action(
        program_id=program_id(),
        campaign_id=campaign_id,
        actor=current_principal().actor,
        reason=data["reason"],
    )
    commit()
    return campaign_dict(view)


@blp.route("/campaigns/<id:campaign_id>/activate")
class CampaignActivation(MethodView):
    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(404, 409, 422)))
    @blp.arguments(CampaignTransitionSchema, required=False)
    @blp.response(200, CampaignSchema)
    def post(self, data: dict[str, Any], campaign_id: int) -> dict[str, Any]:
        """Activate a draft or paused campaign: scheduled until its start, then active"""
        return _transition(service.activate_campaign, campaign_id, data)


@blp.route("/campaigns/<id:campaign_id>/pause")
class CampaignPause(MethodView):
    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(404, 409, 422)))
    @blp.arguments(CampaignTransitionSchema, required=False)
    @blp.response(200, CampaignSchema)
    def post(self, data: dict[str, Any], campaign_id: int) -> dict[str, Any]:
        """Pause a scheduled or active campaign (it grants nothing until activated again)"""
        return _transition(service.pause_campaign, campaign_id, data)


@blp.route("/campaigns/<id:campaign_id>/end")
class CampaignEnd(MethodView):
    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(404, 409, 422)))
    @blp.arguments(CampaignTransitionSchema, required=False)
    @blp.response(200, CampaignSchema)
    def post(self, data: dict[str, Any], campaign_id: int) -> dict[str, Any]:
        """End a campaign for good (it can no longer be edited or resumed)"""
        return _transition(service.end_campaign, campaign_id, data)
