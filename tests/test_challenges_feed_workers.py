"""Two real `rewards worker` processes, each holding a chunk with a purchase of the same
customer that completes the same challenge: exactly one reward (the account lock serialises
the customer; the second chunk reads the first one's completion)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from flask import current_app

from rewards.db import db
from tests.challenge_feed_helpers import counters, make_challenge, progress, rewards
from tests.ledger_helpers import assert_reconciled, balance, enrol, store
from tests.process_helpers import count, lock_waiters, poll, start_worker, stop
from workers.queues import CHUNK_JOB

pytestmark = pytest.mark.slow


def test_two_workers_completing_the_same_challenge_reward_it_once(app, program):
    cid = make_challenge(program.id, goal={"type": "count", "target": 1})
    card = enrol(program.id)
    now = datetime.now(UTC)
    ids = [
        store(program.id, card.token, f"p-{n}", amount_minor=1000, occurred_at=now - timedelta(n))
        for n in range(2)
    ]
    queues = current_app.extensions["rewards_queues"]
    for tx_id in ids:  # one chunk each: each alone would complete the challenge
        queues.enqueue(CHUNK_JOB, [tx_id])
    with db.engine.connect() as blocker:
        blocker.execute(
            db.text("SELECT id FROM accounts WHERE customer_id = :c FOR UPDATE"),
            {"c": card.customer_id},
        )
        workers = [
            start_worker(app, "--no-scheduler", "--burst", "--name", f"cw{i}-{os.getpid()}")
            for i in range(2)
        ]
        try:
            # Both at work at once: each holds its chunk, waiting for the customer's account.
            poll(lambda: lock_waiters() == 2, 60, "the two workers never held work at once")
            assert count("processed") == 0
            blocker.rollback()
            for proc in workers:
                _, err = proc.communicate(timeout=120)
                assert proc.returncode == 0, err.decode()[-2000:]
        finally:
            for proc in workers:
                stop(proc)
    assert count("processed") == 2
    assert progress(card.customer_id, cid) == {"c": (2, "completed", 1, 200)}
    assert len(rewards()) == 1
    assert counters(cid) == (1, 1)
    assert balance(card.customer_id) == (2200, 0)
    assert_reconciled()


def test_a_forking_worker_compiles_the_challenge_sets_before_each_fork(app, program):
    """The work horse inherits the challenge set its parent compiled before forking it."""
    from sqlalchemy import select

    from campaigns.challenges.feed import compiled
    from rewards.models import Program
    from workers.worker import FeedWorker

    cid = make_challenge(program.id, goal={"type": "count", "target": 1})
    card = enrol(program.id)
    tx_id = store(program.id, card.token, "p-1", amount_minor=1000)
    db.session.commit()
    revision = db.session.scalar(select(Program.rules_revision).where(Program.id == program.id))
    compiled.forget_challenge_sets()
    queues = current_app.extensions["rewards_queues"]
    queues.enqueue(CHUNK_JOB, [tx_id])
    # The horse must not share the test's pooled connection (`run_worker` does the same).
    os.register_at_fork(after_in_child=lambda: db.engine.dispose(close=False))
    FeedWorker([queues.queue("feed")], connection=queues.redis).work(burst=True)

    assert (program.id, revision) in compiled._SETS  # compiled here, in the parent
    assert progress(card.customer_id, cid) == {"c": (1, "completed", 1, 200)}  # and used
