"""The rules lock: feed chunks share it, rule changes take it alone, and a waiting change holds
new chunks back (so a marketer's pause is never starved by a busy feed)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from rewards.db import db
from rewards.programs import lock_rules, share_rules
from tests.process_helpers import poll


def _waiting_for_the_rules_lock() -> int:
    """Backends of the test database queued on an advisory lock (the rules lock) right now."""
    with db.engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
            )
        ).scalar()


def _in_thread(app, work):
    """Run `work()` in its own app context and DB transaction, in a thread; rolled back."""
    errors: list[BaseException] = []

    def run():
        with app.app_context():
            try:
                work()
            except BaseException as exc:  # surfaced by the caller
                errors.append(exc)
            finally:
                db.session.rollback()
                db.session.remove()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def test_a_waiting_change_goes_before_chunks_that_come_after_it(app, db, program):
    chunk_running, chunk_may_end, change_done = (threading.Event() for _ in range(3))

    def chunk():
        share_rules([program.id])
        chunk_running.set()
        chunk_may_end.wait(10)

    def change():
        lock_rules(program.id)
        change_done.set()

    first, first_errors = _in_thread(app, chunk)
    assert chunk_running.wait(10)
    second, second_errors = _in_thread(app, change)
    # The change is queued on the lock, behind the chunk using the old rules.
    poll(_waiting_for_the_rules_lock, 10, "the change never waited for the chunk")
    assert not change_done.is_set()

    # A chunk arriving now queues behind the waiting change instead of overtaking it.
    db.session.execute(text("SET LOCAL lock_timeout = '300ms'"))
    with pytest.raises(OperationalError, match="lock timeout"):
        share_rules([program.id])
    db.session.rollback()

    chunk_may_end.set()
    first.join(10)
    second.join(10)
    assert change_done.is_set()
    assert not first_errors and not second_errors
    share_rules([program.id])  # and once the change is done, chunks run again
    db.session.rollback()
