"""Real `rewards worker` processes: end to end, SIGKILL mid-chunk, and two workers at once."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime

import pytest
from flask import current_app
from sqlalchemy import select

from rewards.db import db
from rewards.models import Account, Transaction
from tests.ledger_helpers import assert_reconciled, enrol
from tests.process_helpers import (
    REWARDS,
    count,
    kill_whole_worker,
    lock_waiters,
    poll,
    start_worker,
    stop,
    worker_env,
)
from workers.queues import CHUNK_JOB, enqueue_transactions

pytestmark = pytest.mark.slow


def _env(app) -> dict[str, str]:
    return worker_env(app)


def _worker(app, *args: str) -> subprocess.Popen:
    return start_worker(app, "--no-scheduler", *args)


def _seed(program_id: int, customers: int, per_customer: int) -> dict[int, int]:
    """Store purchases (amount = 100 + i) and return the expected points per customer."""
    cards = [enrol(program_id, token=f"tok-{c}") for c in range(customers)]
    rows, expected, now = [], {}, datetime.now(UTC)
    for card in cards:
        amounts = [100 + i for i in range(per_customer)]
        expected[card.customer_id] = sum(amounts)
        rows += [
            {
                "program_id": program_id,
                "external_id": f"{card.token}-{i}",
                "card_token": card.token,
                "kind": "purchase",
                "amount_minor": a,
                "currency": "JPY",
                "mcc": "5812",
                "category": "dining",
                "merchant_id": "m",
                "merchant_name": "M",
                "channel": "online",
                "occurred_at": now,
                "status": "received",
                "refunded_minor": 0,
            }
            for i, a in enumerate(amounts)
        ]
    db.session.execute(Transaction.__table__.insert(), rows)
    db.session.commit()
    return expected


def _enqueue_all() -> None:
    ids = list(db.session.scalars(select(Transaction.id).order_by(Transaction.id)))
    enqueue_transactions(ids)


def _balances() -> dict[int, int]:
    db.session.expire_all()
    return dict(db.session.execute(select(Account.customer_id, Account.available)).all())


def _received() -> int:
    return count("received")


def _run_burst(app) -> None:
    proc = _worker(app, "--burst")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]


def _sweep_all(app) -> None:
    """`rewards sweep --all`: re-enqueue every row not processed, queued or not."""
    result = subprocess.run(
        [REWARDS, "sweep", "--all"], env=_env(app), capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()


def _enqueue_chunks(ids: list[int], size: int) -> None:
    queues = current_app.extensions["rewards_queues"]
    for start in range(0, len(ids), size):
        queues.enqueue(CHUNK_JOB, ids[start : start + size])


def test_worker_process_turns_a_feed_into_points(app, program):
    expected = _seed(program.id, customers=40, per_customer=60)  # 2,400 rows, 3 chunks
    _enqueue_all()
    _run_burst(app)
    assert _received() == 0
    assert _balances() == expected
    assert_reconciled()


def test_sigkill_mid_chunk_then_restart_leaves_the_ledger_exact(app, program):
    expected = _seed(program.id, customers=20, per_customer=50)  # customer by customer
    ids = list(db.session.scalars(select(Transaction.id).order_by(Transaction.id)))
    _enqueue_chunks(ids, 500)
    held = sorted(expected)[15]  # a customer of the second chunk
    with db.engine.connect() as blocker:
        # Hold one account: the worker commits chunk 1, then stops inside chunk 2.
        blocker.execute(
            db.text("SELECT id FROM accounts WHERE customer_id = :c FOR UPDATE"), {"c": held}
        )
        proc = _worker(app)
        try:
            poll(lock_waiters, 60, "the worker never blocked inside its second chunk")
            assert kill_whole_worker(proc) is not None  # the horse, mid-chunk, died too
        finally:
            stop(proc)
        blocker.rollback()
    # The kill landed mid-work: chunk 1 is in; chunk 2's transaction died with its horse.
    assert count("processed") == 500
    assert_reconciled()
    _sweep_all(app)
    _run_burst(app)
    assert _received() == 0
    assert _balances() == expected
    assert_reconciled()


def test_sigkill_at_a_random_moment_then_restart_leaves_the_ledger_exact(app, program):
    expected = _seed(program.id, customers=100, per_customer=200)  # 20,000 rows
    _enqueue_all()
    proc = _worker(app)
    try:
        # As soon as a first chunk is in: the worker is at work on the next one.
        poll(lambda: count("processed") > 0, 120, "the worker never committed a chunk")
        kill_whole_worker(proc)
    finally:
        stop(proc)
    assert 0 < count("processed") < len(expected) * 200  # the kill landed mid-feed
    assert_reconciled()
    _sweep_all(app)
    _run_burst(app)
    assert _balances() == expected
    assert_reconciled()


def test_two_workers_on_the_same_chunks_credit_each_transaction_once(app, program):
    expected = _seed(program.id, customers=30, per_customer=100)  # 2 partitions
    _enqueue_all()
    _enqueue_all()  # every chunk queued twice, as after a sweeper re-enqueue
    held = sorted(expected)[0]
    with db.engine.connect() as blocker:
        blocker.execute(
            db.text("SELECT id FROM accounts WHERE customer_id = :c FOR UPDATE"), {"c": held}
        )
        workers = [_worker(app, "--burst", "--name", f"w{i}-{os.getpid()}") for i in range(2)]
        try:
            # Both at work at once: one holds the chunk of the held customer's partition,
            # blocked inside it, while the other commits the other partition's chunk.
            poll(
                lambda: lock_waiters() == 1 and count("processed") > 0,
                60,
                "the two workers never worked at the same time",
            )
            assert 0 < count("processed") < len(expected) * 100
            blocker.rollback()
            for proc in workers:
                _, err = proc.communicate(timeout=120)
                assert proc.returncode == 0, err.decode()[-2000:]
        finally:
            for proc in workers:
                stop(proc)
    assert _received() == 0
    assert _balances() == expected
    assert_reconciled()


def test_a_forking_worker_compiles_the_rule_sets_before_each_fork(app, program, launch):
    """The work horse inherits the rule sets its parent compiled before forking it."""
    from campaigns.earning import feed
    from rewards.models import LedgerEntry, Program
    from tests.ledger_helpers import store
    from workers.worker import FeedWorker

    launch(effect={"type": "fixed_bonus", "value": "7"})
    card = enrol(program.id)
    store(program.id, card.token, "p-1", amount_minor=1000)
    db.session.commit()
    _enqueue_all()
    revision = db.session.scalar(select(Program.rules_revision).where(Program.id == program.id))
    feed.forget_rulesets()
    # The horse must not share the test's pooled connection (`run_worker` does the same).
    os.register_at_fork(after_in_child=lambda: db.engine.dispose(close=False))
    queues = app.extensions["rewards_queues"]
    FeedWorker([queues.queue("feed")], connection=queues.redis).work(burst=True)

    assert (program.id, revision) in feed._RULESETS  # compiled here, in the parent
    bonus = db.session.scalars(select(LedgerEntry.points).where(LedgerEntry.kind == "bonus"))
    assert list(bonus) == [7]  # and the horse earned with them


def test_a_stop_signal_while_warming_lets_the_job_finish_then_stops(app, program, monkeypatch):
    """SIGTERM reaching the worker while it warms the rule sets: that job runs, no other."""
    from rq.exceptions import StopRequested

    from tests.ledger_helpers import store
    from workers import worker as worker_module

    def interrupted() -> None:
        raise StopRequested()

    monkeypatch.setattr(worker_module, "warm_rulesets", interrupted)
    cards = [enrol(program.id, token=f"tok-{n}") for n in range(2)]
    for card in cards:
        store(program.id, card.token, f"{card.token}-p", amount_minor=100)
        db.session.commit()
        _enqueue_all_new()
    os.register_at_fork(after_in_child=lambda: db.engine.dispose(close=False))
    queues = app.extensions["rewards_queues"]
    worker_module.FeedWorker([queues.queue("feed")], connection=queues.redis).work(burst=True)
    assert _received() == 1  # the first chunk ran; the worker stopped before the second
    assert queues.queue("feed").count == 1


def _enqueue_all_new() -> None:
    ids = list(
        db.session.scalars(
            select(Transaction.id).where(Transaction.status == "received").order_by(Transaction.id)
        )
    )
    enqueue_transactions(ids[-1:])
