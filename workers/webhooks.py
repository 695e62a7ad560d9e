"""Webhook jobs: the pump (scheduled every few seconds) fans new outbox events out into
deliveries and enqueues one sending job per endpoint with a delivery due; each sending job
delivers one endpoint's line (`rewards.events.delivery`).

A Redis marker per endpoint keeps the pump from queueing a second job for an endpoint whose
job is still waiting; the endpoint's lease keeps two running jobs from sending at once."""

from __future__ import annotations

import logging
from contextlib import suppress

from flask import current_app
from redis.exceptions import RedisError

from rewards.db import db
from rewards.events.delivery import deliver_endpoint, due_endpoints
from rewards.events.dispatch import BATCH, dispatch
from rewards.ledger import utcnow
from workers.jobs import unit_of_work
from workers.queues import WEBHOOK_QUEUE, Queues

log = logging.getLogger(__name__)
SEND_JOB = "workers.webhooks.send_webhooks"
QUEUED_MARK_SECONDS = 120


def _queues() -> Queues:
    return current_app.extensions["rewards_queues"]  # type: ignore[no-any-return]


def _mark(endpoint_id: int) -> str:
    return f"{current_app.config['QUEUE_PREFIX']}:webhook-queued:{endpoint_id}"


def pump_webhooks(max_events: int = 50_000) -> int:
    """Scheduled: fan out new events, then queue a sending job per endpoint with one due;
    returns the number of sending jobs queued."""
    handled = 0
    while handled < max_events:
        with unit_of_work():
            done = dispatch()
        handled += done
        if done < BATCH:
            break
    with unit_of_work():
        due = due_endpoints(utcnow())
    queued = 0
    for endpoint_id in due:
        if not current_app.config["JOBS_INLINE"]:
            try:
                if not _queues().redis.set(_mark(endpoint_id), 1, nx=True, ex=QUEUED_MARK_SECONDS):
                    continue  # its job is still waiting for a worker
            except RedisError as exc:
                log.warning("webhook pump could not reach Redis (%s)", exc)
                return queued
        _queues().enqueue(SEND_JOB, endpoint_id, queue=WEBHOOK_QUEUE, timeout=900, retries=0)
        queued += 1
    return queued


def send_webhooks(endpoint_id: int) -> int:
    """Deliver one endpoint's due deliveries in order (see `deliver_endpoint`)."""
    if not current_app.config["JOBS_INLINE"]:
        with suppress(RedisError):  # else the mark expires by itself
            _queues().redis.delete(_mark(endpoint_id))
    try:
        return deliver_endpoint(endpoint_id)
    finally:
        db.session.remove()
