"""Challenge progress milestones ("halfway there") written by the real chunk job and shown
in the activity feed: once per period, never on completion, never for a target of 1, not
again after a refund takes the period back below half, nothing new on a re-run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from campaigns.challenges.feed.halfway import write_milestones
from rewards.db import db
from rewards.models import Event
from tests.challenge_feed_helpers import buy, make_challenge, refund, reset_to_received
from tests.conftest import bearer, make_token
from tests.ledger_helpers import enrol
from workers import jobs

T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # Monday 2 March 2026, 12:00 in Tokyo


def _at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def _milestones(customer_id: int) -> list[tuple[int, str, int, int, str]]:
    """(challenge, period, value, target, summary) of the customer's milestone events."""
    db.session.expire_all()
    events = db.session.scalars(
        select(Event)
        .where(Event.customer_id == customer_id, Event.type == "challenge.progress_milestone")
        .order_by(Event.id)
    )
    return [
        (
            e.payload["challenge_id"],
            e.payload["period"],
            e.payload["value"],
            e.payload["target"],
            e.payload["summary"],
        )
        for e in events
    ]


def test_halfway_once_per_period_and_never_on_completion_or_for_a_target_of_one(db, program):
    four = make_challenge(program.id, name="Four coffees", goal={"type": "count", "target": 4})
    three = make_challenge(program.id, name="Three shops", goal={"type": "count", "target": 3})
    one = make_challenge(program.id, name="First tap", goal={"type": "count", "target": 1})
    spend = make_challenge(
        program.id, name="Big week", goal={"type": "spend", "target": 5001}, reward={"points": 50}
    )
    card = enrol(program.id)

    buy(card, "p-1", _at(0), amount=1000)
    assert _milestones(card.customer_id) == []  # 1 of 4, 1 of 3, 1 of 1 is done, ¥1,000
    buy(card, "p-2", _at(1), amount=1000)
    # Half rounded up: 2 of 4 and 2 of 3 are halfway; the target of 1 completed, no milestone.
    assert _milestones(card.customer_id) == [
        (four, "c", 2, 4, "Halfway there: Four coffees (2 of 4)"),
        (three, "c", 2, 3, "Halfway there: Three shops (2 of 3)"),
    ]
    buy(card, "p-3", _at(2), amount=1000)  # 3 of 3 completes: no second event for it
    buy(card, "p-4", _at(3), amount=1000)  # 4 of 4 completes; ¥4,000 is past half already
    assert [m[:3] for m in _milestones(card.customer_id)] == [
        (four, "c", 2),
        (three, "c", 2),
        (spend, "c", 3000),  # p-3 took it from ¥2,000 to ¥3,000, over ¥2,501
    ]
    assert _milestones(card.customer_id)[2][4] == "Halfway there: Big week (¥3,000 of ¥5,001)"
    assert one not in {m[0] for m in _milestones(card.customer_id)}


def test_a_refund_below_half_and_a_rerun_add_no_second_milestone(db, program):
    cid = make_challenge(program.id, goal={"type": "count", "target": 4})
    card = enrol(program.id)
    buy(card, "p-1", _at(0))
    second = buy(card, "p-2", _at(1))
    assert len(_milestones(card.customer_id)) == 1
    refund(card, "r-2", "p-2", 1000, at=_at(1.5))  # back to 1 of 4
    buy(card, "p-3", _at(2))  # 2 of 4 again
    reset_to_received(second)
    jobs.process_transactions([second])  # a replay of the chunk counts nothing twice
    assert [m[:3] for m in _milestones(card.customer_id)] == [(cid, "c", 2)]


def test_the_activity_feed_shows_the_milestone_in_plain_words(db, program, client):
    make_challenge(program.id, name="Coffee week", goal={"type": "count", "target": 3})
    card = enrol(program.id, external_ref="cust-1")
    buy(card, "p-1", _at(0))
    buy(card, "p-2", _at(1))
    headers = bearer(make_token(sub="cust-1", program=program.slug, roles=["cardholder"]))

    items = client.get("/v1/me/activity", headers=headers).json["data"]

    progress = [i for i in items if i["type"] == "challenge_progress"]
    assert [i["title"] for i in progress] == ["Halfway there: Coffee week (2 of 3)"]
    assert progress[0]["id"].startswith("event:")


def test_a_chunk_may_write_more_milestones_than_a_statement_has_parameters(db, program):
    """14,876 milestones in one 5,000-purchase chunk of the challenge benchmark once failed
    (65,535 bound parameters at most): they are written as one JSON parameter."""
    rows = [
        {
            "program_id": program.id,
            "customer_id": n,
            "type": "challenge.progress_milestone",
            "key": f"chl-half:{n}:1:c",
            "payload": {"summary": "Halfway there"},
        }
        for n in range(15_000)
    ]
    write_milestones(rows)
    write_milestones(rows[:10])  # a re-run: nothing new
    db.session.commit()
    stored = db.session.scalar(select(func.count()).select_from(Event))
    assert stored == 15_000
