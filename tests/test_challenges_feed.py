"""Challenges in the feed, end to end through the chunk job with both extras: every goal type,
windows and the weekly reset in the program's timezone (a DST week), opt-in, re-runs,
refunds and revocation, streaks with and without a freeze. Expected values are worked out
by hand in the comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from campaigns.challenges.models import Badge
from rewards.db import db
from rewards.models import LedgerEntry, Program
from rewards.programs import bump_rules_revision
from tests.challenge_feed_helpers import (
    WINDOW_START,
    badges,
    buy,
    clawbacks_of,
    contributions,
    counters,
    join,
    make_challenge,
    progress,
    progress_row,
    refund,
    reset_to_received,
    rewards,
    set_status,
)
from tests.ledger_helpers import assert_reconciled, balance, enrol, entry_count, store
from workers import jobs

T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # Monday 2 March 2026, 12:00 in Tokyo


def _at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def _badge(program_id: int) -> int:
    badge = Badge(program_id=program_id, name="Coffee lover", status="active", created_by="t")
    db.session.add(badge)
    db.session.commit()
    return badge.id


def test_count_goal_completes_once_with_points_badge_and_counters(db, program):
    badge_id = _badge(program.id)
    cid = make_challenge(program.id, reward={"points": 200, "badge_id": badge_id})
    card = enrol(program.id)
    ids = [buy(card, f"p-{n}", _at(n)) for n in range(4)]
    # 3 purchases reach the target: the third earns the reward; the fourth changes nothing.
    assert progress(card.customer_id, cid) == {"c": (4, "completed", 1, 200)}
    assert rewards() == [(f"tx:{ids[2]}:challenge:{cid}", 200, "available")]
    assert badges(card.customer_id) == [(badge_id, "challenge", cid)]
    assert counters(cid) == (1, 1)
    assert balance(card.customer_id) == (4 * 1000 + 200, 0)
    lot = db.session.scalar(select(LedgerEntry).where(LedgerEntry.kind == "challenge_reward"))
    assert "Challenge completed: Coffee week" in lot.explanation["summary"]
    assert progress_row(card.customer_id, cid).reward_entry_id == lot.id
    assert_reconciled()


def test_reward_is_pending_like_the_base_points(db, program):
    db.session.execute(update(Program).values(pending_days=14))
    db.session.commit()
    cid = make_challenge(program.id, goal={"type": "count", "target": 1})
    card = enrol(program.id)
    tx = buy(card, "p-1", datetime.now(UTC) - timedelta(days=1))
    lots = db.session.execute(
        select(
            LedgerEntry.kind, LedgerEntry.state, LedgerEntry.available_at, LedgerEntry.expires_at
        )
        .where(LedgerEntry.transaction_id == tx)
        .order_by(LedgerEntry.id)
    ).all()
    assert [(k, s) for k, s, _, _ in lots] == [("earn", "pending"), ("challenge_reward", "pending")]
    assert lots[0][2:] == lots[1][2:]  # same available_at and expiry as the base lot
    assert progress(card.customer_id, cid)["c"][1] == "completed"
    assert balance(card.customer_id) == (0, 1200)
    assert_reconciled()


def test_spend_goal_and_a_refund_below_target_revokes_and_claws_back_in_full(db, program):
    cid = make_challenge(program.id, goal={"type": "spend", "target": 5000})
    card = enrol(program.id)
    buy(card, "p-1", _at(0), amount=2000)
    buy(card, "p-2", _at(1), amount=2000)
    third = buy(card, "p-3", _at(2), amount=1500)  # 5500 ≥ 5000: completes here
    assert progress(card.customer_id, cid) == {"c": (5500, "completed", 1, 200)}
    key = f"tx:{third}:challenge:{cid}"
    refund(card, "r-1", "p-1", 1000)  # 4500 < 5000: revoked, all 200 pts back
    assert progress(card.customer_id, cid) == {"c": (4500, "revoked", 1, 0)}
    claw = f"chl:{cid}:{card.customer_id}:c:1:claw"
    assert clawbacks_of(key) == [(claw, -200)]
    assert counters(cid) == (1, 0)
    # Base: 5500 earned, 1000 refunded → 4500; the reward is gone.
    assert balance(card.customer_id) == (4500, 0)
    summary = db.session.scalar(
        select(LedgerEntry.explanation).where(LedgerEntry.idempotency_key == claw)
    )["summary"]
    assert "Coffee week" in summary and "no longer completed" in summary
    # Reaching the target again is a new, second award.
    again = buy(card, "p-4", _at(3), amount=600)
    assert progress(card.customer_id, cid) == {"c": (5100, "completed", 2, 200)}
    assert rewards()[-1] == (f"tx:{again}:challenge:{cid}", 200, "available")
    assert counters(cid) == (1, 1)
    assert_reconciled()


def test_a_partial_refund_that_keeps_the_target_takes_nothing(db, program):
    cid = make_challenge(program.id, goal={"type": "spend", "target": 5000})
    card = enrol(program.id)
    buy(card, "p-1", _at(0), amount=3000)
    second = buy(card, "p-2", _at(1), amount=3000)  # 6000: completes
    refund(card, "r-1", "p-2", 1000)  # on the completing purchase itself: 5000 still ≥ 5000
    assert progress(card.customer_id, cid) == {"c": (5000, "completed", 1, 200)}
    assert clawbacks_of(f"tx:{second}:challenge:{cid}") == []
    assert balance(card.customer_id) == (5000 + 200, 0)  # only base points of 1000 went
    assert_reconciled()


def test_distinct_merchants_count_a_merchant_until_its_last_purchase_is_refunded(db, program):
    cid = make_challenge(program.id, goal={"type": "distinct_merchants", "target": 3})
    card = enrol(program.id)
    buy(card, "p-1", _at(0), merchant_id="m1")
    buy(card, "p-2", _at(1), merchant_id="m1")
    buy(card, "p-3", _at(2), merchant_id="m2")
    assert progress(card.customer_id, cid) == {"c": (2, "active", 0, 0)}
    last = buy(card, "p-4", _at(3), merchant_id="m3")  # m1, m2, m3
    assert progress(card.customer_id, cid) == {"c": (3, "completed", 1, 200)}
    refund(card, "r-1", "p-1", 1000)  # m1 still bought from in p-2
    assert progress(card.customer_id, cid) == {"c": (3, "completed", 1, 200)}
    refund(card, "r-2", "p-3", 400)  # partial: m2 still counts
    assert progress(card.customer_id, cid) == {"c": (3, "completed", 1, 200)}
    refund(card, "r-3", "p-3", 600)  # now in full: m1, m3 left
    assert progress(card.customer_id, cid) == {"c": (2, "revoked", 1, 0)}
    assert [p for _, p in clawbacks_of(f"tx:{last}:challenge:{cid}")] == [-200]
    assert_reconciled()


def test_distinct_categories_and_conditions(db, program):
    cid = make_challenge(
        program.id,
        goal={"type": "distinct_categories", "target": 2},
        conditions={"amount_min_minor": 500},
    )
    card = enrol(program.id)
    buy(card, "p-1", _at(0), mcc="5812")  # dining
    buy(card, "p-2", _at(1), mcc="5814")  # dining again
    buy(card, "p-3", _at(2), mcc="5411", amount=400)  # groceries, below the minimum
    assert progress(card.customer_id, cid) == {"c": (1, "active", 0, 0)}
    buy(card, "p-4", _at(3), mcc="5411")  # groceries
    assert progress(card.customer_id, cid) == {"c": (2, "completed", 1, 200)}
    assert contributions() == 3  # p-3 never qualified
    assert_reconciled()


def test_weekly_reset_at_the_local_boundary_across_a_dst_change(db, program):
    db.session.execute(update(Program).values(timezone="Europe/Berlin", currency="EUR"))
    bump_rules_revision(program.id)
    db.session.commit()
    cid = make_challenge(
        program.id,
        goal={"type": "count", "target": 2},
        window={"type": "recurring", "period": "week", "starts_at": WINDOW_START},
        repeatable=True,
    )
    card = enrol(program.id)
    # Berlin switches to summer time on Sunday 29 March 2026 at 02:00 (UTC+1 → UTC+2).
    buy(card, "p-1", datetime(2026, 3, 28, 12, 0, tzinfo=UTC))  # Sat 13:00 CET, W13
    buy(card, "p-2", datetime(2026, 3, 29, 21, 30, tzinfo=UTC))  # Sun 23:30 CEST, W13
    buy(card, "p-3", datetime(2026, 3, 29, 22, 30, tzinfo=UTC))  # Mon 00:30 CEST, W14
    assert progress(card.customer_id, cid) == {
        "w:2026-W13": (2, "completed", 1, 200),
        "w:2026-W14": (1, "active", 0, 0),
    }
    buy(card, "p-4", datetime(2026, 4, 5, 21, 59, tzinfo=UTC))  # Sun 23:59 CEST, still W14
    assert progress(card.customer_id, cid)["w:2026-W14"] == (2, "completed", 1, 200)
    assert len(rewards()) == 2 and counters(cid) == (1, 2)  # once per period
    assert_reconciled()


def test_a_non_repeatable_recurring_challenge_completes_once_ever(db, program):
    cid = make_challenge(
        program.id,
        goal={"type": "count", "target": 1},
        window={"type": "recurring", "period": "week", "starts_at": WINDOW_START},
    )
    card = enrol(program.id)
    buy(card, "p-1", _at(0))
    buy(card, "p-2", _at(7))  # next week: target reached but it may not complete again
    assert progress(card.customer_id, cid) == {
        "w:2026-W10": (1, "completed", 1, 200),
        "w:2026-W11": (1, "active", 0, 0),
    }
    assert len(rewards()) == 1
    assert_reconciled()


def test_opt_in_counts_only_purchases_after_joining(db, program):
    cid = make_challenge(program.id, join="opt_in", goal={"type": "count", "target": 2})
    card = enrol(program.id)
    buy(card, "p-1", _at(0))  # not joined
    join(card.customer_id, cid, _at(1))
    buy(card, "p-2", _at(0.5))  # made before joining (arrives late): does not count
    buy(card, "p-3", _at(1))  # at the joining instant: counts
    assert progress(card.customer_id, cid) == {"c": (1, "active", 0, 0)}
    buy(card, "p-4", _at(2))
    assert progress(card.customer_id, cid) == {"c": (2, "completed", 1, 200)}
    assert_reconciled()


def test_paused_and_out_of_window_challenges_count_nothing(db, program):
    cid = make_challenge(
        program.id,
        goal={"type": "count", "target": 1},
        window={"type": "fixed", "starts_at": "2026-03-05T00:00:00Z"},
    )
    card = enrol(program.id)
    buy(card, "p-1", _at(0))  # before the window opens
    set_status(program.id, cid, "paused")
    buy(card, "p-2", _at(5))
    assert progress(card.customer_id, cid) == {}
    set_status(program.id, cid, "active")
    buy(card, "p-3", _at(6))
    assert progress(card.customer_id, cid) == {"c": (1, "completed", 1, 200)}


def test_rerun_and_duplicate_deliveries_change_no_progress(db, program):
    cid = make_challenge(program.id, goal={"type": "count", "target": 2})
    card = enrol(program.id)
    first = buy(card, "p-1", _at(0))
    second = buy(card, "p-2", _at(1))
    before = (progress(card.customer_id, cid), entry_count(), balance(card.customer_id))
    assert store(program.id, card.token, "p-2", amount_minor=1000) is None  # a duplicate row
    jobs.process_transactions([first, second])  # the same chunk delivered again
    for tx in (first, second):  # an operator replays both purchases
        reset_to_received(tx)
    jobs.process_transactions([first, second])
    after = (progress(card.customer_id, cid), entry_count(), balance(card.customer_id))
    assert after == before == ({"c": (2, "completed", 1, 200)}, 3 + 0, (2200, 0))
    assert contributions() == 2 and counters(cid) == (1, 1)
    assert_reconciled()


def test_a_purchase_replayed_after_a_refund_brings_new_challenges_only_what_is_left(db, program):
    spend = {"type": "spend", "target": 100_000}
    first = make_challenge(program.id, goal=spend)
    card = enrol(program.id)
    p = buy(card, "p-1", _at(0), amount=500)
    refund(card, "r-1", "p-1", 200, at=_at(1))
    assert progress(card.customer_id, first) == {"c": (300, "active", 0, 0)}
    # A second spend challenge goes live, then an operator replays the purchase: of its 500,
    # 200 were refunded before, so it brings the new challenge 300 (the first keeps its 300).
    second = make_challenge(program.id, goal=spend)
    reset_to_received(p)
    jobs.process_transactions([p])
    assert progress(card.customer_id, second) == {"c": (300, "active", 0, 0)}
    assert progress(card.customer_id, first) == {"c": (300, "active", 0, 0)}
    # The rest is refunded: nothing is left in either.
    refund(card, "r-2", "p-1", 300, at=_at(2))
    assert progress(card.customer_id, first) == {"c": (0, "active", 0, 0)}
    assert progress(card.customer_id, second) == {"c": (0, "active", 0, 0)}
    # Refunded in full, a replay counts towards a third challenge not at all.
    third = make_challenge(program.id, goal=spend)
    reset_to_received(p)
    jobs.process_transactions([p])
    assert progress(card.customer_id, third) == {}
    assert contributions() == 2
    assert_reconciled()


def test_a_purchase_and_its_refund_in_one_chunk(db, program):
    cid = make_challenge(program.id, goal={"type": "count", "target": 1})
    card = enrol(program.id)
    p = store(program.id, card.token, "p-1", amount_minor=1000, occurred_at=_at(0))
    r = store(
        program.id, card.token, "r-1", kind="refund", amount_minor=1000, original_external_id="p-1"
    )
    jobs.process_transactions([p, r])
    assert progress(card.customer_id, cid) == {"c": (0, "revoked", 1, 0)}
    assert [pts for _, pts in clawbacks_of(f"tx:{p}:challenge:{cid}")] == [-200]
    assert balance(card.customer_id) == (0, 0)
    assert counters(cid) == (1, 0)
    assert_reconciled()


def test_a_revoked_reward_already_spent_leaves_a_debt(db, program):
    from tests.ledger_helpers import spend

    cid = make_challenge(program.id, goal={"type": "count", "target": 2})
    card = enrol(program.id)
    buy(card, "p-1", _at(0), amount=100)
    buy(card, "p-2", _at(1), amount=100)  # 200 base + 200 reward
    spend(card.customer_id, 400)
    refund(card, "r-1", "p-1", 100)
    assert progress(card.customer_id, cid)["c"][1] == "revoked"
    assert balance(card.customer_id) == (-300, 0)  # 100 base + 200 reward owed
    assert_reconciled()


def _streak_challenge(program_id: int) -> int:
    return make_challenge(
        program_id, name="4-day streak", goal={"type": "streak", "target": 4, "unit": "days"}
    )


def test_streak_with_a_freeze_completes(db, program):
    cid = _streak_challenge(program.id)
    card = enrol(program.id)
    # Mon 2, Tue 3, (Wed 4 missed: this week's freeze), Thu 5, Fri 6 March: 4 active days.
    for n, day in enumerate((0, 1, 3)):
        buy(card, f"p-{n}", _at(day))
    row = progress_row(card.customer_id, cid)
    assert (row.value, row.current_streak, row.best_streak) == (3, 3, 3)
    assert str(row.freeze_used_on) == "2026-03-04"
    buy(card, "p-3", _at(4))
    row = progress_row(card.customer_id, cid)
    assert (row.value, row.status, row.current_streak, row.best_streak) == (4, "completed", 4, 4)
    # Refunding Tuesday's only purchase: Tue and Wed missed in one week → the streak breaks
    # into Mon (1) and Thu–Fri (2): best 2 < 4, revoked.
    refund(card, "r-1", "p-1", 1000)
    row = progress_row(card.customer_id, cid)
    assert (row.value, row.status, row.best_streak) == (2, "revoked", 2)
    assert_reconciled()


def test_streak_without_a_freeze_breaks_on_two_missed_days(db, program):
    cid = _streak_challenge(program.id)
    card = enrol(program.id)
    # Mon 2, Tue 3, (Wed 4 and Thu 5 missed, same week), Fri 6, Sat 7, Sun 8: best 3.
    for n, day in enumerate((0, 1, 4, 5, 6)):
        buy(card, f"p-{n}", _at(day))
    row = progress_row(card.customer_id, cid)
    assert (row.value, row.status, row.current_streak, row.best_streak) == (3, "active", 3, 3)
    assert row.freeze_used_on is None
    assert rewards() == []
