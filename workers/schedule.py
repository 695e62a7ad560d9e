"""Periodic jobs, declared as data. Each run is an RQ job scheduled at a fixed slot with the
deterministic id `periodic-<name>-<slot>`; a Redis `SET NX` claims the slot, so any number of
workers calling `ensure_scheduled` schedule each run once. Each run schedules the next one
first, and every worker start re-ensures the chain, so a lost job only delays one period."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app

from workers.queues import MAINTENANCE_QUEUE, Queues


@dataclass(frozen=True)
class Periodic:
    name: str
    func_path: str
    every_seconds: int
    timeout: int = 1800


PERIODIC = (
    Periodic("sweep-stranded", "workers.jobs.sweep_stranded", 60),
    Periodic("release-pending", "workers.jobs.release_pending_points", 300),
    Periodic("expire-points", "workers.jobs.expire_points", 3600),
)


def _queues() -> Queues:
    return current_app.extensions["rewards_queues"]


def next_slot(every_seconds: int, now: datetime) -> int:
    """The next slot (epoch seconds, a multiple of the period) strictly after `now`."""
    epoch = int(now.timestamp())
    return (epoch // every_seconds + 1) * every_seconds


def schedule_slot(periodic: Periodic, slot: int) -> bool:
    """Schedule `periodic` at `slot` unless some worker already did; True if this call did."""
    queues = _queues()
    prefix = current_app.config["QUEUE_PREFIX"]
    job_id = f"periodic-{periodic.name}-{slot}"
    claim = f"{prefix}:claim:{job_id}"
    if not queues.redis.set(claim, 1, nx=True, ex=periodic.every_seconds * 3 + 60):
        return False
    queues.queue(MAINTENANCE_QUEUE).enqueue_at(
        datetime.fromtimestamp(slot, UTC),
        "workers.schedule.run_periodic",
        periodic.name,
        slot,
        job_id=job_id,
        job_timeout=periodic.timeout,
        result_ttl=3600,
        failure_ttl=7 * 24 * 3600,
    )
    return True


def ensure_scheduled(now: datetime | None = None) -> list[str]:
    """Make sure every periodic job has its next run scheduled; returns the job ids added."""
    now = now or datetime.now(UTC)
    added = []
    for periodic in PERIODIC:
        slot = next_slot(periodic.every_seconds, now)
        if schedule_slot(periodic, slot):
            added.append(f"periodic-{periodic.name}-{slot}")
    return added


def run_periodic(name: str, slot: int) -> object:
    """Body of every periodic job: chain the next slot, then do the work."""
    periodic = next(p for p in PERIODIC if p.name == name)
    # After downtime, skip the missed slots instead of replaying them one after another.
    schedule_slot(
        periodic,
        max(slot + periodic.every_seconds, next_slot(periodic.every_seconds, datetime.now(UTC))),
    )
    module, _, func = periodic.func_path.rpartition(".")
    return getattr(importlib.import_module(module), func)()
