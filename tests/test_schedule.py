"""Periodic jobs: scheduled once per slot by any number of workers, re-created when Redis lost
them, and a real worker with RQ's scheduler runs due periodic jobs, which chain their next slot."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from rq.job import Job
from rq.registry import FinishedJobRegistry, ScheduledJobRegistry

from tests.ledger_helpers import balance, enrol, status_of, store
from tests.test_worker_processes import REWARDS, _env
from workers.queues import MAINTENANCE_QUEUE
from workers.schedule import (
    PERIODIC,
    chain_alive,
    ensure_scheduled,
    job_id,
    next_slot,
    pointer_key,
    run_periodic,
)

NOW = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)


def _scheduled(app) -> set[str]:
    queue = app.extensions["rewards_queues"].queue(MAINTENANCE_QUEUE)
    return set(ScheduledJobRegistry(queue=queue).get_job_ids())


def test_each_periodic_job_is_scheduled_once_however_many_workers_ask(app):
    first = ensure_scheduled(NOW)
    assert len(first) == len(PERIODIC)
    assert ensure_scheduled(NOW) == []  # a second worker starting now adds nothing
    assert _scheduled(app) == set(first)


def test_a_broken_chain_gets_a_run_due_now(app):
    # 12:00:30 → the slots due now are 12:00:00 (every minute, every 5 minutes, hourly), and
    # 12:00:30 itself for the webhook pump (every 5 seconds).
    noon = int(datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp())
    due = {p.name: noon + 30 if p.every_seconds == 5 else noon for p in PERIODIC}
    assert set(ensure_scheduled(NOW)) == {job_id(p, due[p.name]) for p in PERIODIC}


def test_a_periodic_run_chains_its_next_slot(app):
    sweep = PERIODIC[0]
    slot = next_slot(sweep.every_seconds, datetime.now(UTC))
    run_periodic(sweep.name, slot)
    chained = job_id(sweep, slot + sweep.every_seconds)
    assert chained in _scheduled(app)
    redis = app.extensions["rewards_queues"].redis
    assert redis.get(pointer_key(sweep)) == chained.encode()
    assert chain_alive(sweep)


def test_runs_lost_with_redis_are_scheduled_again(app, redis):
    added = ensure_scheduled(NOW)
    prefix = app.config["QUEUE_PREFIX"]
    for key in redis.scan_iter(f"*{prefix}*"):  # what a FLUSHDB does to this app's keys
        redis.delete(key)
    assert not any(Job.exists(run, connection=redis) for run in added)
    assert not any(chain_alive(p) for p in PERIODIC)
    assert len(ensure_scheduled(NOW + timedelta(seconds=10))) == len(PERIODIC)
    assert all(chain_alive(p) for p in PERIODIC)


def test_a_slot_whose_enqueue_failed_is_claimed_again(app, monkeypatch):
    from rq import Queue

    def unreachable(*args, **kwargs):
        raise RedisConnectionError("Redis went away between the claim and the enqueue")

    with monkeypatch.context() as broken:
        broken.setattr(Queue, "enqueue_at", unreachable)
        with pytest.raises(RedisConnectionError):
            ensure_scheduled(NOW)
    assert not any(chain_alive(p) for p in PERIODIC)
    # The claim was given back: the next check (the same second) schedules every job.
    assert len(ensure_scheduled(NOW)) == len(PERIODIC)


def test_a_finished_run_that_did_not_chain_is_followed_by_a_catch_up(app):
    sweep = PERIODIC[0]
    slot = next_slot(sweep.every_seconds, NOW) - sweep.every_seconds
    ensure_scheduled(NOW)
    queues = app.extensions["rewards_queues"]
    job = Job.fetch(job_id(sweep, slot), connection=queues.redis)
    job.set_status("finished")  # it ran, but its chaining step failed
    assert not chain_alive(sweep)
    # Its slot is taken (it ran), so the catch-up goes in the next one.
    assert ensure_scheduled(NOW) == [job_id(sweep, slot + sweep.every_seconds)]


def test_a_worker_with_the_scheduler_runs_due_periodic_jobs_that_chain(app, program):
    # A row stored two minutes ago that no queue holds: the sweeper's work.
    card = enrol(program.id)
    stranded = store(
        program.id,
        card.token,
        "stranded",
        amount_minor=500,
        received_at=datetime.now(UTC) - timedelta(minutes=2),
    )
    result = subprocess.run(
        [REWARDS, "worker", "--burst"], env=_env(app), capture_output=True, timeout=120
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]

    queues = app.extensions["rewards_queues"]
    finished = set(FinishedJobRegistry(queue=queues.queue(MAINTENANCE_QUEUE)).get_job_ids())
    scheduled = _scheduled(app)
    for periodic in PERIODIC:
        ran = [j for j in finished if j.startswith(job_id(periodic, 0)[:-1])]
        # The run due when the worker started (and one more if a slot came due meanwhile) ...
        assert 1 <= len(ran) <= 2, finished
        slot = max(int(run.rsplit("-", 1)[1]) for run in ran)
        # ... chained the next one, waiting in the registry: the slot after it, or, if the run
        # started after that slot's time had passed, the first slot still ahead (missed slots
        # are skipped, not replayed).
        nexts = [slot + periodic.every_seconds * k for k in (1, 2)]
        assert any(job_id(periodic, s) in scheduled for s in nexts), (nexts, scheduled)
    assert status_of(stranded) == "processed"  # and the sweeper did its work
    assert balance(card.customer_id) == (500, 0)
