"""Challenge progress milestones ("halfway there") set by the real chunk job and shown in the
activity feed: once per period, never on completion, never for a target of 1, not again
after a refund takes the period back below half, nothing new on a re-run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from campaigns.challenges.models import ChallengeProgress
from rewards.db import db
from tests.challenge_feed_helpers import buy, make_challenge, refund, reset_to_received
from tests.conftest import bearer, make_token
from tests.ledger_helpers import enrol
from workers import jobs

T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # Monday 2 March 2026, 12:00 in Tokyo


def _at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def _halfway(customer_id: int) -> dict[int, datetime | None]:
    """challenge → when its (only) period passed halfway."""
    db.session.expire_all()
    rows = db.session.execute(
        select(ChallengeProgress.challenge_id, ChallengeProgress.halfway_at).where(
            ChallengeProgress.customer_id == customer_id
        )
    )
    return dict(rows.all())


def _titles(client, program, ref: str = "cust-1") -> list[str]:
    headers = bearer(make_token(sub=ref, program=program.slug, roles=["cardholder"]))
    items = client.get("/v1/me/activity", headers=headers).json["data"]
    return [i["title"] for i in items if i["type"] == "challenge_progress"]


def test_halfway_once_per_period_and_never_on_completion_or_for_a_target_of_one(
    db, program, client
):
    four = make_challenge(program.id, name="Four coffees", goal={"type": "count", "target": 4})
    three = make_challenge(program.id, name="Three shops", goal={"type": "count", "target": 3})
    one = make_challenge(program.id, name="First tap", goal={"type": "count", "target": 1})
    spend = make_challenge(
        program.id, name="Big week", goal={"type": "spend", "target": 5001}, reward={"points": 50}
    )
    card = enrol(program.id, external_ref="cust-1")

    buy(card, "p-1", _at(0), amount=1000)
    assert set(_halfway(card.customer_id).values()) == {None}  # 1 of 4, 1 of 3, ¥1,000; 1 of 1
    buy(card, "p-2", _at(1), amount=1000)
    # Half rounded up: 2 of 4 and 2 of 3 are halfway; the target of 1 completed without one.
    assert _halfway(card.customer_id) == {four: _at(1), three: _at(1), one: None, spend: None}
    buy(card, "p-3", _at(2), amount=1000)  # 3 of 3 completes; ¥3,000 passes ¥2,501
    buy(card, "p-4", _at(3), amount=1000)  # 4 of 4 completes; nothing moves back
    assert _halfway(card.customer_id) == {four: _at(1), three: _at(1), one: None, spend: _at(2)}
    assert _titles(client, program) == [  # newest first; at equal times the later challenge
        "Halfway there: Big week (half of ¥5,001)",
        "Halfway there: Three shops (2 of 3)",
        "Halfway there: Four coffees (2 of 4)",
    ]


def test_a_refund_below_half_and_a_rerun_leave_the_first_milestone(db, program, client):
    cid = make_challenge(program.id, name="Coffee week", goal={"type": "count", "target": 4})
    card = enrol(program.id, external_ref="cust-1")
    buy(card, "p-1", _at(0))
    second = buy(card, "p-2", _at(1))
    refund(card, "r-2", "p-2", 1000, at=_at(1.5))  # back to 1 of 4
    buy(card, "p-3", _at(2))  # 2 of 4 again
    reset_to_received(second)
    jobs.process_transactions([second])  # a replay of the chunk counts nothing twice
    assert _halfway(card.customer_id) == {cid: _at(1)}
    assert _titles(client, program) == ["Halfway there: Coffee week (2 of 4)"]


def test_no_halfway_in_a_period_that_can_no_longer_complete(db, program, client):
    """A weekly challenge done once (not repeatable): next week's purchases count, but "halfway
    there" would promise a completion that cannot come."""
    cid = make_challenge(
        program.id,
        name="Coffee week",
        goal={"type": "count", "target": 3},
        window={"type": "recurring", "period": "week", "starts_at": "2026-01-05T00:00:00+09:00"},
        repeatable=False,
    )
    card = enrol(program.id, external_ref="cust-1")
    for day in (0, 1, 2, 7, 8):  # three in the week of 2 March, two in the next
        buy(card, f"p-{day}", _at(day))
    db.session.expire_all()
    rows = db.session.execute(
        select(ChallengeProgress.period, ChallengeProgress.value, ChallengeProgress.halfway_at)
        .where(ChallengeProgress.challenge_id == cid)
        .order_by(ChallengeProgress.period)
    ).all()
    assert [tuple(r) for r in rows] == [("w:2026-W10", 3, _at(1)), ("w:2026-W11", 2, None)]
    assert _titles(client, program) == ["Halfway there: Coffee week (2 of 3)"]


def test_a_halfway_later_than_the_completion_of_purchases_fed_out_of_order_is_dropped(
    db, program, client
):
    """Day 5 and day 6 arrive first (2 of 4: halfway, on day 6), then days 1 and 2 complete the
    period on day 2: "halfway" after "completed" would read backwards, so only the completion
    stays."""
    cid = make_challenge(program.id, name="Coffee week", goal={"type": "count", "target": 4})
    card = enrol(program.id, external_ref="cust-1")
    buy(card, "p-5", _at(5))
    buy(card, "p-6", _at(6))
    assert _halfway(card.customer_id) == {cid: _at(6)}
    buy(card, "p-1", _at(1))
    buy(card, "p-2", _at(2))
    assert _halfway(card.customer_id) == {cid: None}
    assert _titles(client, program) == []
