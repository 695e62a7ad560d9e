"""The generic limits machinery (`rewards.processing.limits`) on a table of its own: two chunks
racing for one limit in two real sessions never overspend it, and rerun only when it matters."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import insert, select, text

from rewards.db import db
from rewards.processing.limits import LimitRace, OptimisticLimits
from tests.stamp_extra import POOL_ID, POOL_LIMITS, POOLS, pool_used


@pytest.fixture
def pool(db):
    POOLS.create(db.engine, checkfirst=True)

    def make(budget: int | None) -> None:
        db.session.execute(insert(POOLS).values(id=POOL_ID, budget=budget, used=0))
        db.session.commit()

    yield make
    db.session.rollback()
    db.session.remove()
    POOLS.drop(db.engine, checkfirst=True)


class Chunk:
    """One chunk taking up to `wanted` from the pool the way an extra does: read when it starts,
    decide on the read, confirm and write just before its commit. `pause` runs between
    `confirm`'s lock and the write of the first (optimistic) run."""

    def __init__(self, wanted: int) -> None:
        self.wanted = wanted
        self.runs: list[bool] = []
        self.granted = 0
        self.read = threading.Event()
        self.go = threading.Event()  # may go on from its read to its confirm
        self.pause: Callable[[], None] = lambda: None

    def run(self, lock_early: bool = False) -> None:
        self.runs.append(lock_early)
        limits = OptimisticLimits(POOL_LIMITS, lock_early=lock_early)
        budget = db.session.scalar(select(POOLS.c.budget).where(POOLS.c.id == POOL_ID))
        limits.read({POOL_ID: (budget,)})
        (left,) = limits.left(POOL_ID)
        granted = self.wanted if left is None else max(0, min(self.wanted, left))
        if not lock_early:
            self.read.set()
            assert self.go.wait(10)
        deltas = {POOL_ID: (granted,)}
        limits.confirm(deltas, doubtful={POOL_ID} if granted < self.wanted else ())
        if not lock_early:
            self.pause()
        limits.add_used(deltas)
        db.session.commit()
        self.granted = granted

    def job(self, app: Flask, errors: list[BaseException]) -> None:
        """What `workers.jobs.process_transactions` does: rerun lock-early on the signal."""
        with app.app_context():
            try:
                try:
                    self.run()
                except LimitRace:
                    db.session.rollback()
                    self.run(lock_early=True)
            except BaseException as exc:  # reported to the test's thread
                errors.append(exc)
            finally:
                db.session.remove()


def _lock_waiters() -> int:
    """Backends of this database waiting for a row lock on the pool table (asked on a
    connection of its own: the statistics are a fresh snapshot each time)."""
    with db.engine.connect() as conn:
        return conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE '%test_stamp_pools%'"
            )
        )


def _poll(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "the interleaving never happened"
        time.sleep(0.01)


@pytest.mark.parametrize(
    "budget, expected",
    [
        (10, {"first": 7, "second": 3, "second_runs": [False, True]}),  # would overrun: rerun
        (20, {"first": 7, "second": 7, "second_runs": [False]}),  # still fits: no rerun
    ],
)
def test_two_chunks_racing_for_one_limit_never_overspend_it(app, pool, budget, expected):
    pool(budget)
    first, second = Chunk(7), Chunk(7)
    errors: list[BaseException] = []

    def second_is_blocked() -> None:
        # The first holds the lock; the second's confirm now waits on it (seen, not assumed).
        second.go.set()
        _poll(lambda: _lock_waiters() == 1)

    first.pause = second_is_blocked
    threads = [threading.Thread(target=c.job, args=(app, errors)) for c in (first, second)]
    for thread in threads:
        thread.start()
    # Both read the pool untouched before either confirms: the optimistic window overlaps.
    assert first.read.wait(10) and second.read.wait(10)
    first.go.set()
    for thread in threads:
        thread.join(20)
    assert not errors, errors
    assert first.runs == [False]
    assert (first.granted, second.granted, second.runs) == (
        expected["first"],
        expected["second"],
        expected["second_runs"],
    )
    assert pool_used() == expected["first"] + expected["second"] <= budget
