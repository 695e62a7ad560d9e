"""Periodic jobs: scheduled once per slot by any number of workers, and a real worker with
RQ's scheduler starts, runs a due periodic job and chains the next slot."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

from rq.registry import ScheduledJobRegistry

from tests.test_worker_processes import REWARDS, _env
from workers.queues import MAINTENANCE_QUEUE
from workers.schedule import PERIODIC, ensure_scheduled, next_slot, run_periodic


def test_each_slot_is_scheduled_once_however_many_workers_ask(app):
    now = datetime.now(UTC)
    first = ensure_scheduled(now)
    assert len(first) == len(PERIODIC)
    assert ensure_scheduled(now) == []  # a second worker starting now adds nothing
    queue = app.extensions["rewards_queues"].queue(MAINTENANCE_QUEUE)
    assert len(ScheduledJobRegistry(queue=queue).get_job_ids()) == len(PERIODIC)


def test_a_periodic_run_chains_its_next_slot(app):
    sweep = PERIODIC[0]
    slot = next_slot(sweep.every_seconds, datetime.now(UTC))
    run_periodic(sweep.name, slot)
    queue = app.extensions["rewards_queues"].queue(MAINTENANCE_QUEUE)
    ids = ScheduledJobRegistry(queue=queue).get_job_ids()
    assert f"periodic-{sweep.name}-{slot + sweep.every_seconds}" in ids


def test_a_worker_with_the_scheduler_starts_and_drains(app):
    result = subprocess.run(
        [REWARDS, "worker", "--burst"], env=_env(app), capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
