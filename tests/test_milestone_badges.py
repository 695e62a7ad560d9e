"""Milestone badges awarded by the feed at the end of a chunk: each criteria kind at its
boundary, only active badges, once, and never taken away."""

from __future__ import annotations

from sqlalchemy import select

from campaigns.challenges.models import CustomerBadge
from rewards.db import db
from tests.ledger_helpers import enrol, store
from tests.xp_helpers import badge, challenge
from workers.jobs import process_transactions

GROCERIES = "5411"


def _held(customer_id: int) -> dict[int, str]:
    db.session.expire_all()
    rows = db.session.execute(
        select(CustomerBadge.badge_id, CustomerBadge.source).where(
            CustomerBadge.customer_id == customer_id
        )
    )
    return dict(rows.all())


def _buy(program, card, ext, amount=1000, **kw):
    process_transactions(
        [store(program.id, card.token, ext, amount_minor=amount, mcc=GROCERIES, **kw)]
    )


def test_first_purchase_badge_only_when_active(db, program):
    first = badge(program.id, "First tap", {"type": "first_purchase"})
    draft = badge(program.id, "Draft", {"type": "first_purchase"}, status="draft")
    card = enrol(program.id)
    assert _held(card.customer_id) == {}
    _buy(program, card, "p-1")
    assert _held(card.customer_id) == {first: "milestone"}
    assert draft not in _held(card.customer_id)


def test_lifetime_points_counts_net_points_and_the_badge_stays(db, program):
    big = badge(program.id, "High roller", {"type": "lifetime_points", "points": 1500})
    card = enrol(program.id)
    _buy(program, card, "p-1", 1000)
    refund = store(
        program.id,
        card.token,
        "r-1",
        kind="refund",
        amount_minor=1000,
        original_external_id="p-1",
        mcc=GROCERIES,
    )
    process_transactions([refund])
    _buy(
        program, card, "p-2", 1000
    )  # gross 2,000 but net 1,000: buying and refunding farms nothing
    assert big not in _held(card.customer_id)
    _buy(program, card, "p-3", 499)  # net 1,499
    assert big not in _held(card.customer_id)
    _buy(program, card, "p-4", 1)  # net 1,500
    assert big in _held(card.customer_id)
    refund = store(
        program.id,
        card.token,
        "r-4",
        kind="refund",
        amount_minor=499,
        original_external_id="p-3",
        mcc=GROCERIES,
    )
    process_transactions([refund])  # net 1,001 again: the badge is never taken away
    assert big in _held(card.customer_id)


def test_distinct_partners(db, program, client, marketer_headers):
    for code, merchant in (("noodle", "m-noodle"), ("coffee", "m-coffee"), ("old", "m-old")):
        created = client.post(
            "/v1/partners",
            json={"code": code, "name": code.title(), "merchant_ids": [merchant]},
            headers=marketer_headers,
        )
        assert created.status_code == 201, created.json
    old_id = created.json["id"]
    client.patch(f"/v1/partners/{old_id}", json={"status": "inactive"}, headers=marketer_headers)
    two = badge(program.id, "Explorer", {"type": "distinct_partners", "count": 2})
    card = enrol(program.id)
    _buy(program, card, "p-1", merchant_id="m-noodle")
    _buy(program, card, "p-2", merchant_id="m-noodle")  # the same partner again
    _buy(program, card, "p-3", merchant_id="m-old")  # no longer an active partner
    _buy(program, card, "p-4", merchant_id="elsewhere")
    assert two not in _held(card.customer_id)
    _buy(program, card, "p-5", merchant_id="m-coffee")
    assert two in _held(card.customer_id)


def test_streak_of_days_reads_daily_streak_challenges_only(db, program):
    from campaigns.challenges.models import ChallengeProgress

    three = badge(program.id, "On fire", {"type": "streak_days", "days": 3})
    days = challenge(program.id, "Daily", goal={"type": "streak", "target": 7, "unit": "days"})
    weeks = challenge(program.id, "Weekly", goal={"type": "streak", "target": 4, "unit": "weeks"})
    card = enrol(program.id)

    def progress(challenge_id: int, best: int) -> None:
        row = db.session.get(ChallengeProgress, (card.customer_id, challenge_id, "c"))
        if row is None:
            row = ChallengeProgress(
                customer_id=card.customer_id, challenge_id=challenge_id, period="c", target=7
            )
            db.session.add(row)
        row.value, row.current_streak, row.best_streak = best, best, best
        db.session.commit()

    progress(weeks, 5)  # five weeks is no streak of days
    progress(days, 2)
    _buy(program, card, "p-1")
    assert three not in _held(card.customer_id)
    progress(days, 3)
    _buy(program, card, "p-2")
    assert three in _held(card.customer_id)


def test_badges_stay_in_their_program(db, program):
    from tests.factories import ProgramFactory

    other = ProgramFactory(slug="other", pending_days=0, expiry_months=12)
    db.session.commit()
    theirs = badge(other.id, "Their first", {"type": "first_purchase"})
    mine = badge(program.id, "My first", {"type": "first_purchase"})
    card = enrol(program.id)
    _buy(program, card, "p-1")
    assert _held(card.customer_id) == {mine: "milestone"}
    assert theirs not in _held(card.customer_id)
