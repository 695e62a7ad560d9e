"""Real `rewards worker` processes: end to end, SIGKILL mid-chunk, and two workers at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rewards.db import db
from rewards.models import Account, Transaction
from tests.conftest import TEST_REDIS_URL
from tests.ledger_helpers import assert_reconciled, enrol
from workers.queues import enqueue_transactions

pytestmark = pytest.mark.slow
REWARDS = str(Path(sys.executable).with_name("rewards"))


def _env(app) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": TEST_REDIS_URL,
        "QUEUE_PREFIX": app.config["QUEUE_PREFIX"],
        "JWT_SECRET": "unused-in-workers",
    }


def _worker(app, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [REWARDS, "worker", "--no-scheduler", *args],
        env=_env(app),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: SIGKILL reaches the work horse too
    )


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
    return db.session.scalar(
        select(func.count()).select_from(Transaction).where(Transaction.status == "received")
    )


def _wait_for_lock_wait(timeout: float = 30) -> None:
    query = db.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.engine.connect() as conn:
            if conn.execute(query).scalar():
                return
        time.sleep(0.05)
    raise AssertionError("the worker never blocked inside its chunk")


def _run_burst(app) -> None:
    proc = _worker(app, "--burst")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]


def test_worker_process_turns_a_feed_into_points(app, program):
    expected = _seed(program.id, customers=40, per_customer=60)  # 2,400 rows, 3 chunks
    _enqueue_all()
    _run_burst(app)
    assert _received() == 0
    assert _balances() == expected
    assert_reconciled()


def test_sigkill_mid_chunk_then_restart_leaves_the_ledger_exact(app, program):
    expected = _seed(program.id, customers=20, per_customer=50)
    _enqueue_all()
    first = min(expected)
    with db.engine.connect() as blocker:
        # Hold one account so the worker stops inside its chunk: rows locked, entries pending.
        blocker.execute(
            db.text("SELECT id FROM accounts WHERE customer_id = :c FOR UPDATE"), {"c": first}
        )
        proc = _worker(app)
        try:
            _wait_for_lock_wait()
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        blocker.rollback()
    # The killed chunk's transaction died with its connection: nothing half-written.
    assert sum(_balances().values()) < sum(expected.values())
    assert_reconciled()
    result = subprocess.run([REWARDS, "sweep"], env=_env(app), capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    _run_burst(app)
    assert _received() == 0
    assert _balances() == expected
    assert_reconciled()


def test_sigkill_at_a_random_moment_then_restart_leaves_the_ledger_exact(app, program):
    expected = _seed(program.id, customers=100, per_customer=200)  # 20,000 rows, 20 chunks
    _enqueue_all()
    proc = _worker(app)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert_reconciled()
    subprocess.run([REWARDS, "sweep"], env=_env(app), check=True, capture_output=True, timeout=60)
    _run_burst(app)
    assert _balances() == expected
    assert_reconciled()


def test_two_workers_on_the_same_chunks_credit_each_transaction_once(app, program):
    expected = _seed(program.id, customers=30, per_customer=100)
    _enqueue_all()
    _enqueue_all()  # every chunk queued twice, as after a sweeper re-enqueue
    workers = [_worker(app, "--burst", "--name", f"w{i}-{os.getpid()}") for i in range(2)]
    for proc in workers:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
    assert _balances() == expected
    assert_reconciled()


def test_a_forking_worker_compiles_the_rule_sets_before_each_fork(app, program, launch):
    """The work horse inherits the rule sets its parent compiled before forking it."""
    from campaigns import feed
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
