"""Customers and cards: enrolment by the processor, profiles for marketers."""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, program_id, requires
from api.fields import CalendarDate, UtcDateTime
from api.idempotency import after_commit, commit
from rewards import customers as service
from rewards.pan import looks_like_pan
from workers.queues import enqueue_transactions

blp = Blueprint("customers", __name__, url_prefix="/v1", description="Customers and their cards")

TOKEN_PATTERN = re.compile(r"^[\x21-\x7e]{1,64}$")  # printable ASCII, no spaces


def _opaque_id(value: str) -> None:
    """Card tokens and customer refs: never a card number, and the value is never echoed."""
    if looks_like_pan(value):
        raise ma.ValidationError(service.PAN_MESSAGE)
    if not TOKEN_PATTERN.match(value):
        raise ma.ValidationError("1-64 printable characters without spaces")


class CustomerCreateSchema(ma.Schema):
    external_ref = ma.fields.String(
        required=True,
        validate=_opaque_id,
        metadata={"description": "The bank's id for the customer", "example": "cust-1"},
    )
    birth_date = CalendarDate(allow_none=True, metadata={"description": "For age gates only"})
    nickname = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=64))


class CustomerSchema(ma.Schema):
    external_ref = ma.fields.String()
    birth_date = ma.fields.Date(allow_none=True)
    nickname = ma.fields.String(allow_none=True)
    status = ma.fields.String()
    created_at = UtcDateTime()


class CardCreateSchema(ma.Schema):
    token = ma.fields.String(
        required=True,
        validate=_opaque_id,
        metadata={"description": "The processor's card token; never a card number (PAN)"},
    )


class CardSchema(ma.Schema):
    token = ma.fields.String()
    status = ma.fields.String()
    created_at = UtcDateTime()


class EnrolledCardSchema(CardSchema):
    customer = ma.fields.String(metadata={"description": "The customer's external ref"})


class AccountTotalsSchema(ma.Schema):
    available = ma.fields.Integer()
    pending = ma.fields.Integer()
    lifetime_earned = ma.fields.Integer()
    lifetime_redeemed = ma.fields.Integer()


class CustomerProfileSchema(CustomerSchema):
    consent_leaderboard = ma.fields.Boolean()
    consent_marketing = ma.fields.Boolean()
    tags = ma.fields.List(ma.fields.String())
    tier = ma.fields.String(allow_none=True)
    level = ma.fields.Integer()
    xp = ma.fields.Integer()
    cards = ma.fields.List(ma.fields.Nested(CardSchema))
    account = ma.fields.Nested(AccountTotalsSchema, allow_none=True)


@blp.route("/customers")
class Customers(MethodView):
    @blp.doc(**auth_doc("apiKey", "basicApiKey", problems=(400, 409)))
    @requires("processor")
    @blp.arguments(CustomerCreateSchema)
    @blp.response(201, CustomerSchema, description="Created")
    @blp.alt_response(200, schema=CustomerSchema, description="Already enrolled; fields updated")
    def post(self, data: dict[str, Any]) -> tuple[Any, int]:
        """Enrol or update a customer in the key's program (idempotent upsert)."""
        enrolment = service.upsert_customer(program_id=program_id(), **data)
        commit()
        return enrolment.customer, 201 if enrolment.created else 200


@blp.route("/customers/<string:external_ref>")
class CustomerByRef(MethodView):
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @requires("marketer")
    @blp.response(200, CustomerProfileSchema)
    def get(self, external_ref: str) -> dict[str, Any]:
        """A customer's profile, cards (tokens only) and account totals (marketer)."""
        profile = service.customer_profile(program_id=program_id(), external_ref=external_ref)
        customer = profile.customer
        fields = set(CustomerProfileSchema().fields) - {"cards", "account"}
        return {
            **{name: getattr(customer, name) for name in fields},
            "cards": profile.cards,
            "account": profile.account,
        }


@blp.route("/customers/<string:external_ref>/cards")
class CustomerCards(MethodView):
    @blp.doc(**auth_doc("apiKey", "basicApiKey", problems=(400, 404, 409)))
    @requires("processor")
    @blp.arguments(CardCreateSchema)
    @blp.response(201, EnrolledCardSchema, description="Enrolled")
    @blp.alt_response(200, schema=EnrolledCardSchema, description="Already enrolled")
    def post(self, data: dict[str, Any], external_ref: str) -> tuple[dict[str, Any], int]:
        """Enrol a card token for the customer (idempotent); waiting transactions are released."""
        enrolment = service.enrol_card(
            program_id=program_id(), external_ref=external_ref, token=data["token"]
        )
        released = enrolment.released_transaction_ids
        if released:
            after_commit(lambda: enqueue_transactions(released))
        commit()
        card = enrolment.card
        body = {
            "token": card.token,
            "status": card.status,
            "created_at": card.created_at,
            "customer": external_ref,
        }
        return body, 201 if enrolment.created else 200
