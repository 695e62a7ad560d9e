"""Refunds and reversals take back exactly what the purchase earned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rewards.db import db
from tests.ledger_helpers import assert_reconciled, balance, enrol, entries, spend, status_of, store
from workers.jobs import process_transactions, sweep_stranded


@pytest.fixture
def card(program):
    return enrol(program.id, external_ref="cust-1")


def _purchase(program, card, ext="p-1", amount=1000, **kw):
    tx = store(program.id, card.token, ext, amount_minor=amount, **kw)
    process_transactions([tx])
    return tx


def _refund(program, card, ext, amount, original=None, kind="refund", **kw):
    return store(
        program.id,
        card.token,
        ext,
        kind=kind,
        amount_minor=amount,
        original_external_id=original,
        **kw,
    )


def test_full_refund_takes_back_everything(program, card):
    _purchase(program, card, amount=1000)
    refund = _refund(program, card, "r-1", 1000, original="p-1")
    process_transactions([refund])
    assert balance(card.customer_id) == (0, 0)
    claw = entries(card.customer_id)[-1]
    assert (claw.kind, claw.points) == ("clawback", -1000)
    assert (
        claw.explanation["summary"]
        == "Refund at Noodle Bar: 1000 pts taken back from your purchase"
    )
    assert status_of(refund) == "processed"
    assert_reconciled()


def test_partial_refunds_add_up_to_exactly_the_earned_points(program, card):
    _purchase(program, card, amount=999)
    parts = [333, 333, 333]
    for i, part in enumerate(parts):
        process_transactions([_refund(program, card, f"r-{i}", part, original="p-1")])
    assert balance(card.customer_id) == (0, 0)
    assert [e.points for e in entries(card.customer_id)] == [999, -333, -333, -333]


def test_partial_refund_is_proportional_and_rounds_cumulatively(program, card):
    _purchase(program, card, amount=10)  # 10 pts
    process_transactions([_refund(program, card, "r-1", 3, original="p-1")])
    assert balance(card.customer_id) == (7, 0)
    process_transactions([_refund(program, card, "r-2", 3, original="p-1")])
    assert balance(card.customer_id) == (4, 0)
    process_transactions([_refund(program, card, "r-3", 4, original="p-1")])
    assert balance(card.customer_id) == (0, 0)


def test_refund_larger_than_what_is_left_is_capped(program, card):
    _purchase(program, card, amount=500)
    process_transactions([_refund(program, card, "r-1", 400, original="p-1")])
    second = _refund(program, card, "r-2", 400, original="p-1")
    process_transactions([second])
    assert balance(card.customer_id) == (0, 0)
    third = _refund(program, card, "r-3", 100, original="p-1")
    process_transactions([third])
    assert balance(card.customer_id) == (0, 0)
    assert status_of(third) == "processed"


def test_reversal_voids_the_purchase(program, card):
    _purchase(program, card, amount=800)
    reversal = _refund(program, card, "v-1", 800, original="p-1", kind="reversal")
    process_transactions([reversal])
    assert balance(card.customer_id) == (0, 0)
    assert entries(card.customer_id)[-1].explanation["summary"].startswith("Reversal at Noodle Bar")


def test_refund_before_its_purchase_waits_then_applies(program, card):
    refund = _refund(program, card, "r-early", 600, original="p-late")
    process_transactions([refund])
    assert status_of(refund) == "waiting_for_original"
    assert balance(card.customer_id) == (0, 0)
    purchase = store(program.id, card.token, "p-late", amount_minor=600)
    process_transactions([purchase])
    assert status_of(refund) == "processed"
    assert balance(card.customer_id) == (0, 0)
    assert [e.points for e in entries(card.customer_id)] == [600, -600]
    assert_reconciled()


def test_refund_and_purchase_in_one_chunk(program, card):
    refund = _refund(program, card, "r-1", 250, original="p-1")
    purchase = store(program.id, card.token, "p-1", amount_minor=1000)
    process_transactions([refund, purchase])
    assert balance(card.customer_id) == (750, 0)


def test_refund_left_waiting_by_a_race_is_revived_by_the_sweeper(program, card):
    refund = _refund(program, card, "r-1", 1000, original="p-1")
    process_transactions([refund])
    purchase = store(program.id, card.token, "p-1", amount_minor=1000)
    # Another worker holds the refund row (e.g. it is still deciding that it must wait), so
    # the purchase's chunk skips it: the refund stays waiting although its purchase is done.
    with db.engine.connect() as other_worker:
        other_worker.execute(
            db.text("SELECT id FROM transactions WHERE id = :id FOR UPDATE"), {"id": refund}
        )
        process_transactions([purchase])
        other_worker.rollback()
    assert status_of(refund) == "waiting_for_original"
    assert balance(card.customer_id) == (1000, 0)
    assert sweep_stranded(older_than_seconds=0) == 1
    process_transactions([refund])
    assert balance(card.customer_id) == (0, 0)
    assert_reconciled()


def test_unlinked_refund_matches_latest_purchase_at_same_merchant(program, card):
    now = datetime.now(UTC)
    _purchase(program, card, "p-old", 1000, occurred_at=now - timedelta(days=30))
    _purchase(program, card, "p-new", 2000, occurred_at=now - timedelta(days=2))
    _purchase(
        program, card, "p-elsewhere", 5000, merchant_id="m-2", occurred_at=now - timedelta(days=1)
    )
    refund = _refund(program, card, "r-1", 2000)
    process_transactions([refund])
    assert balance(card.customer_id) == (6000, 0)
    claw = entries(card.customer_id)[-1]
    assert claw.points == -2000
    assert claw.explanation["original_external_id"] == "p-new"
    # The next unlinked refund skips the fully refunded purchase and takes the older one.
    process_transactions([_refund(program, card, "r-2", 1000)])
    assert balance(card.customer_id) == (5000, 0)


def test_unlinked_refund_without_match_claws_back_base_points(program, card):
    _purchase(program, card, "p-1", 3000, merchant_id="m-9")
    refund = _refund(program, card, "r-1", 1200)  # merchant m-1: nothing bought there
    process_transactions([refund])
    assert balance(card.customer_id) == (1800, 0)
    assert entries(card.customer_id)[-1].explanation["rule"] == "unlinked_refund"


def test_unlinked_refund_ignores_purchases_older_than_120_days(program, card):
    _purchase(program, card, "p-1", 3000, occurred_at=datetime.now(UTC) - timedelta(days=121))
    process_transactions([_refund(program, card, "r-1", 3000)])
    claw = entries(card.customer_id)[-1]
    assert claw.explanation["rule"] == "unlinked_refund"


def test_refund_after_points_were_spent_leaves_a_negative_balance(program, card):
    _purchase(program, card, amount=1000)
    spend(card.customer_id, 800, "spend-1")
    process_transactions([_refund(program, card, "r-1", 1000, original="p-1")])
    assert balance(card.customer_id) == (-800, 0)
    assert_reconciled()
    # New earnings repay the debt first; only the rest is a spendable lot.
    _purchase(program, card, "p-2", 1000)
    assert balance(card.customer_id) == (200, 0)
    assert entries(card.customer_id)[-1].remaining == 200
    assert_reconciled()


def test_refund_of_excluded_purchase_is_excluded(program, card):
    _purchase(program, card, "cash", 1000, mcc="6011")
    refund = _refund(program, card, "r-1", 1000, original="cash", mcc="6011")
    process_transactions([refund])
    assert status_of(refund) == "excluded"
    assert balance(card.customer_id) == (0, 0)


def _reason(tx_id: int) -> str:
    from sqlalchemy import select

    from rewards.models import Transaction

    return db.session.scalar(select(Transaction.reason).where(Transaction.id == tx_id))


FAR_FUTURE = datetime(9999, 12, 20, tzinfo=UTC)  # its lot dates cannot be computed: rejected


def test_a_refund_of_a_rejected_purchase_is_rejected_naming_it(program, card):
    purchase = _purchase(program, card, amount=500, occurred_at=FAR_FUTURE)
    assert status_of(purchase) == "rejected"
    refund = _refund(program, card, "r-1", 500, original="p-1")
    process_transactions([refund])
    assert status_of(refund) == "rejected"
    assert _reason(refund).startswith("original purchase rejected (cannot evaluate")
    assert balance(card.customer_id) == (0, 0) and entries(card.customer_id) == []
    assert_reconciled()


def test_a_refund_waiting_for_a_purchase_that_is_then_rejected_ends_rejected(program, card):
    refund = _refund(program, card, "r-1", 500, original="p-1")
    process_transactions([refund])
    assert status_of(refund) == "waiting_for_original"
    purchase = store(program.id, card.token, "p-1", amount_minor=500, occurred_at=FAR_FUTURE)
    process_transactions([purchase])
    assert (status_of(purchase), status_of(refund)) == ("rejected", "rejected")
    assert _reason(refund).startswith("original purchase rejected")
    assert balance(card.customer_id) == (0, 0)
    # Nothing is left for the sweeper: the refund has reached its end.
    assert sweep_stranded(older_than_seconds=0) == 0


def test_a_refund_left_waiting_by_a_race_with_a_rejected_purchase_is_revived(program, card):
    refund = _refund(program, card, "r-1", 500, original="p-1")
    process_transactions([refund])
    purchase = store(program.id, card.token, "p-1", amount_minor=500, occurred_at=FAR_FUTURE)
    with db.engine.connect() as other_worker:  # holds the refund: the purchase's chunk skips it
        other_worker.execute(
            db.text("SELECT id FROM transactions WHERE id = :id FOR UPDATE"), {"id": refund}
        )
        process_transactions([purchase])
        other_worker.rollback()
    assert (status_of(purchase), status_of(refund)) == ("rejected", "waiting_for_original")
    assert sweep_stranded(older_than_seconds=0) == 1
    process_transactions([refund])
    assert status_of(refund) == "rejected"
    assert _reason(refund).startswith("original purchase rejected")
