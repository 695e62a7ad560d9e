"""Cardholder: the perk catalog as it applies to me, redeeming points for a perk, and my
redemptions.

`POST /v1/me/redemptions` moves points and stock, so it requires an `Idempotency-Key`: a
retry with the same key and body replays the first answer (spending nothing twice); the
same key with another body is a 409. A refused redemption is a 409 whose problem type says
why (`insufficient-points` with `points_missing`, `out-of-stock`, `limit-reached`,
`not-eligible` with the `rule`, `perk-not-active`) and changes nothing. A redemption answers
with its voucher's code: the stored first answer that a retry replays is sealed at rest.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, current_principal, program_id, requires
from api.errors import PROBLEM_JSON, ProblemSchema, problem
from api.fields import PageQueryArgsSchema, UtcDateTime, utc_text
from api.idempotency import HEADER, idempotent
from api.resources.adjustments import IDEMPOTENCY_KEY_PARAMETER
from api.resources.perks import PerkLimitSchema
from api.resources.programs import page
from rewards.mcc import CATEGORIES
from rewards.perks.catalog import CatalogEntry, catalog, my_redemptions
from rewards.perks.models import REDEMPTION_STATUSES, VOUCHER_STATUSES
from rewards.perks.redemption import redeem
from rewards.perks.vouchers import cancellable_until

blp = Blueprint(
    "my_perks",
    __name__,
    url_prefix="/v1",
    description="Cardholder: perks to spend points on, and redemptions.",
)


class PartnerSummarySchema(ma.Schema):
    code = ma.fields.String()
    name = ma.fields.String()


class RefusalSchema(ma.Schema):
    rule = ma.fields.String(
        metadata={"enum": ["active", "min_age", "min_tier", "limit", "stock", "points"]}
    )
    detail = ma.fields.String(metadata={"description": "In plain words, for the app"})


class MyPerkSchema(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    description = ma.fields.String(allow_none=True)
    image_url = ma.fields.String(allow_none=True)
    category = ma.fields.String(allow_none=True, metadata={"enum": list(CATEGORIES)})
    partner = ma.fields.Nested(PartnerSummarySchema)
    cost_points = ma.fields.Integer()
    stock_left = ma.fields.Integer(allow_none=True, metadata={"description": "null: unlimited"})
    limit = ma.fields.Nested(PerkLimitSchema, allow_none=True)
    redeemed_in_period = ma.fields.Integer(
        metadata={"description": "My redemptions in the limit's current period"}
    )
    ends_at = UtcDateTime(allow_none=True)
    reason = ma.fields.String(
        metadata={"description": "Why it is ranked for me, e.g. 'You often shop at Star Cafe'"}
    )
    redeemable = ma.fields.Boolean(metadata={"description": "I can redeem it now"})
    points_missing = ma.fields.Integer(metadata={"description": "0 when I can afford it"})
    refusals = ma.fields.List(
        ma.fields.Nested(RefusalSchema),
        metadata={"description": "Every rule that stops me now (empty when redeemable)"},
    )


class MyPerksSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(MyPerkSchema))


class RedemptionCreateSchema(ma.Schema):
    perk_id = ma.fields.Integer(
        required=True, strict=True, validate=ma.validate.Range(1, 2**63 - 1)
    )


class RedemptionSchema(ma.Schema):
    id = ma.fields.Integer()
    perk_id = ma.fields.Integer()
    perk_version = ma.fields.Integer(metadata={"description": "The version whose price I paid"})
    title = ma.fields.String()
    partner = ma.fields.Nested(PartnerSummarySchema)
    points = ma.fields.Integer(metadata={"description": "What it cost"})
    status = ma.fields.String(metadata={"enum": list(REDEMPTION_STATUSES)})
    ledger_entry_id = ma.fields.Integer()
    created_at = UtcDateTime()


class IssuedVoucherSchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String(metadata={"description": "Show it at the partner's till"})
    status = ma.fields.String(metadata={"enum": list(VOUCHER_STATUSES)})
    expires_at = UtcDateTime()
    cancellable_until = UtcDateTime(
        allow_none=True, metadata={"description": "null: it cannot be cancelled"}
    )


class RedemptionResultSchema(RedemptionSchema):
    available = ma.fields.Integer(metadata={"description": "My available points afterwards"})
    voucher = ma.fields.Nested(IssuedVoucherSchema)


class RedemptionPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(RedemptionSchema))
    next_cursor = ma.fields.String(allow_none=True)


def my_perk_dict(entry: CatalogEntry) -> dict[str, Any]:
    """JSON-ready as `MyPerkSchema` documents it (built directly: a catalog is 200 perks, and
    dumping them through the schema took a quarter of the request)."""
    perk, d = entry.perk, entry.definition
    return {
        "id": perk.id,
        "title": d["title"],
        "description": d.get("description"),
        "image_url": d.get("image_url"),
        "category": d.get("category"),
        "partner": {"code": entry.partner.code, "name": entry.partner.name},
        "cost_points": perk.cost_points,
        "stock_left": None if perk.stock_total is None else perk.stock_total - perk.stock_used,
        "limit": d.get("limit"),
        "redeemed_in_period": entry.used_in_period,
        "ends_at": utc_text(perk.ends_at),
        "reason": entry.reason,
        "redeemable": entry.redeemable,
        "points_missing": entry.points_missing,
        "refusals": [{"rule": r.rule, "detail": r.detail} for r in entry.refusals],
    }


def redemption_dict(redemption: Any, perk: Any, partner: Any) -> dict[str, Any]:
    return {
        "id": redemption.id,
        "perk_id": perk.id,
        "perk_version": redemption.perk_version,
        "title": perk.name,
        "partner": {"code": partner.code, "name": partner.name},
        "points": redemption.points,
        "status": redemption.status,
        "ledger_entry_id": redemption.ledger_entry_id,
        "created_at": redemption.created_at,
    }


def _ref() -> str:
    return current_principal().subject


@blp.route("/me/perks")
class MyPerks(MethodView):
    @requires("cardholder")
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @blp.alt_response(200, schema=MyPerksSchema, success=True, description="OK")
    def get(self) -> Any:
        """The perks open to me, ranked for me from my card history, each with why and with
        what (if anything) stops me redeeming it now"""
        entries = catalog(program_id=program_id(), external_ref=_ref(), now=datetime.now(UTC))
        return {"data": [my_perk_dict(e) for e in entries]}, 200


REQUIRED_KEY = {**IDEMPOTENCY_KEY_PARAMETER, "required": True}


@blp.route("/me/redemptions")
class MyRedemptions(MethodView):
    @requires("cardholder")
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @blp.arguments(PageQueryArgsSchema, location="query")
    @blp.response(200, RedemptionPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """My redemptions, newest first"""
        rows = my_redemptions(
            program_id=program_id(),
            external_ref=_ref(),
            limit=args["limit"],
            after_id=args.get("cursor"),
        )
        return page([redemption_dict(*row) for row in rows], args["limit"], id_of=lambda d: d["id"])

    @requires("cardholder")
    @blp.doc(**auth_doc("bearerJWT", problems=(400, 404, 409, 422)))
    @blp.doc(parameters=[REQUIRED_KEY])
    @blp.arguments(RedemptionCreateSchema)
    @blp.alt_response(201, schema=RedemptionResultSchema, success=True, description="Redeemed")
    @blp.alt_response(
        409,
        schema=ProblemSchema,
        content_type=PROBLEM_JSON,
        description="Refused (insufficient-points, out-of-stock, limit-reached, not-eligible, "
        "perk-not-active; nothing changed), or Idempotency-Key reused with another body",
    )
    def post(self, data: dict[str, Any]) -> Any:
        """Spend points on a perk (Idempotency-Key required)"""
        if not request.headers.get(HEADER):
            return problem(
                400,
                f"{HEADER} is required: a retry must not spend points twice.",
                errors={HEADER: ["Missing data for required header."]},
            )
        return _redeem(data)


@idempotent
def _redeem(data: dict[str, Any]) -> Any:
    done = redeem(program_id=program_id(), external_ref=_ref(), perk_id=data["perk_id"])
    voucher = done.voucher
    body = RedemptionResultSchema().dump(
        {
            **redemption_dict(done.redemption, done.perk, done.partner),
            "available": done.available,
            "voucher": {
                "id": voucher.id,
                "code": done.code,
                "status": voucher.status,
                "expires_at": voucher.expires_at,
                "cancellable_until": cancellable_until(voucher, done.definition["voucher"]),
            },
        }
    )
    return body, 201
