"""Webhook endpoints: registered by a partner for its own events, or by a marketer for the
program's. One service for both owners; the owner decides which event types may be chosen and
which endpoints can be seen (another owner's endpoint is simply not found).

A URL is checked when it is registered or changed (`rewards.events.transport.check_url`:
no private, loopback, link-local, metadata... address, https outside development) and again
at every send. The signing secret (`whsec_...`) is shown once, when it is made, and stored
sealed. Rotating it keeps the previous one signing too for an overlap, so a receiver can
switch without missing a delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from rewards import audit, sealing
from rewards.db import db
from rewards.errors import InvalidInput, NotFound
from rewards.events import signing, transport
from rewards.events.models import WebhookEndpoint
from rewards.events.outbox import PARTNER, PROGRAM, types_for
from rewards.ledger import utcnow

MAX_ENDPOINTS = 20
DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=7)


@dataclass(frozen=True)
class Owner:
    """Whose endpoints: a partner's (`partner_id`) or the program's own (None)."""

    program_id: int
    partner_id: int | None

    @property
    def kind(self) -> str:
        return PROGRAM if self.partner_id is None else PARTNER

    def owns(self, model: Any) -> list[Any]:
        """The conditions that keep `model`'s rows (program_id, partner_id) to this owner."""
        partner = model.partner_id
        return [
            model.program_id == self.program_id,
            partner.is_(None) if self.partner_id is None else partner == self.partner_id,
        ]


def policy() -> transport.Policy:
    """The SSRF policy from configuration (the allow-list is for development and tests)."""
    config = current_app.config
    return transport.Policy.from_settings(
        allow=config.get("WEBHOOK_ALLOW_NETWORKS") or (),
        require_https=bool(config.get("WEBHOOK_REQUIRE_HTTPS", True)),
        timeout=float(config.get("WEBHOOK_TIMEOUT_SECONDS", 10.0)),
    )


def _checked_url(url: str) -> str:
    try:
        transport.check_url(url, policy())
    except transport.UnsafeURL as exc:
        raise InvalidInput(f"This URL cannot receive webhooks: {exc.reason}.", field="url") from exc
    return url


def _checked_types(owner: Owner, types: list[str]) -> list[str]:
    allowed = types_for(owner.kind)
    unknown = [t for t in types if t not in allowed]
    if unknown or not types:
        detail = (
            f"Unknown event types {unknown}; choose from {allowed}."
            if unknown
            else f"Choose at least one event type of {allowed}."
        )
        raise InvalidInput(detail, field="event_types")
    return sorted(set(types))


def _visible(owner: Owner) -> Any:
    return select(WebhookEndpoint).where(
        *owner.owns(WebhookEndpoint),
        WebhookEndpoint.deleted_at.is_(None),
    )


def endpoints(owner: Owner) -> list[WebhookEndpoint]:
    """The owner's endpoints, oldest first."""
    return list(db.session.scalars(_visible(owner).order_by(WebhookEndpoint.id)))


def get(owner: Owner, endpoint_id: int, *, lock: bool = False) -> WebhookEndpoint:
    """One of the owner's endpoints; NotFound for anybody else's."""
    stmt = _visible(owner).where(WebhookEndpoint.id == endpoint_id)
    if lock:
        stmt = stmt.with_for_update()
    found = db.session.scalar(stmt)
    if found is None:
        raise NotFound(f"Webhook endpoint {endpoint_id} not found.")
    return found


def _snapshot(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "url": endpoint.url,
        "event_types": endpoint.event_types,
        "description": endpoint.description,
        "enabled": endpoint.enabled,
    }


def _audit(owner: Owner, actor: str, action: str, endpoint: WebhookEndpoint, before: Any) -> None:
    audit.record(
        program_id=owner.program_id,
        actor=actor,
        actor_role=owner.kind if owner.kind == PARTNER else "marketer",
        action=action,
        object_type="webhook_endpoint",
        object_id=endpoint.id,
        before=before,
        after=_snapshot(endpoint) if action != "webhook_endpoint.delete" else None,
    )


def create(owner: Owner, body: dict[str, Any], *, actor: str) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; (endpoint, its secret in clear: shown this once)."""
    if len(endpoints(owner)) >= MAX_ENDPOINTS:
        raise InvalidInput(f"At most {MAX_ENDPOINTS} webhook endpoints.", field="url")
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        program_id=owner.program_id,
        partner_id=owner.partner_id,
        url=_checked_url(body["url"]),
        event_types=_checked_types(owner, body["event_types"]),
        description=body.get("description") or "",
        enabled=body.get("enabled", True),
        secret_sealed=sealing.seal(secret),
        created_by=actor,
    )
    db.session.add(endpoint)
    db.session.flush()
    _audit(owner, actor, "webhook_endpoint.create", endpoint, None)
    return endpoint, secret


def update(owner: Owner, endpoint_id: int, body: dict[str, Any], *, actor: str) -> WebhookEndpoint:
    """Change URL, event types, description or enabled; enabling clears a platform disable."""
    endpoint = get(owner, endpoint_id, lock=True)
    before = _snapshot(endpoint)
    if "url" in body:
        endpoint.url = _checked_url(body["url"])
    if "event_types" in body:
        endpoint.event_types = _checked_types(owner, body["event_types"])
    if "description" in body:
        endpoint.description = body["description"] or ""
    if body.get("enabled") is True and not endpoint.enabled:
        endpoint.enabled, endpoint.disabled_reason, endpoint.failing_since = True, None, None
    elif body.get("enabled") is False:
        endpoint.enabled = False
        endpoint.disabled_reason = endpoint.disabled_reason or "disabled by its owner"
    db.session.flush()
    _audit(owner, actor, "webhook_endpoint.update", endpoint, before)
    return endpoint


def delete(owner: Owner, endpoint_id: int, *, actor: str) -> None:
    """Remove the endpoint: nothing more is sent to it; its delivery log stays readable."""
    endpoint = get(owner, endpoint_id, lock=True)
    before = _snapshot(endpoint)
    endpoint.deleted_at, endpoint.enabled = utcnow(), False
    _audit(owner, actor, "webhook_endpoint.delete", endpoint, before)


def rotate_secret(
    owner: Owner,
    endpoint_id: int,
    *,
    overlap: timedelta = DEFAULT_OVERLAP,
    actor: str,
    now: datetime | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new secret (returned in clear, once); the current one keeps signing alongside it
    for `overlap` (0 to 7 days), then stops."""
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise InvalidInput("The overlap must be 0 to 168 hours.", field="overlap_hours")
    now = now or utcnow()
    endpoint = get(owner, endpoint_id, lock=True)
    secret = signing.new_secret()
    endpoint.previous_secret_sealed = endpoint.secret_sealed if overlap else None
    endpoint.previous_secret_until = now + overlap if overlap else None
    endpoint.secret_sealed = sealing.seal(secret)
    db.session.flush()
    _audit(owner, actor, "webhook_endpoint.rotate_secret", endpoint, None)
    return endpoint, secret


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one during a
    rotation's overlap."""
    secrets = [sealing.unseal(endpoint.secret_sealed)]
    until = endpoint.previous_secret_until
    if endpoint.previous_secret_sealed and until is not None and now < until:
        secrets.append(sealing.unseal(endpoint.previous_secret_sealed))
    return secrets
