"""Cardholder: activate-to-earn offers — the eligible ones, their caps left, and activation.

Only live campaigns with `requires_activation` are offers; other live campaigns earn without
any action and are not listed. As everywhere under `/v1/me`, the customer is the token's
subject: nothing here takes a customer id from the request.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, current_principal, program_id, requires
from api.fields import PageQueryArgsSchema, UtcDateTime, encode_cursor
from api.idempotency import commit
from api.resources.campaigns import ConditionsSchema, EffectSchema
from campaigns.earning import offers
from campaigns.earning.compiled import PERIODS

blp = Blueprint(
    "offers",
    __name__,
    url_prefix="/v1",
    description="Cardholder: activate-to-earn offers and their activation.",
)


class PointsCapLeftSchema(ma.Schema):
    period = ma.fields.String(metadata={"enum": list(PERIODS)})
    points = ma.fields.Integer(metadata={"description": "Bonus points allowed per period"})
    used = ma.fields.Integer(metadata={"description": "Earned in the current period"})
    left = ma.fields.Integer(metadata={"description": "Still to earn in the current period"})


class SpendCapLeftSchema(ma.Schema):
    period = ma.fields.String(metadata={"enum": list(PERIODS)})
    amount_minor = ma.fields.Integer(metadata={"description": "Qualifying spend per period"})
    used = ma.fields.Integer()
    left = ma.fields.Integer()


class CapsLeftSchema(ma.Schema):
    """Current period = the one containing now, in the program's timezone."""

    per_transaction = ma.fields.Integer(allow_none=True)
    per_customer = ma.fields.List(ma.fields.Nested(PointsCapLeftSchema))
    qualifying_spend = ma.fields.Nested(SpendCapLeftSchema, allow_none=True)


class OfferSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    version = ma.fields.Integer(metadata={"description": "Campaign version now in force"})
    status = ma.fields.String(metadata={"enum": list(offers.LIVE)})
    effect = ma.fields.Nested(EffectSchema)
    conditions = ma.fields.Nested(ConditionsSchema)
    starts_at = UtcDateTime()
    ends_at = UtcDateTime(allow_none=True)
    activated = ma.fields.Boolean()
    activated_at = UtcDateTime(
        allow_none=True, metadata={"description": "Only purchases from this moment earn"}
    )
    caps_left = ma.fields.Nested(CapsLeftSchema)
    budget_left = ma.fields.Integer(
        allow_none=True, metadata={"description": "Campaign points budget left; null = none"}
    )


class OfferPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(OfferSchema))
    next_cursor = ma.fields.String(allow_none=True)


def offer_dict(offer: offers.Offer) -> dict[str, Any]:
    row, d = offer.campaign, offer.definition
    return {
        "id": row.id,
        "name": row.name,
        "version": row.current_version,
        "status": offer.status,
        "effect": d["effect"],
        "conditions": d.get("conditions") or {},
        "starts_at": row.starts_at,
        "ends_at": row.ends_at,
        "activated": offer.activated_at is not None,
        "activated_at": offer.activated_at,
        "caps_left": offer.caps_left,
        "budget_left": offer.budget_left,
    }


def _ref() -> str:
    return current_principal().subject


@blp.route("/me/offers")
class MyOffers(MethodView):
    @requires("cardholder")
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @blp.arguments(PageQueryArgsSchema, location="query")
    @blp.response(200, OfferPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Live activate-to-earn offers I am eligible for, with activation and caps left"""
        found = offers.list_offers(
            program_id=program_id(), external_ref=_ref(), now=datetime.now(UTC)
        )
        if args["cursor"] is not None:
            found = [o for o in found if o.campaign.id < args["cursor"]]
        page = found[: args["limit"]]
        more = len(found) > len(page)
        return {
            "data": [offer_dict(o) for o in page],
            "next_cursor": encode_cursor(page[-1].campaign.id) if more else None,
        }


@blp.route("/me/offers/<id:campaign_id>/activate")
class MyOfferActivation(MethodView):
    @requires("cardholder")
    @blp.doc(**auth_doc("bearerJWT", problems=(404, 409)))
    @blp.response(200, OfferSchema, description="Already activated (the first time is kept)")
    @blp.alt_response(201, schema=OfferSchema, description="Activated now")
    def post(self, campaign_id: int) -> Any:
        """Activate an offer: purchases from now on earn its bonus (repeat calls are harmless)"""
        result = offers.activate_offer(
            program_id=program_id(),
            external_ref=_ref(),
            campaign_id=campaign_id,
            now=datetime.now(UTC),
        )
        commit()
        return offer_dict(result.offer), 201 if result.created else 200
