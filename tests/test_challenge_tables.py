"""The challenge tables at head: a re-run's insert of the same counted purchases changes
nothing (and says so), a purchase may count towards a new challenge later, and the database
refuses progress and badges that break the rules."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from campaigns.challenges.feed import writes
from campaigns.challenges.feed.progress import Counted
from campaigns.challenges.models import ChallengeProgress, ChallengePurchase
from rewards.db import db as database
from rewards.db import dialect_insert


def _counted(tx: int, challenge_id: int, period: str = "w:2026-W13") -> Counted:
    return Counted(tx, challenge_id, 100, period, date(2026, 3, 29), 350, 0, "cafe-1", "dining")


def _stored() -> dict[int, dict[str, str]]:
    rows = select(ChallengePurchase.transaction_id, ChallengePurchase.counted)
    return {tx: counted for tx, counted in database.session.execute(rows)}


def test_a_rerun_of_the_same_purchases_stores_nothing_and_says_so(db):
    # Purchase 1 counted towards challenges 7 and 8, purchases 2 and 3 towards 7: a row each.
    first = [_counted(1, 7), _counted(1, 8, "c"), _counted(2, 7), _counted(3, 7)]
    assert writes.insert_counted(first)
    assert _stored() == {
        1: {"7": "w:2026-W13", "8": "c"},
        2: {"7": "w:2026-W13"},
        3: {"7": "w:2026-W13"},
    }
    # The chunk runs again (or a second worker got there first): nothing counts twice, and
    # the caller learns it (the chunk is rolled back).
    assert not writes.insert_counted([_counted(2, 7), _counted(2, 9)])
    assert not writes.insert_counted([_counted(1, 8, "c")])
    assert _stored()[2] == {"7": "w:2026-W13"}
    # A purchase replayed after a new challenge went live counts towards that one too.
    assert writes.insert_counted([_counted(3, 9, "c")])
    assert _stored()[3] == {"7": "w:2026-W13", "9": "c"}


def test_a_refund_is_stored_once_per_purchase(db):
    assert writes.insert_counted([_counted(1, 7), _counted(1, 8, "c")])
    refunded = [_counted(1, 7), _counted(1, 8, "c")]
    for c in refunded:
        c.refunded_minor = 200
    writes.update_refunded(refunded)
    stored = db.session.get(ChallengePurchase, 1)
    db.session.refresh(stored)
    assert (stored.amount_minor, stored.refunded_minor) == (350, 200)
    # More refunded than bought is refused by the database.
    with pytest.raises(IntegrityError):
        db.session.execute(dialect_insert(ChallengePurchase), [
            {"transaction_id": 2, "customer_id": 100, "counted": {"7": "c"},
             "local_day": date(2026, 3, 29), "amount_minor": 350, "refunded_minor": 351}
        ])  # fmt: skip
        db.session.flush()


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "finished"},
        {"target": 0},
        {"current_streak": 5, "best_streak": 4},
        {"value": -1},
    ],
)
def test_progress_rows_that_break_the_rules_are_refused(db, fields):
    row = {"customer_id": 100, "challenge_id": 7, "period": "c", "target": 3, **fields}
    with pytest.raises(IntegrityError):
        db.session.execute(dialect_insert(ChallengeProgress), [row])
        db.session.flush()
