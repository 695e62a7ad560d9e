"""Every award of a purchase passes one guard: a row whose campaign bonus is out of range is
rejected alone, uses no cap room, and the rest of its chunk earns (directly and via RQ)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from rewards.models import Program, Transaction
from tests.ledger_helpers import assert_reconciled, balance, enrol, entries, status_of, store
from workers.jobs import process_transactions

HUGE = 10**15  # ¥: the largest amount the feed accepts
TEN_THOUSAND_PER_YEN = {"type": "points_per_unit", "value": "10000"}


@pytest.fixture
def thousandth(db, program):
    """1 point per ¥1,000: a ¥10^15 purchase earns 10^12 base points, just within range."""
    db.session.execute(
        update(Program).where(Program.id == program.id).values(earn_rate=Decimal("0.001"))
    )
    db.session.commit()
    return program


def _reason(db, tx_id: int) -> str:
    return db.session.scalar(select(Transaction.reason).where(Transaction.id == tx_id))


def test_an_overflowing_bonus_is_rejected_alone_and_its_chunk_earns(db, thousandth, launch):
    launch(effect=TEN_THOUSAND_PER_YEN)  # 10^15 × 10^4 = 10^19: beyond a ledger lot
    alice, bob = enrol(thousandth.id), enrol(thousandth.id)
    now = datetime.now(UTC)
    bad = store(thousandth.id, alice.token, "bad", amount_minor=HUGE, occurred_at=now)
    after = store(
        thousandth.id, alice.token, "after", amount_minor=1000, occurred_at=now + timedelta(1)
    )
    other = store(thousandth.id, bob.token, "other", amount_minor=2000)

    result = process_transactions([bad, after, other])

    assert result["rejected"] == 1 and result["processed"] == 2
    assert status_of(bad) == "rejected"
    assert "out of range" in _reason(db, bad)
    # By hand: ¥1,000 earns 1 base point and 1,000 × 10,000 bonus points.
    assert balance(alice.customer_id) == (1 + 10_000_000, 0)
    assert balance(bob.customer_id) == (2 + 20_000_000, 0)
    assert [e.transaction_id for e in entries(alice.customer_id)] == [after, after]
    assert_reconciled()
    # The sweep finds nothing left to do: the chunk is not retried forever.
    assert process_transactions([bad, after, other]) == {"entries": 0, "points": 0}


def test_a_rejected_row_uses_no_qualifying_spend_room(db, thousandth, launch):
    # The cap cuts the huge row to 10^12 qualifying yen: 10^16 points, still out of range.
    launch(
        effect=TEN_THOUSAND_PER_YEN,
        caps={"qualifying_spend": {"period": "week", "amount_minor": 10**12}},
    )
    card = enrol(thousandth.id)
    now = datetime.now(UTC)
    bad = store(thousandth.id, card.token, "bad", amount_minor=HUGE, occurred_at=now)
    good = store(thousandth.id, card.token, "good", amount_minor=500, occurred_at=now)

    process_transactions([bad, good])

    assert status_of(bad) == "rejected"
    # The whole ¥500 still qualifies: 0 base points (¥500 at 1 per ¥1,000), 5,000,000 bonus.
    assert balance(card.customer_id) == (5_000_000, 0)
    assert_reconciled()


def test_an_overflowing_multiplier_on_a_huge_amount_is_rejected_via_rq(
    client, db, thousandth, launch, processor_headers, run_jobs
):
    launch(effect={"type": "multiplier", "value": "100"})  # 10^12 base × 99 is out of range
    card = enrol(thousandth.id)
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    rows = [
        {
            "external_id": external_id,
            "card_token": card.token,
            "kind": "purchase",
            "amount_minor": amount,
            "currency": "JPY",
            "mcc": "5812",
            "merchant_id": "m-1",
            "occurred_at": at,
        }
        for external_id, amount in (("huge", HUGE), ("small", 3000), ("more", 7000))
    ]
    posted = client.post("/v1/transactions", json={"transactions": rows}, headers=processor_headers)
    assert posted.status_code == 202, posted.json

    run_jobs()

    statuses = dict(db.session.execute(select(Transaction.external_id, Transaction.status)).all())
    assert statuses == {"huge": "rejected", "small": "processed", "more": "processed"}
    # By hand: ¥10,000 earn 10 base points, and 99 × 10 = 990 bonus points.
    assert balance(card.customer_id) == (10 + 990, 0)
    batch = client.get(
        f"/v1/batches/{posted.json['batch_id']}", headers=processor_headers
    ).get_json()
    assert (batch["processed"], batch["failed_rules"], batch["complete"]) == (2, 1, True)
    assert_reconciled()
