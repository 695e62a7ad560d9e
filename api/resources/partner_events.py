"""Partner events in, and the links they rely on.

- `POST /v1/partner/events` (partner key, and signed with the partner's inbound secret per
  the Standard Webhooks spec): `partner.purchase` and `partner.purchase.refunded`. The
  signature is checked before anything else: missing headers, a bad signature or a timestamp
  more than 5 minutes off are a 401 naming the header. A `webhook-id` already received gets
  its first answer again (`Idempotent-Replayed: true`), with no second effect.
- `POST /v1/partner/inbound-secret`: make or rotate that secret (shown once).
- `POST /v1/partner/link-codes`: a one-time code for one of the partner's customers, which the
  cardholder enters in our app: `POST /v1/me/partner-links`, `GET`, `DELETE .../{id}`.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

import marshmallow as ma
from flask import Response, g, request
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, current_principal, partner_id, program_id, requires
from api.errors import problem
from api.fields import UtcDateTime
from api.idempotency import commit
from rewards.events import inbound, links
from rewards.events.signing import ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from rewards.ledger import utcnow
from workers.queues import enqueue_transactions

partner_blp = Blueprint(
    "partner_events",
    __name__,
    url_prefix="/v1/partner",
    description="Partner: signed events in (purchases in the partner's own app), link codes.",
)
me_blp = Blueprint(
    "my_partner_links",
    __name__,
    url_prefix="/v1/me",
    description="Cardholder: my accounts at partners, linked with the code their app shows.",
)

REFERENCE = ma.validate.Regexp(
    # 50: a refund's transaction id holds both references within 128 characters.
    r"^[A-Za-z0-9._:-]{1,50}$",
    error="1 to 50 letters, digits, '.', '_', ':' or '-'.",
)
# Which header a refused signature names (the rest: the signature itself).
BLAMED_HEADER = {
    "missing-headers": ID_HEADER,
    "bad-timestamp": TIMESTAMP_HEADER,
    "timestamp-out-of-tolerance": TIMESTAMP_HEADER,
}
SIGNATURE_HEADERS = [
    {"in": "header", "name": name, "required": True, "schema": {"type": "string"}}
    for name in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
]


class PartnerPurchaseSchema(ma.Schema):
    customer_id = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=128),
        metadata={"description": "Your id of the customer, as linked by them"},
    )
    amount_minor = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=10**12))
    currency = ma.fields.String(
        required=True, validate=ma.validate.Regexp(r"^[A-Z]{3}$"), metadata={"example": "JPY"}
    )
    occurred_at = UtcDateTime(required=True)
    reference = ma.fields.String(
        required=True,
        validate=REFERENCE,
        metadata={"description": "Your order id; a refund names the order it refunds"},
    )
    refund_reference = ma.fields.String(
        validate=REFERENCE, metadata={"description": "partner.purchase.refunded: your refund id"}
    )


class PartnerEventSchema(ma.Schema):
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(inbound.TYPES))
    timestamp = UtcDateTime(required=True)
    data = ma.fields.Nested(PartnerPurchaseSchema, required=True)

    @ma.validates_schema
    def _refund_names_its_refund(self, event: dict[str, Any], **_: Any) -> None:
        if event.get("type") == inbound.REFUND and not event["data"].get("refund_reference"):
            raise ma.ValidationError(
                {"data": {"refund_reference": ["Required for partner.purchase.refunded."]}}
            )


class InboundAnswerSchema(ma.Schema):
    webhook_id = ma.fields.String()
    status = ma.fields.String(
        metadata={"enum": ["accepted", "duplicate"], "description": "duplicate: the reference "
                  "was already received under another webhook-id; nothing more happened"}
    )  # fmt: skip
    reference = ma.fields.String()


class SecretRotationSchema(ma.Schema):
    overlap_hours = ma.fields.Integer(load_default=24, validate=ma.validate.Range(min=0, max=168))


class InboundSecretSchema(ma.Schema):
    secret = ma.fields.String(metadata={"description": "`whsec_...`: shown in this answer only"})


class LinkCodeRequestSchema(ma.Schema):
    customer_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=128))


class LinkCodeSchema(ma.Schema):
    code = ma.fields.String(metadata={"description": "Show it to your customer; used once"})
    expires_at = UtcDateTime()


class ClaimSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))


class PartnerLinkSchema(ma.Schema):
    id = ma.fields.Integer()
    partner = ma.fields.String(metadata={"description": "The partner's name"})
    partner_code = ma.fields.String()
    created_at = UtcDateTime()


class PartnerLinkPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(PartnerLinkSchema))


def _signed(view: Any) -> Any:
    """Refuse (401) a request not signed with the calling partner's inbound secret, before its
    body is parsed; the view finds the `webhook-id` in `g.webhook_id`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            g.webhook_id = inbound.verify(
                partner_id(), dict(request.headers), request.get_data(), utcnow()
            )
        except inbound.BadSignature as exc:
            field = BLAMED_HEADER.get(exc.reason, SIGNATURE_HEADER)
            return problem(
                401,
                exc.detail,
                errors={field: [exc.reason]},
                slug="bad-signature",
                headers={"WWW-Authenticate": 'Webhook-Signature realm="partner-events"'},
            )
        return view(*args, **kwargs)

    return wrapper


@partner_blp.route("/events")
class PartnerEvents(MethodView):
    @requires("partner")
    @_signed
    @partner_blp.doc(**auth_doc("apiKey", problems=(422,)))
    @partner_blp.doc(parameters=SIGNATURE_HEADERS)
    @partner_blp.arguments(PartnerEventSchema)
    @partner_blp.response(202, InboundAnswerSchema)
    def post(self, event: dict[str, Any]) -> Any:
        """Send a signed event: a purchase in your own app or shop, or its refund"""
        pid = partner_id()
        first = inbound.replayed(pid, g.webhook_id)
        if first is not None:
            response: Response = InboundAnswerSchema().dump(first.response_body)  # type: ignore[assignment]
            return response, first.response_status, {"Idempotent-Replayed": "true"}
        status, answer, tx_id = inbound.apply(
            program_id=program_id(), partner_id=pid, webhook_id=g.webhook_id, event=event,
            now=utcnow(),
        )  # fmt: skip
        commit()
        if tx_id is not None:
            enqueue_transactions([tx_id])
        return answer, status


@partner_blp.route("/inbound-secret")
class PartnerInboundSecret(MethodView):
    @requires("partner")
    @partner_blp.doc(**auth_doc("apiKey", problems=(422,)))
    @partner_blp.arguments(SecretRotationSchema)
    @partner_blp.response(200, InboundSecretSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Make (or rotate) the secret you sign events with; the old one works `overlap_hours`"""
        secret = inbound.rotate_secret(partner_id(), overlap=timedelta(hours=data["overlap_hours"]))
        commit()
        return {"secret": secret}


@partner_blp.route("/link-codes")
class PartnerLinkCodes(MethodView):
    @requires("partner")
    @partner_blp.doc(**auth_doc("apiKey", problems=(422,)))
    @partner_blp.arguments(LinkCodeRequestSchema)
    @partner_blp.response(201, LinkCodeSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """A one-time code (15 minutes) your customer enters in the card's app to link"""
        code, expires_at = links.issue_code(
            partner_id=partner_id(), partner_ref=data["customer_id"]
        )
        commit()
        return {"code": code, "expires_at": expires_at}


def _link_dict(link: Any, partner: Any) -> dict[str, Any]:
    return {"id": link.id, "partner": partner.name, "partner_code": partner.code,
            "created_at": link.created_at}  # fmt: skip


@me_blp.route("/partner-links")
class MyPartnerLinks(MethodView):
    @requires("cardholder")
    @me_blp.doc(**auth_doc("bearerJWT"))
    @me_blp.response(200, PartnerLinkPageSchema)
    def get(self) -> Any:
        """My accounts at partners"""
        found = links.links_of(program_id=program_id(), external_ref=current_principal().subject)
        return {"data": [_link_dict(*pair) for pair in found]}

    @requires("cardholder")
    @me_blp.doc(**auth_doc("bearerJWT", problems=(404, 409, 422)))
    @me_blp.arguments(ClaimSchema)
    @me_blp.response(201, PartnerLinkSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Link my account at a partner with the code its app shows me"""
        link, partner = links.claim(
            program_id=program_id(), external_ref=current_principal().subject, code=data["code"]
        )
        commit()
        return _link_dict(link, partner)


@me_blp.route("/partner-links/<id:link_id>")
class MyPartnerLinkById(MethodView):
    @requires("cardholder")
    @me_blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @me_blp.response(204)
    def delete(self, link_id: int) -> None:
        """Unlink my account at a partner"""
        links.unlink(
            program_id=program_id(), external_ref=current_principal().subject, link_id=link_id
        )
        commit()
