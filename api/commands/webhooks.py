"""Webhook commands for operators: endpoints that fail, replays, disabling, and a send now."""

from __future__ import annotations

import sys
from datetime import datetime

import click
from flask.cli import with_appcontext
from sqlalchemy import func, select

from rewards.db import db
from rewards.events import delivery
from rewards.events.models import WebhookDelivery, WebhookEndpoint
from rewards.ledger import utcnow


@click.group("webhooks")
def webhooks_group() -> None:
    """Outbound webhooks: endpoints, deliveries, replays."""


@webhooks_group.command("failing")
@with_appcontext
def failing_command() -> None:
    """Endpoints failing now or disabled by the platform, with their waiting deliveries."""
    waiting = (
        select(WebhookDelivery.endpoint_id, func.count().label("pending"))
        .where(WebhookDelivery.status == "pending")
        .group_by(WebhookDelivery.endpoint_id)
        .subquery()
    )
    rows = db.session.execute(
        select(WebhookEndpoint, func.coalesce(waiting.c.pending, 0))
        .outerjoin(waiting, waiting.c.endpoint_id == WebhookEndpoint.id)
        .where(
            WebhookEndpoint.deleted_at.is_(None),
            WebhookEndpoint.failing_since.is_not(None)
            | WebhookEndpoint.disabled_reason.is_not(None),
        )
        .order_by(WebhookEndpoint.id)
    ).all()
    for endpoint, pending in rows:
        state = "enabled" if endpoint.enabled else f"disabled ({endpoint.disabled_reason})"
        since = (
            f"failing since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC"
            if endpoint.failing_since
            else "not failing now"
        )
        owner = f"partner {endpoint.partner_id}" if endpoint.partner_id else "program"
        click.echo(
            f"endpoint {endpoint.id} [{owner}] {endpoint.url}: {state}, {since}, {pending} pending"
        )
    click.echo(f"{len(rows)} endpoint(s)")
    db.session.rollback()


@webhooks_group.command("replay")
@click.option("--delivery", "delivery_id", type=int, default=None, help="One delivery.")
@click.option("--endpoint", "endpoint_id", type=int, default=None, help="An endpoint ...")
@click.option("--since", type=click.DateTime(), default=None, help="... everything since (UTC).")
@with_appcontext
def replay_command(
    delivery_id: int | None, endpoint_id: int | None, since: datetime | None
) -> None:
    """Send a delivery again, or every event of an endpoint since a moment."""
    now = utcnow()
    if delivery_id is not None:
        found = db.session.get(WebhookDelivery, delivery_id, with_for_update=True)
        if found is None:
            click.echo(f"no delivery {delivery_id}", err=True)
            sys.exit(1)
        delivery.replay(found, now)
        queued = 1
    elif endpoint_id is not None and since is not None:
        endpoint = db.session.get(WebhookEndpoint, endpoint_id, with_for_update=True)
        if endpoint is None:
            click.echo(f"no endpoint {endpoint_id}", err=True)
            sys.exit(1)
        queued = delivery.replay_since(endpoint, since.replace(tzinfo=now.tzinfo), now, 100_000)
    else:
        click.echo("give --delivery, or --endpoint with --since", err=True)
        sys.exit(2)
    db.session.commit()
    click.echo(f"{queued} delivery(ies) queued")


@webhooks_group.command("disable")
@click.argument("endpoint_id", type=int)
@click.option("--reason", default="disabled by an operator")
@with_appcontext
def disable_command(endpoint_id: int, reason: str) -> None:
    """Stop sending to an endpoint (its owner re-enables it with PATCH enabled: true)."""
    endpoint = db.session.get(WebhookEndpoint, endpoint_id, with_for_update=True)
    if endpoint is None or endpoint.deleted_at is not None:
        click.echo(f"no endpoint {endpoint_id}", err=True)
        sys.exit(1)
    delivery.disable(endpoint, reason, utcnow())
    db.session.commit()
    click.echo(f"endpoint {endpoint_id} disabled: {reason}")


@webhooks_group.command("send")
@click.option("--endpoint", "endpoint_id", type=int, default=None, help="Only this endpoint.")
@with_appcontext
def send_command(endpoint_id: int | None) -> None:
    """Fan out new events and deliver what is due now, in this process (no worker needed)."""
    from rewards.events.dispatch import dispatch

    while dispatch():
        db.session.commit()
    db.session.commit()
    endpoints = [endpoint_id] if endpoint_id else delivery.due_endpoints(utcnow())
    db.session.rollback()
    total = sum(delivery.deliver_endpoint(e) for e in endpoints)
    click.echo(f"{total} delivered to {len(endpoints)} endpoint(s)")


COMMANDS = [webhooks_group]
