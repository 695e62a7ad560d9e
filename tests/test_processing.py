"""The chunk job: base points, exclusions, unmatched cards, idempotent re-runs."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from rewards.matching import release_unmatched
from tests.factories import ProgramFactory
from tests.ledger_helpers import (
    assert_reconciled,
    balance,
    enrol,
    entries,
    entry_count,
    status_of,
    store,
)
from workers.jobs import process_transactions, sweep_stranded


@pytest.fixture
def card(db, program):
    return enrol(program.id, external_ref="cust-1")


def test_purchase_earns_base_points_with_explanation(db, program, card):
    occurred = datetime(2025, 6, 14, 9, 30, tzinfo=UTC)
    tx = store(program.id, card.token, "t-1", amount_minor=1234, occurred_at=occurred)
    result = process_transactions([tx])
    assert result["processed"] == 1
    assert balance(card.customer_id) == (1234, 0)
    (entry,) = entries(card.customer_id)
    assert (entry.kind, entry.points, entry.state, entry.remaining) == (
        "earn",
        1234,
        "available",
        1234,
    )
    assert entry.idempotency_key == f"tx:{tx}:base"
    assert entry.explanation["summary"] == "1 pt per ¥1 at Noodle Bar (dining)"
    assert entry.expires_at == datetime(2026, 6, 14, 9, 30, tzinfo=UTC)  # 12 months on
    assert status_of(tx) == "processed"
    assert_reconciled()


@pytest.mark.parametrize(
    ("occurred", "expires"),
    [
        # A leap day earns a lot that expires on the last day of next February.
        (datetime(2024, 2, 29, 23, 59, tzinfo=UTC), datetime(2025, 2, 28, 23, 59, tzinfo=UTC)),
        (datetime(2028, 2, 29, 0, 0, tzinfo=UTC), datetime(2029, 2, 28, 0, 0, tzinfo=UTC)),
        # Twelve months from 28 February is 28 February, even when a leap day follows.
        (datetime(2027, 2, 28, 12, 0, tzinfo=UTC), datetime(2028, 2, 28, 12, 0, tzinfo=UTC)),
        (datetime(2025, 1, 31, 8, 0, tzinfo=UTC), datetime(2026, 1, 31, 8, 0, tzinfo=UTC)),
        (datetime(2025, 12, 31, 23, 0, tzinfo=UTC), datetime(2026, 12, 31, 23, 0, tzinfo=UTC)),
    ],
)
def test_a_lot_expires_twelve_calendar_months_after_the_purchase(
    db, program, card, occurred, expires
):
    tx = store(program.id, card.token, "t-1", amount_minor=100, occurred_at=occurred)
    process_transactions([tx])
    (entry,) = entries(card.customer_id)
    assert entry.expires_at == expires


def test_points_round_down_per_transaction_in_minor_units(db):
    usd = ProgramFactory(slug="usd", currency="USD", earn_rate=Decimal("1.5"))
    db.session.commit()
    card = enrol(usd.id)
    ids = [store(usd.id, card.token, f"u-{i}", currency="USD", amount_minor=1999) for i in range(3)]
    process_transactions(ids)
    # $19.99 × 1.5 = 29.985 → 29 per transaction, never 89 from summing first.
    assert balance(card.customer_id) == (87, 0)
    assert entries(card.customer_id)[0].explanation["summary"].startswith("1.5 pts per $1.00")


def test_running_a_chunk_twice_changes_nothing(db, program, card):
    ids = [store(program.id, card.token, f"t-{i}", amount_minor=100) for i in range(5)]
    process_transactions(ids)
    before = (balance(card.customer_id), entry_count())
    again = process_transactions(ids)
    assert again == {"entries": 0, "points": 0}
    assert (balance(card.customer_id), entry_count()) == before == ((500, 0), 5)


def test_excluded_mcc_is_stored_but_never_earns(db, program, card):
    tx = store(program.id, card.token, "cash", mcc="6011", amount_minor=50_000)
    process_transactions([tx])
    assert status_of(tx) == "excluded"
    assert balance(card.customer_id) == (0, 0)
    assert entries(card.customer_id) == []


def test_unknown_card_waits_as_unmatched_until_enrolled(db, program):
    tx = store(program.id, "tok-later", "t-1", amount_minor=700)
    process_transactions([tx])
    assert status_of(tx) == "unmatched"
    later = enrol(program.id, token="tok-later")
    ids = release_unmatched(program_id=program.id, card_tokens=["tok-later"])
    db.session.commit()
    assert ids == [tx]
    process_transactions(ids)
    assert status_of(tx) == "processed"
    assert balance(later.customer_id) == (700, 0)


def test_zero_point_purchase_is_processed_without_entry(db):
    usd = ProgramFactory(slug="usd0", currency="USD", earn_rate=Decimal("1"))
    db.session.commit()
    card = enrol(usd.id)
    tx = store(usd.id, card.token, "small", currency="USD", amount_minor=99)
    process_transactions([tx])
    assert status_of(tx) == "processed"
    assert entries(card.customer_id) == []


def test_program_isolation_same_card_token_in_two_programs(db, program, card):
    other = ProgramFactory(slug="other")
    db.session.commit()
    other_card = enrol(other.id, token=card.token)
    a = store(program.id, card.token, "same-id", amount_minor=100)
    b = store(other.id, card.token, "same-id", amount_minor=300)
    process_transactions([a, b])
    assert balance(card.customer_id) == (100, 0)
    assert balance(other_card.customer_id) == (300, 0)


def test_sweeper_revives_unmatched_rows_whose_card_was_enrolled_meanwhile(db, program):
    tx = store(program.id, "tok-race", "t-1", amount_minor=300)
    process_transactions([tx])
    # Enrolment committed while the chunk was deciding: it released nothing.
    later = enrol(program.id, token="tok-race")
    assert status_of(tx) == "unmatched"
    assert sweep_stranded(older_than_seconds=0) == 1
    process_transactions([tx])
    assert balance(later.customer_id) == (300, 0)


def test_a_row_that_cannot_be_evaluated_is_rejected_without_blocking_its_chunk(db, program, card):
    far_future = datetime(9999, 12, 20, tzinfo=UTC)
    bad = store(program.id, card.token, "bad", amount_minor=100, occurred_at=far_future)
    good = store(program.id, card.token, "good", amount_minor=200)
    result = process_transactions([bad, good])
    assert result["rejected"] == 1 and result["processed"] == 1
    assert status_of(bad) == "rejected"
    assert balance(card.customer_id) == (200, 0)


def test_refund_at_an_excluded_mcc_of_an_earning_purchase_still_claws_back(db, program, card):
    process_transactions([store(program.id, card.token, "p-1", amount_minor=500, mcc="5812")])
    refund = store(
        program.id,
        card.token,
        "r-1",
        kind="refund",
        amount_minor=500,
        original_external_id="p-1",
        mcc="6011",
    )
    process_transactions([refund])
    assert status_of(refund) == "processed"
    assert balance(card.customer_id) == (0, 0)
