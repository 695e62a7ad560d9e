"""XP and levels in the feed: accrual from points, challenges and streak days, clawbacks
taking XP (and levels) back, re-runs writing nothing. Expected figures worked out by hand."""

from __future__ import annotations

import random
from datetime import date

from sqlalchemy import select, text, update

from campaigns.levels.models import XpEntry
from rewards.models import Customer, Event, Transaction
from rewards.processing import process_chunk
from tests.challenge_feed_helpers import make_challenge
from tests.ledger_helpers import enrol, store
from tests.xp_helpers import (
    challenge,
    completed,
    configure,
    contributed,
    count,
    level_events,
    standing,
    xp_entries,
)
from workers.jobs import feed_extras, process_transactions

GROCERIES = "5411"  # no campaign targets it in these tests
LADDER = [(0, "Rookie"), (100, "Explorer"), (500, "Legend")]


def test_xp_counts_base_bonus_and_challenge_points_challenges_and_streak_days(
    db, program, client, marketer_headers, launch
):
    configure(client, marketer_headers, per_point="0.15", per_challenge=40, per_streak_day=7)
    launch(conditions={"categories": ["dining"]})  # 3× on dining: +2,000 on 1,000 JPY
    card = enrol(program.id)
    coffees = challenge(program.id, "Buy 3 coffees this week")
    streak = challenge(
        program.id, "7-day streak", goal={"type": "streak", "target": 7, "unit": "days"}
    )
    completed(card.customer_id, coffees, "w:2026-W10", reward=200)
    completed(card.customer_id, coffees, "w:2026-W09", status="revoked")  # does not count
    first = store(program.id, card.token, "p-1", amount_minor=1000)  # dining
    contributed(card.customer_id, streak, first, date(2026, 3, 2))
    contributed(card.customer_id, streak, first + 1000, date(2026, 3, 2))  # same day: once
    contributed(card.customer_id, streak, first + 1001, date(2026, 3, 3))
    contributed(card.customer_id, streak, first + 1002, date(2026, 3, 4), refunded=True)
    process_transactions([first])
    process_transactions([store(program.id, card.token, "p-2", amount_minor=333, mcc=GROCERIES)])
    # Points: 1,000 base + 2,000 bonus + 333 base + 200 reward = 3,533; × 0.15 = 529.95 → 529.
    # One challenge period still completed: 40. Two streak days (2 and 3 March): 14.
    assert standing(card.customer_id) == (529 + 40 + 14, 1)  # no ladder: level 1
    # First chunk: 3,200 × 0.15 = 480 + 40 + 14 = 534; second: 583 − 534 = 49.
    assert xp_entries(card.customer_id) == [(534, 534, "activity"), (49, 583, "activity")]


def test_a_clawback_takes_xp_back_and_can_lower_the_level(db, program, client, marketer_headers):
    configure(client, marketer_headers, per_point="0.1", levels=LADDER)
    card = enrol(program.id)
    process_transactions([store(program.id, card.token, "p-1", amount_minor=1000, mcc=GROCERIES)])
    assert standing(card.customer_id) == (100, 2)  # 1,000 pts → 100 XP: Explorer
    refund = store(
        program.id,
        card.token,
        "r-1",
        kind="refund",
        amount_minor=600,
        original_external_id="p-1",
        mcc=GROCERIES,
    )
    process_transactions([refund])
    # 600 of the 1,000 points clawed back: 400 net → 40 XP, below Explorer's 100.
    assert standing(card.customer_id) == (40, 1)
    assert xp_entries(card.customer_id) == [(100, 100, "activity"), (-60, 40, "clawback")]
    assert level_events(card.customer_id) == [(1, 2), (2, 1)]
    down = db.session.scalars(select(Event).order_by(Event.id.desc())).first()
    assert down.customer_id == card.customer_id and down.program_id == program.id
    assert down.payload == {
        "customer_id": card.customer_id,
        "from_level": 2,
        "to_level": 1,
        "level_name": "Rookie",
        "xp": 40,
        "direction": "down",
    }


def test_levels_follow_the_thresholds_exactly(db, program, client, marketer_headers):
    configure(client, marketer_headers, per_point="1", levels=LADDER)
    card = enrol(program.id)
    steps = [(99, 1), (1, 2), (399, 2), (1, 3), (10_000, 3)]  # points added, level after
    for n, (points, level) in enumerate(steps):
        tx = store(program.id, card.token, f"p-{n}", amount_minor=points, mcc=GROCERIES)
        process_transactions([tx])
        assert standing(card.customer_id)[1] == level, (n, points)
    assert standing(card.customer_id)[0] == 99 + 1 + 399 + 1 + 10_000
    assert level_events(card.customer_id) == [(1, 2), (2, 3)]


def test_several_levels_at_once_are_one_event(db, program, client, marketer_headers):
    configure(client, marketer_headers, per_point="1", levels=LADDER)
    card = enrol(program.id)
    process_transactions([store(program.id, card.token, "p-1", amount_minor=700, mcc=GROCERIES)])
    assert standing(card.customer_id) == (700, 3)
    assert level_events(card.customer_id) == [(1, 3)]


def test_re_running_a_chunk_writes_no_xp_entries_or_events(db, program, client, marketer_headers):
    configure(client, marketer_headers, per_point="0.1", levels=LADDER)
    card = enrol(program.id)
    ids = [
        store(program.id, card.token, f"p-{n}", amount_minor=600, mcc=GROCERIES) for n in range(2)
    ]
    process_transactions(ids)
    assert standing(card.customer_id) == (120, 2)
    entries, events = count(XpEntry), count(Event)
    # The same rows again, as a worker that lost its commit acknowledgement would see them.
    db.session.execute(update(Transaction).where(Transaction.id.in_(ids)).values(status="received"))
    db.session.commit()
    process_chunk(ids, extras=feed_extras())
    db.session.commit()
    assert standing(card.customer_id) == (120, 2)
    assert (count(XpEntry), count(Event)) == (entries, events)


def test_a_purchase_worth_less_than_one_xp_writes_nothing_until_the_tenths_add_up(
    db, program, client, marketer_headers
):
    configure(client, marketer_headers, per_point="0.1")
    card = enrol(program.id)
    for n in range(3):  # 4 points each: 0.4, 0.8, 1.2 XP — never rounded per purchase
        process_transactions(
            [store(program.id, card.token, f"p-{n}", amount_minor=4, mcc=GROCERIES)]
        )
    assert xp_entries(card.customer_id) == [(1, 1, "activity")]


def test_without_a_ladder_xp_accrues_at_level_1_with_default_rules(db, program):
    card = enrol(program.id)
    process_transactions([store(program.id, card.token, "p-1", amount_minor=1234, mcc=GROCERIES)])
    assert standing(card.customer_id) == (123, 1)  # default 0.1 XP per point: 123.4 → 123


def test_xp_rules_and_ladders_are_per_program(db, program, client, marketer_headers):
    from tests.factories import ProgramFactory

    configure(client, marketer_headers, per_point="1", levels=LADDER)
    other = ProgramFactory(slug="other", pending_days=0, expiry_months=12)
    db.session.commit()
    mine, theirs = enrol(program.id), enrol(other.id)
    process_transactions(
        [
            store(program.id, mine.token, "p-1", amount_minor=200, mcc=GROCERIES),
            store(other.id, theirs.token, "p-1", amount_minor=200, mcc=GROCERIES, currency="EUR"),
        ]
    )
    assert standing(mine.customer_id) == (200, 2)
    # The other program keeps the defaults (0.1 per point) and no ladder; EUR 2.00 → 2 pts.
    assert standing(theirs.customer_id) == (0, 1)
    assert level_events(theirs.customer_id) == []


def test_points_kept_per_customer_match_a_recount_of_the_whole_ledger(
    db, program, client, marketer_headers
):
    """Chunk after chunk of purchases, partial and full refunds and challenge rewards taken
    back: the points XP counts, kept per customer and summed only over newer entries, equal
    a sum over every ledger entry of the account done here in SQL; the watermark is the
    account's newest entry."""
    configure(client, marketer_headers, per_point="1")
    make_challenge(program.id, goal={"type": "count", "target": 2}, reward={"points": 70})
    cards = [enrol(program.id, external_ref=f"cust-{n}") for n in range(3)]
    rng = random.Random(9)
    bought: list[tuple[object, str, int]] = []
    for round_ in range(6):
        chunk = []
        for n, card in enumerate(cards):
            amount = rng.randrange(100, 2000)
            ref = f"p-{round_}-{n}"
            chunk.append(store(program.id, card.token, ref, amount_minor=amount, mcc=GROCERIES))
            bought.append((card, ref, amount))
        for card, ref, amount in rng.sample(bought, 2):  # partial or full, maybe again
            part = rng.choice([amount, amount // 3])
            chunk.append(
                store(
                    program.id,
                    card.token,
                    f"r-{round_}-{ref}",
                    kind="refund",
                    amount_minor=part,
                    original_external_id=ref,
                    mcc=GROCERIES,
                )
            )
        process_transactions(chunk)
        for card in cards:
            kept, upto = db.session.execute(
                select(Customer.xp_points, Customer.xp_points_upto).where(
                    Customer.id == card.customer_id
                )
            ).one()
            recount, newest = db.session.execute(
                text(
                    "SELECT COALESCE(SUM(CASE WHEN e.kind IN ('earn', 'bonus', "
                    "'challenge_reward') OR (e.kind = 'clawback' AND e.reverses_entry_id IS "
                    "NOT NULL) THEN e.points ELSE 0 END), 0), MAX(e.id) FROM ledger_entries e "
                    "JOIN accounts a ON a.id = e.account_id WHERE a.customer_id = :c"
                ),
                {"c": card.customer_id},
            ).one()
            assert (kept, upto) == (recount, newest), (round_, card.customer_id)
            assert standing(card.customer_id)[0] >= 0
    clawed = db.session.scalar(text("SELECT count(*) FROM ledger_entries WHERE kind = 'clawback'"))
    rewarded = db.session.scalar(
        text("SELECT count(*) FROM ledger_entries WHERE kind = 'challenge_reward'")
    )
    assert clawed > 0 and rewarded > 0  # the history had both
