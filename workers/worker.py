"""Worker entry point: the app is built once, its context pushed, and each forked work horse
gets fresh database connections (never share a pooled socket across a fork).

RQ's defaults notice a dead worker's job only after ~11 minutes (a 90 s heartbeat lease,
checked every 10 minutes; an idle worker wakes every 405 s). Ours check every
`MAINTENANCE_INTERVAL` seconds, with a short lease, so a chunk whose worker was killed runs
again within about a minute and a half (README, Operations)."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask
from redis.exceptions import RedisError
from rq import SimpleWorker, Worker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.exceptions import StopRequested
from rq.job import Job
from rq.worker.base import BaseWorker
from sqlalchemy import text

from campaigns.challenges.feed import warm_challenge_sets
from campaigns.earning.feed import warm_rulesets
from rewards.db import db, is_postgres
from workers.queues import CHUNK_JOB, QUEUE_NAMES
from workers.schedule import ensure_scheduled
from workers.supervision import SupervisedScheduler

log = logging.getLogger(__name__)

# A forking worker renews its running job's lease this often (RQ: 30 s) ...
JOB_MONITORING_INTERVAL = 10
# ... and the job counts as abandoned this long after the last renewal (RQ: 60 s).
HEARTBEAT_GRACE = 20
# Retry abandoned jobs, take over a dead scheduler's lock, re-chain periodic jobs (RQ: 600 s).
MAINTENANCE_INTERVAL = 30
# An idle worker blocks on the queues for `worker_ttl - 15` s: wake it for maintenance.
WORKER_TTL = MAINTENANCE_INTERVAL + 15


class HealingWorker(BaseWorker):
    """Runs RQ's maintenance often, starts a scheduler that stops when its worker dies, and
    (with `keep_schedule`) re-creates the periodic jobs if Redis lost them."""

    def __init__(self, *args: Any, keep_schedule: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL)
        kwargs.setdefault("worker_ttl", WORKER_TTL)
        kwargs.setdefault("job_monitoring_interval", JOB_MONITORING_INTERVAL)
        super().__init__(*args, **kwargs)
        self.keep_schedule = keep_schedule

    def run_maintenance_tasks(self) -> None:
        """RQ's maintenance (abandoned jobs retried, scheduler restarted), then the chain."""
        super().run_maintenance_tasks()
        if not self.keep_schedule:
            return
        try:
            added = ensure_scheduled()
        except RedisError:  # Redis is down: the next round tries again
            log.warning("could not check the periodic jobs", exc_info=True)
            return
        if added:
            log.info("periodic jobs re-created: %s", ", ".join(added))

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        # RQ's own body, with a scheduler that gives its lock back when this worker dies.
        self.scheduler = SupervisedScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return  # another worker schedules; maintenance takes over if it dies
        if burst:
            try:
                self.scheduler.register_birth()
                self.scheduler.enqueue_scheduled_jobs()
            finally:
                self.scheduler.release_locks()
                self.scheduler.register_death()
        else:
            self.scheduler.start()


class FeedWorker(HealingWorker, Worker):
    """RQ's forking worker that compiles the programs' campaign rule sets and challenge sets
    before it forks a chunk job's work horse, so horses inherit them (a horse's own cache
    dies with it)."""

    def get_heartbeat_ttl(self, job: Job) -> int:
        """The running job's lease: renewed every JOB_MONITORING_INTERVAL by this process."""
        interval = self.job_monitoring_interval
        if job.timeout and job.timeout > 0:
            interval = int(min(job.timeout - self.current_job_working_time, interval))
        return interval + HEARTBEAT_GRACE

    def execute_job(self, job: Any, queue: Any) -> Any:
        if job.func_name == CHUNK_JOB and is_postgres():
            try:
                # A hung database must not hold a dequeued job outside its timeout.
                db.session.execute(text("SET LOCAL statement_timeout = '5s'"))
                warm_rulesets()
                warm_challenge_sets()
            except StopRequested:
                # SIGTERM while warming (RQ raises it when idle): finish this job, then stop.
                self._stop_requested = True
            except Exception:  # the horse compiles what it needs itself; never lose the job
                log.warning("could not warm the rule and challenge sets", exc_info=True)
            finally:
                db.session.remove()  # no transaction or checked-out connection across the fork
        return super().execute_job(job, queue)


class InProcessWorker(HealingWorker, SimpleWorker):
    """`--no-fork`: jobs run in the worker process. Nothing renews a running job's lease
    here, so RQ's lease (the job's timeout + 60 s) stays: a killed one heals after that."""


def run_worker(
    app: Flask,
    *,
    queue_names: tuple[str, ...] = QUEUE_NAMES,
    burst: bool = False,
    fork: bool = True,
    scheduler: bool = True,
    name: str | None = None,
) -> None:
    """Work the given queues until stopped (or until empty with `burst`)."""
    with app.app_context():
        engine = db.engine
        os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
        queues_ext = app.extensions["rewards_queues"]
        queues = [queues_ext.queue(q) for q in queue_names]
        if scheduler:
            ensure_scheduled()
        worker_class = FeedWorker if fork else InProcessWorker
        worker = worker_class(
            queues, connection=queues_ext.redis, name=name, keep_schedule=scheduler
        )
        worker.work(burst=burst, with_scheduler=scheduler)
