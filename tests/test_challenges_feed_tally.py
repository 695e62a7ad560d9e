"""The tally a progress row keeps (migration 0012: distinct merchants and categories, streak
days as multisets) stays what a recount of the period's contributions gives, through
purchases, partial and full refunds and a replay; a row stored without one (before 0012) is
recounted once. Expected tallies are written out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, select, update

from campaigns.challenges.feed import reads
from campaigns.challenges.feed.progress import tally_json
from campaigns.challenges.models import ChallengeProgress
from rewards.db import db
from rewards.models import Transaction
from tests.challenge_feed_helpers import (
    buy,
    make_challenge,
    progress,
    progress_row,
    refund,
    reset_to_received,
)
from tests.ledger_helpers import assert_reconciled, enrol
from workers import jobs

T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # Monday 2 March 2026, 12:00 in Tokyo


def _at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def _stored(customer_id: int, challenge_id: int) -> dict | None:
    return progress_row(customer_id, challenge_id).tally


def _recounted(customer_id: int, challenge_id: int) -> dict:
    key = (customer_id, challenge_id, "c")
    found = reads.recounted_tallies([key])[key]
    db.session.rollback()
    return tally_json(found)


def test_stored_tallies_match_a_recount_after_purchases_refunds_and_a_replay(db, program):
    merchants = make_challenge(
        program.id, name="Explorer", goal={"type": "distinct_merchants", "target": 9}
    )
    streak = make_challenge(
        program.id, name="Streak", goal={"type": "streak", "target": 9, "unit": "days"}
    )
    card = enrol(program.id)
    buy(card, "p-1", _at(0), amount=1000, merchant_id="m1", category="dining")
    buy(card, "p-2", _at(0.1), amount=500, merchant_id="m1", category="dining")
    buy(card, "p-3", _at(1), amount=700, merchant_id="m2", category="grocery")
    first = {
        "n": 3,
        "s": 2200,
        "m": {"m1": 2, "m2": 1},
        "c": {"dining": 2, "grocery": 1},
        "d": {"2026-03-02": 2, "2026-03-03": 1},
    }
    for cid in (merchants, streak):
        assert _stored(card.customer_id, cid) == first == _recounted(card.customer_id, cid)

    refund(card, "r-1", "p-1", 400)  # partial: p-1 still counts, with 600
    refund(card, "r-2", "p-3", 700)  # in full: m2, grocery and 3 March are gone
    reset_to_received(buy(card, "p-4", _at(2), amount=300, merchant_id="m3", category="fuel"))
    jobs.process_transactions([db.session.scalar(_id_of("p-4"))])  # a replay: nothing new
    after = {
        "n": 3,
        "s": 1400,
        "m": {"m1": 2, "m3": 1},
        "c": {"dining": 2, "fuel": 1},
        "d": {"2026-03-02": 2, "2026-03-04": 1},
    }
    for cid in (merchants, streak):
        assert _stored(card.customer_id, cid) == after == _recounted(card.customer_id, cid)
    assert progress(card.customer_id, merchants) == {"c": (2, "active", 0, 0)}
    # 2 and 4 March with 3 March frozen (one missed day in the week): 2 active days.
    assert progress(card.customer_id, streak) == {"c": (2, "active", 0, 0)}
    assert_reconciled()


def test_count_and_spend_goals_keep_no_tally(db, program):
    cid = make_challenge(program.id, goal={"type": "spend", "target": 5000})
    card = enrol(program.id)
    buy(card, "p-1", _at(0), amount=1200, merchant_id="m1")
    assert _stored(card.customer_id, cid) is None
    assert progress(card.customer_id, cid) == {"c": (1200, "active", 0, 0)}


def test_a_row_stored_without_a_tally_is_recounted_once(db, program):
    """A row written before migration 0012 has no tally: the next chunk recounts it from its
    contributions, so the goal is judged on every purchase, not only the new ones."""
    cid = make_challenge(program.id, goal={"type": "distinct_merchants", "target": 3})
    card = enrol(program.id)
    buy(card, "p-1", _at(0), merchant_id="m1")
    buy(card, "p-2", _at(1), merchant_id="m2")
    db.session.execute(update(ChallengeProgress).values(tally=None))
    db.session.commit()
    buy(card, "p-3", _at(2), merchant_id="m3")  # m1, m2, m3: completed
    assert progress(card.customer_id, cid) == {"c": (3, "completed", 1, 200)}
    assert _stored(card.customer_id, cid)["m"] == {"m1": 1, "m2": 1, "m3": 1}


def _id_of(external_id: str) -> Select[tuple[int]]:
    return select(Transaction.id).where(Transaction.external_id == external_id)
