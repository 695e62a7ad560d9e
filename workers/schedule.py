"""Periodic jobs, declared as data. Each run is an RQ job scheduled at a fixed slot with the
deterministic id `<QUEUE_PREFIX>-periodic-<name>-<slot>`; a Redis `SET NX` claims the slot, so
any number of workers schedule each run once. Each run schedules the next one first.

The chain heals itself: every worker running the scheduler calls `ensure_scheduled` at start
and every maintenance round (30 s). A pointer names each job's latest run; when that run is
gone (Redis flushed, an error between claiming a slot and enqueuing it, a run that failed
before chaining), a catch-up run is scheduled at once and chains the rest."""

from __future__ import annotations

import importlib
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.utils import as_text

from workers.queues import MAINTENANCE_QUEUE, Queues

# A run in one of these states will still happen (and chain the next one).
PENDING = {JobStatus.SCHEDULED, JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED}


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
    Periodic("expire-vouchers", "workers.jobs.expire_vouchers", 300),
    # Webhooks: new outbox events fanned out and due deliveries queued, every 5 seconds.
    Periodic("pump-webhooks", "workers.webhooks.pump_webhooks", 5, timeout=300),
    Periodic("perk-popularity", "workers.jobs.refresh_perk_popularity", 900),
    # The daily tier review, checked hourly: each program's local day starts at its own hour.
    Periodic("review-tiers", "workers.tier_review.review_tiers", 3600),
    # Boards drift between rebuilds: a write lost to a Redis error, a member who may no longer
    # appear (reads never show them, but they still count in others' ranks).
    Periodic("rebuild-leaderboards", "workers.jobs.rebuild_leaderboards", 6 * 3600),
)


def _queues() -> Queues:
    return current_app.extensions["rewards_queues"]


def job_id(periodic: Periodic, slot: int) -> str:
    """The deterministic RQ job id of `periodic`'s run at `slot`. RQ keys jobs by id alone,
    so the id carries QUEUE_PREFIX: apps sharing a Redis never overwrite each other's runs."""
    return f"{current_app.config['QUEUE_PREFIX']}-periodic-{periodic.name}-{slot}"


def pointer_key(periodic: Periodic) -> str:
    """Redis key naming the job of `periodic`'s latest scheduled run."""
    return f"{current_app.config['QUEUE_PREFIX']}:periodic:{periodic.name}"


def next_slot(every_seconds: int, now: datetime) -> int:
    """The next slot (epoch seconds, a multiple of the period) strictly after `now`."""
    epoch = int(now.timestamp())
    return (epoch // every_seconds + 1) * every_seconds


def schedule_slot(periodic: Periodic, slot: int) -> bool:
    """Schedule `periodic` at `slot` unless some worker already did; True if this call did."""
    queues = _queues()
    redis = queues.redis
    run_id = job_id(periodic, slot)
    claim = f"{current_app.config['QUEUE_PREFIX']}:claim:{run_id}"
    if not redis.set(claim, 1, nx=True, ex=periodic.every_seconds * 3 + 60):
        return False
    try:
        # The job and the pointer to it are written together (MULTI/EXEC).
        with redis.pipeline() as pipe:
            queues.queue(MAINTENANCE_QUEUE).enqueue_at(
                datetime.fromtimestamp(slot, UTC),
                "workers.schedule.run_periodic",
                periodic.name,
                slot,
                job_id=run_id,
                job_timeout=periodic.timeout,
                result_ttl=3600,
                failure_ttl=7 * 24 * 3600,
                pipeline=pipe,
            )
            pipe.set(pointer_key(periodic), run_id)
            pipe.execute()
    except BaseException:
        with suppress(RedisError):  # nothing was scheduled: let the next check claim it again
            redis.delete(claim)
        raise
    return True


def chain_alive(periodic: Periodic) -> bool:
    """True if `periodic`'s latest scheduled run is still to happen or running."""
    queues = _queues()
    latest = queues.redis.get(pointer_key(periodic))
    if latest is None:
        return False
    try:
        job = Job.fetch(as_text(latest), connection=queues.redis)
    except NoSuchJobError:
        return False
    return job.get_status(refresh=False) in PENDING


def ensure_scheduled(now: datetime | None = None) -> list[str]:
    """Schedule a run of every periodic job whose chain is broken; returns the job ids added.

    The run goes in the slot now due (it runs at once), or, if that slot was taken by a run
    that already happened, in the next one."""
    now = now or datetime.now(UTC)
    added = []
    for periodic in PERIODIC:
        if chain_alive(periodic):
            continue
        upcoming = next_slot(periodic.every_seconds, now)
        for slot in (upcoming - periodic.every_seconds, upcoming):
            if schedule_slot(periodic, slot):
                added.append(job_id(periodic, slot))
                break
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
