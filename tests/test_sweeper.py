"""The sweeper re-enqueues rows that no pending chunk job holds, a minute after they were
stored; rows queued (or waiting for a retry) behind busy workers are left alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rq.registry import ScheduledJobRegistry

from tests.ledger_helpers import balance, enrol, store
from workers.jobs import sweep_stranded
from workers.queues import CHUNK_JOB, enqueue_transactions


def _stored_earlier(program_id: int, token: str, count: int, minutes_ago: float) -> list[int]:
    received_at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return [
        store(program_id, token, f"{token}-{n}", amount_minor=100, received_at=received_at)
        for n in range(count)
    ]


def test_rows_a_queued_job_holds_are_left_alone(app, program):
    card = enrol(program.id)
    enqueue_transactions(_stored_earlier(program.id, card.token, 3, minutes_ago=20))
    feed = app.extensions["rewards_queues"].queue("feed")
    assert feed.count == 1
    assert sweep_stranded() == 0  # queued behind busy workers: not queued twice
    assert feed.count == 1


def test_rows_whose_job_was_lost_are_queued_again_after_a_minute(app, program, run_jobs):
    card = enrol(program.id)
    _stored_earlier(program.id, card.token, 2, minutes_ago=2)  # their job never made it
    fresh = _stored_earlier(program.id, card.token + "-new", 1, minutes_ago=0)
    assert fresh  # stored a moment ago: maybe between its commit and its enqueue
    assert sweep_stranded() == 2
    run_jobs()
    assert balance(card.customer_id) == (200, 0)


def test_rows_waiting_for_a_retry_are_held(app, program):
    card = enrol(program.id)
    ids = _stored_earlier(program.id, card.token, 2, minutes_ago=5)
    feed = app.extensions["rewards_queues"].queue("feed")
    # A chunk job that failed once and waits for its retry in the scheduled registry.
    feed.enqueue_at(datetime.now(UTC) + timedelta(seconds=30), CHUNK_JOB, ids)
    assert len(ScheduledJobRegistry(queue=feed)) == 1
    assert sweep_stranded() == 0
    assert feed.count == 0


def test_the_operator_can_requeue_held_rows_too(app, program):
    card = enrol(program.id)
    enqueue_transactions(_stored_earlier(program.id, card.token, 3, minutes_ago=20))
    assert sweep_stranded(older_than_seconds=0, even_if_queued=True) == 3
    assert app.extensions["rewards_queues"].queue("feed").count == 2
