"""Worker entry point: the app is built once, its context pushed, and each forked work horse
gets fresh database connections (never share a pooled socket across a fork)."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask
from rq import SimpleWorker, Worker
from rq.exceptions import StopRequested
from sqlalchemy import text

from campaigns.feed import warm_rulesets
from rewards.db import db, is_postgres
from workers.queues import QUEUE_NAMES
from workers.schedule import ensure_scheduled

log = logging.getLogger(__name__)
CHUNK_JOB = "workers.jobs.process_transactions"


class FeedWorker(Worker):
    """RQ's forking worker that compiles the programs' campaign rule sets before it forks a
    chunk job's work horse, so horses inherit them (a horse's own cache dies with it)."""

    def execute_job(self, job: Any, queue: Any) -> Any:
        if job.func_name == CHUNK_JOB and is_postgres():
            try:
                # A hung database must not hold a dequeued job outside its timeout.
                db.session.execute(text("SET LOCAL statement_timeout = '5s'"))
                warm_rulesets()
            except StopRequested:
                # SIGTERM while warming (RQ raises it when idle): finish this job, then stop.
                self._stop_requested = True
            except Exception:  # the horse compiles what it needs itself; never lose the job
                log.warning("could not warm the campaign rule sets", exc_info=True)
            finally:
                db.session.remove()  # no transaction or checked-out connection across the fork
        return super().execute_job(job, queue)


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
        worker_class = FeedWorker if fork else SimpleWorker
        worker = worker_class(queues, connection=queues_ext.redis, name=name)
        worker.work(burst=burst, with_scheduler=scheduler)
