"""Worker entry point: the app is built once, its context pushed, and each forked work horse
gets fresh database connections (never share a pooled socket across a fork)."""

from __future__ import annotations

import os

from flask import Flask
from rq import SimpleWorker, Worker

from rewards.db import db
from workers.queues import QUEUE_NAMES
from workers.schedule import ensure_scheduled


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
        worker_class = Worker if fork else SimpleWorker
        worker = worker_class(queues, connection=queues_ext.redis, name=name)
        worker.work(burst=burst, with_scheduler=scheduler)
