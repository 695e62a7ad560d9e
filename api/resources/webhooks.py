"""Webhook endpoints and their delivery log, for a partner (`/v1/partner/...`, partner key:
its own events) and for the program's marketers (`/v1/webhook-endpoints`, `/v1/webhook-
deliveries`: the program's own events, such as `campaign.budget_exhausted`).

Both audiences get the same operations from one set of views (`_register`); only the owner
differs. An endpoint's secret is in the answer that creates or rotates it and never again.
Deliveries are signed per the Standard Webhooks spec; see README "Webhooks".
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, current_principal, partner_id, program_id, requires
from api.fields import PageQueryArgsSchema, UtcDateTime
from api.idempotency import commit
from api.resources.programs import page
from rewards.events import endpoints as service
from rewards.events import log
from rewards.events.models import DELIVERY_STATUSES, WebhookEndpoint
from rewards.events.outbox import TYPES
from rewards.ledger import utcnow

partner_blp = Blueprint(
    "partner_webhooks",
    __name__,
    url_prefix="/v1/partner",
    description="Partner: webhook endpoints for my events, the delivery log and replays.",
)
program_blp = Blueprint(
    "program_webhooks",
    __name__,
    url_prefix="/v1",
    description="Marketer: the program's own webhook endpoints, deliveries and replays.",
)


class EndpointCreateSchema(ma.Schema):
    url = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=2048),
        metadata={"example": "https://hooks.example.com/rewards"},
    )
    event_types = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(sorted(TYPES))),
        required=True,
        validate=ma.validate.Length(min=1, max=len(TYPES)),
    )
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))
    enabled = ma.fields.Boolean(load_default=True)


class EndpointUpdateSchema(EndpointCreateSchema):
    url = ma.fields.String(validate=ma.validate.Length(min=1, max=2048))
    event_types = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(sorted(TYPES))),
        validate=ma.validate.Length(min=1, max=len(TYPES)),
    )
    description = ma.fields.String(validate=ma.validate.Length(max=500))
    enabled = ma.fields.Boolean()


class EndpointSchema(ma.Schema):
    id = ma.fields.Integer()
    url = ma.fields.String()
    event_types = ma.fields.List(ma.fields.String())
    description = ma.fields.String()
    enabled = ma.fields.Boolean()
    disabled_reason = ma.fields.String(
        allow_none=True, metadata={"description": "Why the platform disabled it (410, failures)"}
    )
    previous_secret_until = UtcDateTime(
        allow_none=True,
        metadata={"description": "During a rotation: until when the previous secret signs too"},
    )
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class EndpointPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(EndpointSchema))


class EndpointWithSecretSchema(EndpointSchema):
    secret = ma.fields.String(
        metadata={"description": "`whsec_...`: shown in this answer only; store it now"}
    )


class RotateSchema(ma.Schema):
    overlap_hours = ma.fields.Integer(
        load_default=24,
        validate=ma.validate.Range(min=0, max=168),
        metadata={"description": "How long the previous secret keeps signing too"},
    )


class ReplaySinceSchema(ma.Schema):
    since = UtcDateTime(required=True, metadata={"description": "Within the last 30 days"})


class ReplayedSchema(ma.Schema):
    queued = ma.fields.Integer()


class AttemptSchema(ma.Schema):
    attempted_at = UtcDateTime()
    status_code = ma.fields.Integer(allow_none=True)
    latency_ms = ma.fields.Integer()
    error = ma.fields.String(allow_none=True)
    response_excerpt = ma.fields.String()


class DeliverySchema(ma.Schema):
    id = ma.fields.Integer()
    endpoint_id = ma.fields.Integer()
    event_type = ma.fields.String()
    webhook_id = ma.fields.String(metadata={"description": "The `webhook-id` header sent"})
    status = ma.fields.String(metadata={"enum": list(DELIVERY_STATUSES)})
    attempts = ma.fields.Integer(metadata={"description": "Attempts in the current schedule"})
    last_status_code = ma.fields.Integer(allow_none=True)
    last_error = ma.fields.String(allow_none=True)
    last_latency_ms = ma.fields.Integer(allow_none=True)
    next_attempt_at = UtcDateTime(allow_none=True)
    delivered_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    recent_attempts = ma.fields.List(ma.fields.Nested(AttemptSchema))


class DeliveryPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(DeliverySchema))
    next_cursor = ma.fields.String(allow_none=True)


class DeliveryQueryArgsSchema(PageQueryArgsSchema):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(DELIVERY_STATUSES))
    event_type = ma.fields.String(load_default=None, validate=ma.validate.OneOf(sorted(TYPES)))
    endpoint_id = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1))


def endpoint_dict(endpoint: WebhookEndpoint, secret: str | None = None) -> dict[str, Any]:
    shown = {
        "id": endpoint.id,
        "url": endpoint.url,
        "event_types": endpoint.event_types,
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "previous_secret_until": endpoint.previous_secret_until
        if endpoint.previous_secret_sealed and endpoint.previous_secret_until
        else None,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    }
    return shown if secret is None else {**shown, "secret": secret}


def delivery_dict(found: log.LoggedDelivery) -> dict[str, Any]:
    row = found.delivery
    return {
        **{
            name: getattr(row, name)
            for name in (
                "id", "endpoint_id", "event_type", "status", "attempts", "last_status_code",
                "last_error", "last_latency_ms", "next_attempt_at", "delivered_at", "created_at",
            )
        },
        "webhook_id": found.webhook_id,
        "recent_attempts": found.attempts,
    }  # fmt: skip


def _partner_owner() -> service.Owner:
    return service.Owner(program_id(), partner_id())


def _program_owner() -> service.Owner:
    return service.Owner(program_id(), None)


def _register_endpoints(blp: Blueprint, role: str, scheme: str, owner: Any, prefix: str) -> None:
    """The endpoint views of one audience on `blp`."""

    class WebhookEndpoints(MethodView):
        @requires(role)
        @blp.doc(**auth_doc(scheme))
        @blp.response(200, EndpointPageSchema)
        def get(self) -> Any:
            """My webhook endpoints"""
            return {"data": [endpoint_dict(e) for e in service.endpoints(owner())]}

        @requires(role)
        @blp.doc(**auth_doc(scheme, problems=(422,)))
        @blp.arguments(EndpointCreateSchema)
        @blp.response(201, EndpointWithSecretSchema)
        def post(self, data: dict[str, Any]) -> Any:
            """Register an endpoint; its secret is in this answer only"""
            endpoint, secret = service.create(owner(), data, actor=current_principal().actor)
            commit()
            return endpoint_dict(endpoint, secret)

    class WebhookEndpointById(MethodView):
        @requires(role)
        @blp.doc(**auth_doc(scheme, problems=(404,)))
        @blp.response(200, EndpointSchema)
        def get(self, endpoint_id: int) -> Any:
            """Read an endpoint"""
            return endpoint_dict(service.get(owner(), endpoint_id))

        @requires(role)
        @blp.doc(**auth_doc(scheme, problems=(404, 422)))
        @blp.arguments(EndpointUpdateSchema)
        @blp.response(200, EndpointSchema)
        def patch(self, data: dict[str, Any], endpoint_id: int) -> Any:
            """Change an endpoint; `enabled: true` re-enables one the platform disabled"""
            endpoint = service.update(owner(), endpoint_id, data, actor=current_principal().actor)
            commit()
            return endpoint_dict(endpoint)

        @requires(role)
        @blp.doc(**auth_doc(scheme, problems=(404,)))
        @blp.response(204)
        def delete(self, endpoint_id: int) -> None:
            """Remove an endpoint: nothing more is sent to it"""
            service.delete(owner(), endpoint_id, actor=current_principal().actor)
            commit()

    class WebhookSecretRotation(MethodView):
        @requires(role)
        @blp.doc(**auth_doc(scheme, problems=(404, 422)))
        @blp.arguments(RotateSchema)
        @blp.response(200, EndpointWithSecretSchema)
        def post(self, data: dict[str, Any], endpoint_id: int) -> Any:
            """A new secret (in this answer only); the old one signs too for `overlap_hours`"""
            endpoint, secret = service.rotate_secret(
                owner(),
                endpoint_id,
                overlap=timedelta(hours=data["overlap_hours"]),
                actor=current_principal().actor,
            )
            commit()
            return endpoint_dict(endpoint, secret)

    class WebhookEndpointReplay(MethodView):
        @requires(role)
        @blp.doc(**auth_doc(scheme, problems=(404, 422)))
        @blp.arguments(ReplaySinceSchema)
        @blp.response(202, ReplayedSchema)
        def post(self, data: dict[str, Any], endpoint_id: int) -> Any:
            """Send every event of this endpoint since `since` again (missed ones too)"""
            queued = log.replay_since(owner(), endpoint_id, data["since"], utcnow())
            commit()
            return {"queued": queued}

    for view, path in (
        (WebhookEndpoints, "/webhook-endpoints"),
        (WebhookEndpointById, "/webhook-endpoints/<id:endpoint_id>"),
        (WebhookSecretRotation, "/webhook-endpoints/<id:endpoint_id>/rotate-secret"),
        (WebhookEndpointReplay, "/webhook-endpoints/<id:endpoint_id>/replay"),
    ):
        _route(blp, path, prefix, view)


def _register_deliveries(
    blp: Blueprint, role: str, scheme: str, owner: Any, prefix: str, path: str
) -> None:
    """The delivery-log views of one audience on `blp`."""

    class WebhookDeliveries(MethodView):
        @requires(role)
        @blp.doc(**auth_doc(scheme, problems=(422,)))
        @blp.arguments(DeliveryQueryArgsSchema, location="query")
        @blp.response(200, DeliveryPageSchema)
        def get(self, args: dict[str, Any]) -> Any:
            """The delivery log, newest first, with each delivery's latest attempts"""
            rows = log.deliveries(
                owner(),
                limit=args["limit"] + 1,
                before_id=args["cursor"],
                status=args["status"],
                event_type=args["event_type"],
                endpoint_id=args["endpoint_id"],
            )
            found = page(rows, args["limit"], id_of=lambda d: d.delivery.id)
            found["data"] = [delivery_dict(d) for d in found["data"]]
            return found

    class WebhookDeliveryById(MethodView):
        @requires(role)
        @blp.doc(**auth_doc(scheme, problems=(404,)))
        @blp.response(200, DeliverySchema)
        def get(self, delivery_id: int) -> Any:
            """One delivery with its attempts (the latest 50)"""
            return delivery_dict(log.logged(owner(), delivery_id))

    class WebhookDeliveryReplay(MethodView):
        @requires(role)
        @blp.doc(**auth_doc(scheme, problems=(404,)))
        @blp.response(202, DeliverySchema)
        def post(self, delivery_id: int) -> Any:
            """Send this delivery again (in event order among its endpoint's pending ones)"""
            found = log.replay(owner(), delivery_id)
            commit()
            return delivery_dict(found)

    for view, route in (
        (WebhookDeliveries, path),
        (WebhookDeliveryById, f"{path}/<id:delivery_id>"),
        (WebhookDeliveryReplay, f"{path}/<id:delivery_id>/replay"),
    ):
        _route(blp, route, prefix, view)


def _route(blp: Blueprint, path: str, prefix: str, view: type) -> None:
    """Route `view` at `path`, named for its audience (`PartnerWebhookEndpoints`): class names
    make the OpenAPI operationIds, which must differ between the two audiences."""
    view.__name__ = view.__qualname__ = prefix + view.__name__
    blp.route(path)(view)


_register_endpoints(partner_blp, "partner", "apiKey", _partner_owner, "Partner")
_register_deliveries(partner_blp, "partner", "apiKey", _partner_owner, "Partner", "/deliveries")
_register_endpoints(program_blp, "marketer", "bearerJWT", _program_owner, "")
_register_deliveries(
    program_blp, "marketer", "bearerJWT", _program_owner, "", "/webhook-deliveries"
)
