"""The challenge tables at head: a re-run's set-based insert of the same contributions adds
nothing, and the database refuses progress and badges that break the rules."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from campaigns.challenges.models import ChallengeContribution, ChallengeProgress
from rewards.db import dialect_insert

ROWS = [
    {
        "transaction_id": tx,
        "challenge_id": 7,
        "customer_id": 100,
        "period": "w:2026-W13",
        "local_day": date(2026, 3, 29),
        "amount_minor": 350,
        "merchant_id": "cafe-1",
        "category": "dining",
    }
    for tx in (1, 2, 3)
]


def test_a_rerun_of_the_same_contributions_inserts_nothing(db):
    insert = (
        dialect_insert(ChallengeContribution)
        .on_conflict_do_nothing()
        .returning(ChallengeContribution.transaction_id)
    )
    assert sorted(db.session.scalars(insert, ROWS)) == [1, 2, 3]
    # The chunk runs again (or a second worker got there first): nothing counts twice.
    assert list(db.session.scalars(insert, ROWS)) == []
    count = db.session.scalar(select(func.count()).select_from(ChallengeContribution))
    assert count == 3


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
