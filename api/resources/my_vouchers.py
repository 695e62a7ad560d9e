"""Cardholder: my vouchers (the codes my redemptions issued) and cancelling an unused one.

A code is shown only here, to its cardholder (and to the owning partner at the till). A
cancellation gives the points back as a `redemption_refund`, puts the unit back in stock and
frees the per-customer limit; it is allowed while the voucher is unused and within the
perk's cancellation window, else 409 `voucher-not-cancellable`. `Idempotency-Key` is honoured.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, current_principal, program_id, requires
from api.errors import PROBLEM_JSON, ProblemSchema
from api.fields import PageQueryArgsSchema, UtcDateTime
from api.idempotency import idempotent
from api.resources.adjustments import IDEMPOTENCY_KEY_PARAMETER
from api.resources.my_perks import PartnerSummarySchema
from api.resources.programs import page
from rewards.perks.models import VOUCHER_STATUSES
from rewards.perks.vouchers import MyVoucher, cancel, my_vouchers

blp = Blueprint(
    "my_vouchers",
    __name__,
    url_prefix="/v1",
    description="Cardholder: vouchers from redemptions.",
)


class MyVoucherSchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String(metadata={"description": "Show it at the partner's till"})
    status = ma.fields.String(metadata={"enum": list(VOUCHER_STATUSES)})
    perk_id = ma.fields.Integer()
    title = ma.fields.String()
    partner = ma.fields.Nested(PartnerSummarySchema)
    redemption_id = ma.fields.Integer()
    points = ma.fields.Integer(metadata={"description": "What the redemption cost"})
    issued_at = UtcDateTime()
    expires_at = UtcDateTime()
    used_at = UtcDateTime(allow_none=True)
    cancelled_at = UtcDateTime(allow_none=True)
    expired_at = UtcDateTime(allow_none=True)
    cancellable_until = UtcDateTime(
        allow_none=True, metadata={"description": "null: it cannot be cancelled (now)"}
    )


class MyVoucherPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(MyVoucherSchema))
    next_cursor = ma.fields.String(allow_none=True)


class CancelledVoucherSchema(MyVoucherSchema):
    points_refunded = ma.fields.Integer()
    available = ma.fields.Integer(metadata={"description": "My available points afterwards"})


def voucher_dict(mine: MyVoucher) -> dict[str, Any]:
    voucher, redemption, perk, partner = mine.voucher, mine.redemption, mine.perk, mine.partner
    return {
        "id": voucher.id,
        "code": mine.code,
        "status": voucher.status,
        "perk_id": perk.id,
        "title": perk.name,
        "partner": {"code": partner.code, "name": partner.name},
        "redemption_id": redemption.id,
        "points": redemption.points,
        "issued_at": voucher.issued_at,
        "expires_at": voucher.expires_at,
        "used_at": voucher.used_at,
        "cancelled_at": voucher.cancelled_at,
        "expired_at": voucher.expired_at,
        "cancellable_until": mine.cancellable_until,
    }


def _ref() -> str:
    return current_principal().subject


@blp.route("/me/vouchers")
class MyVouchers(MethodView):
    @requires("cardholder")
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @blp.arguments(PageQueryArgsSchema, location="query")
    @blp.response(200, MyVoucherPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """My vouchers with their codes, newest first"""
        rows = my_vouchers(
            program_id=program_id(),
            external_ref=_ref(),
            limit=args["limit"],
            after_id=args.get("cursor"),
        )
        return page([voucher_dict(row) for row in rows], args["limit"], id_of=lambda d: d["id"])


@blp.route("/me/vouchers/<id:voucher_id>/cancel")
class MyVoucherCancellation(MethodView):
    @requires("cardholder")
    @blp.doc(**auth_doc("bearerJWT", problems=(400, 404, 409)))
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @blp.alt_response(200, schema=CancelledVoucherSchema, success=True, description="Cancelled")
    @blp.alt_response(
        409,
        schema=ProblemSchema,
        content_type=PROBLEM_JSON,
        description="voucher-not-cancellable (used, expired, cancelled, or past its window), "
        "or Idempotency-Key reused",
    )
    @idempotent
    def post(self, voucher_id: int) -> Any:
        """Cancel my unused voucher: points back, the unit back in stock"""
        done = cancel(
            program_id=program_id(),
            external_ref=_ref(),
            voucher_id=voucher_id,
            now=datetime.now(UTC),
        )
        body = CancelledVoucherSchema().dump(
            {
                **voucher_dict(done.mine),
                "points_refunded": done.mine.redemption.points,
                "available": done.available,
            }
        )
        return body, 200
