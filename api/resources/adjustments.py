"""Marketer: manual point adjustments on one customer of the caller's program, audited.

`Idempotency-Key` is honoured: a retry with the same key and body gets the first response
and never a second ledger entry.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, current_principal, program_id, requires
from api.errors import PROBLEM_JSON, ProblemSchema
from api.fields import UtcDateTime
from api.idempotency import idempotent
from api.resources.me import LedgerEntrySchema, ledger_line_dict
from rewards.adjustments import MAX_ADJUSTMENT, MAX_MESSAGE, MAX_REASON, adjust_points
from rewards.balances import LedgerLine, Totals

blp = Blueprint(
    "adjustments",
    __name__,
    url_prefix="/v1",
    description="Marketer: manual point adjustments (audited, idempotent).",
)


class AdjustmentCreateSchema(ma.Schema):
    points = ma.fields.Integer(
        required=True,
        strict=True,
        validate=[
            ma.validate.Range(min=-MAX_ADJUSTMENT, max=MAX_ADJUSTMENT),
            ma.validate.NoneOf([0], error="Must not be zero."),
        ],
        metadata={"description": "Signed: positive adds an available lot, negative removes"},
    )
    reason = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=MAX_REASON),
        metadata={"description": "Why (back office only; kept in the audit log)"},
    )
    message = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(min=1, max=MAX_MESSAGE),
        metadata={"description": "What the cardholder's history shows (a neutral default)"},
    )
    expires_at = UtcDateTime(
        load_default=None,
        metadata={"description": "Positive only; default: the program's expiry_months"},
    )

    @ma.validates("reason")
    def _reason_not_blank(self, value: str, **kwargs: Any) -> None:
        if not value.strip():
            raise ma.ValidationError("Must not be blank.")


class BalanceTotalsSchema(ma.Schema):
    available = ma.fields.Integer()
    pending = ma.fields.Integer()
    lifetime_earned = ma.fields.Integer()
    lifetime_redeemed = ma.fields.Integer()


class AdjustmentSchema(ma.Schema):
    customer = ma.fields.String(metadata={"description": "The customer's external ref"})
    reason = ma.fields.String()
    entry = ma.fields.Nested(LedgerEntrySchema)
    balance = ma.fields.Nested(BalanceTotalsSchema)
    audit_log_id = ma.fields.Integer()


IDEMPOTENCY_KEY_PARAMETER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    "description": "Retry-safe: same key + same body replays the first response; "
    "same key + another body is a 409.",
}


@blp.route("/customers/<string:external_ref>/adjustments")
class CustomerAdjustments(MethodView):
    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(400, 404, 409, 422)))
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @blp.arguments(AdjustmentCreateSchema)
    @blp.alt_response(201, schema=AdjustmentSchema, success=True, description="Adjusted")
    @blp.alt_response(
        404,
        schema=ProblemSchema,
        content_type=PROBLEM_JSON,
        description="No such customer in the caller's program",
    )
    @blp.alt_response(
        409,
        schema=ProblemSchema,
        content_type=PROBLEM_JSON,
        description="Would take the available balance below zero, or Idempotency-Key reused",
    )
    @idempotent
    def post(self, data: dict[str, Any], external_ref: str) -> Any:
        """Add or remove points on a customer's account (audited)"""
        principal = current_principal()
        result = adjust_points(
            program_id=program_id(),
            external_ref=external_ref,
            points=data["points"],
            reason=data["reason"],
            message=data["message"],
            expires_at=data["expires_at"],
            actor=principal.actor,
            actor_role="marketer",
        )
        entry = result.entry
        line = LedgerLine(
            entry=entry,
            summary=entry.explanation["summary"],
            details={k: v for k, v in entry.explanation.items() if k != "summary"},
            transaction_external_id=None,
            merchant_name=None,
        )
        body = AdjustmentSchema().dump(
            {
                "customer": external_ref,
                "reason": data["reason"],
                "entry": ledger_line_dict(line),
                "balance": Totals.of(result.account).as_dict(),
                "audit_log_id": result.audit.id,
            }
        )
        return body, 201
