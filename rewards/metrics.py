"""Operational metrics in Prometheus form, read from PostgreSQL when scraped.

The API, the workers and the scheduler are separate processes (and machines, in production),
so counters kept in one process's memory would show only that process's share. Everything
here is counted from the rows instead, each through an index: pending webhook deliveries, the
last hour's attempts (failures, latency), the outbox backlog, the feed's waiting rows, and the
rows PostgreSQL's statistics say were ever stored. A scrape never reads a whole table.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from rewards.db import db, is_postgres
from rewards.events.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from rewards.ledger import utcnow
from rewards.models import Event, Transaction

LATENCY_BUCKETS_MS = (50, 100, 250, 500, 1000, 2500, 5000, 10000)
WINDOW = timedelta(hours=1)
WAITING = ("received", "unmatched", "waiting_for_original")


class RewardsCollector(Collector):
    """Collects every family below on each scrape, inside the caller's app context."""

    def collect(self) -> Iterator[Any]:
        try:
            yield from _deliveries()
            yield from _attempts()
            yield from _endpoints()
            yield from _feed()
        finally:
            db.session.rollback()  # read only; hand the connection back clean


def _deliveries() -> Iterator[Any]:
    family = GaugeMetricFamily("rewards_webhook_pending", "Webhook deliveries waiting to be sent")
    family.add_metric([], db.session.scalar(
        select(func.count()).select_from(WebhookDelivery)
        .where(WebhookDelivery.status == "pending")  # the partial index of the sender
    ) or 0)  # fmt: skip
    yield family
    outbox = GaugeMetricFamily("rewards_outbox_unpublished", "Outbox events not yet fanned out")
    outbox.add_metric([], db.session.scalar(
        select(func.count()).select_from(Event).where(Event.published_at.is_(None))
    ) or 0)  # fmt: skip
    yield outbox


def _attempts() -> Iterator[Any]:
    """The last hour's attempts (an index on `attempted_at`: a scrape never reads them all)."""
    ok = WebhookAttempt.status_code.between(200, 299)
    buckets = [func.count().filter(WebhookAttempt.latency_ms <= b) for b in LATENCY_BUCKETS_MS]
    row = db.session.execute(
        select(
            func.count(),
            func.count().filter(~ok | WebhookAttempt.status_code.is_(None)),
            func.coalesce(func.sum(WebhookAttempt.latency_ms), 0),
            *buckets,
        ).where(WebhookAttempt.attempted_at > utcnow() - WINDOW)
    ).one()
    total, failed, latency_sum, *cumulative = row
    attempts = GaugeMetricFamily(
        "rewards_webhook_attempts_last_hour", "Webhook HTTP attempts in the last hour"
    )
    attempts.add_metric([], total)
    yield attempts
    failures = GaugeMetricFamily(
        "rewards_webhook_failures_last_hour", "Attempts without a 2xx answer in the last hour"
    )
    failures.add_metric([], failed)
    yield failures
    latency = HistogramMetricFamily(
        "rewards_webhook_latency_last_hour_seconds", "Webhook attempt latency, last hour"
    )
    latency.add_metric(
        [],
        [(str(b / 1000), n) for b, n in zip(LATENCY_BUCKETS_MS, cumulative, strict=True)]
        + [("+Inf", total)],
        sum_value=latency_sum / 1000,
    )
    yield latency


def _endpoints() -> Iterator[Any]:
    family = GaugeMetricFamily(
        "rewards_webhook_endpoints", "Webhook endpoints by state", labels=["state"]
    )
    live = (
        select(func.count())
        .select_from(WebhookEndpoint)
        .where(WebhookEndpoint.deleted_at.is_(None))
    )
    family.add_metric(["enabled"], db.session.scalar(live.where(WebhookEndpoint.enabled)) or 0)
    family.add_metric(["disabled"], db.session.scalar(live.where(~WebhookEndpoint.enabled)) or 0)
    family.add_metric(
        ["failing"], db.session.scalar(live.where(WebhookEndpoint.failing_since.is_not(None))) or 0
    )
    yield family


def _feed() -> Iterator[Any]:
    waiting = GaugeMetricFamily(
        "rewards_feed_waiting", "Transactions waiting, by status", labels=["status"]
    )
    for status in WAITING:
        count = db.session.scalar(
            select(func.count()).select_from(Transaction).where(Transaction.status == status)
        )
        waiting.add_metric([status], count or 0)
    yield waiting
    if not is_postgres():
        return
    stored = CounterMetricFamily(
        "rewards_rows_stored", "Rows ever inserted (PostgreSQL statistics)", labels=["table"]
    )
    for table, inserted in db.session.execute(
        text(
            "SELECT relname, n_tup_ins FROM pg_stat_user_tables WHERE relname IN "
            "('transactions', 'ledger_entries', 'redemptions', 'events')"
        )
    ):
        stored.add_metric([table], inserted)
    yield stored
