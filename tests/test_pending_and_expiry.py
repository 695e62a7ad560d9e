"""Pending points release on schedule; lots expire oldest first; the balance shows what expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from rewards.db import db
from rewards.maintenance import expire_lots, release_pending
from tests.factories import ProgramFactory
from tests.ledger_helpers import assert_reconciled, balance, enrol, entries, spend, store
from workers.jobs import process_transactions

NOW = datetime.now(UTC)


@pytest.fixture
def pending_program(db):
    program = ProgramFactory(slug="pending", pending_days=7, expiry_months=12)
    db.session.commit()
    return program.id


def test_points_stay_pending_until_released(pending_program):
    card = enrol(pending_program)
    tx = store(pending_program, card.token, "p-1", amount_minor=500, occurred_at=NOW)
    process_transactions([tx])
    assert balance(card.customer_id) == (0, 500)
    (lot,) = entries(card.customer_id)
    assert lot.state == "pending"
    assert abs(lot.available_at - (NOW + timedelta(days=7))) < timedelta(seconds=1)
    assert release_pending(now=NOW + timedelta(days=6)) == 0
    assert release_pending(now=NOW + timedelta(days=7, seconds=1)) == 1
    db.session.commit()
    assert balance(card.customer_id) == (500, 0)
    assert release_pending(now=NOW + timedelta(days=8)) == 0
    assert_reconciled()


def test_old_purchase_is_available_at_once(pending_program):
    card = enrol(pending_program)
    tx = store(
        pending_program, card.token, "old", amount_minor=500, occurred_at=NOW - timedelta(days=30)
    )
    process_transactions([tx])
    assert balance(card.customer_id) == (500, 0)


def test_refund_of_pending_purchase_reduces_pending_and_releases_net(pending_program):
    card = enrol(pending_program)
    process_transactions(
        [store(pending_program, card.token, "p-1", amount_minor=1000, occurred_at=NOW)]
    )
    refund = store(
        pending_program,
        card.token,
        "r-1",
        kind="refund",
        amount_minor=400,
        original_external_id="p-1",
        occurred_at=NOW,
    )
    process_transactions([refund])
    assert balance(card.customer_id) == (0, 600)
    assert_reconciled()
    release_pending(now=NOW + timedelta(days=8))
    db.session.commit()
    assert balance(card.customer_id) == (600, 0)
    assert entries(card.customer_id)[0].remaining == 600
    assert_reconciled()


def test_release_repays_debt_before_adding_spendable_points(pending_program):
    card = enrol(pending_program)
    process_transactions(
        [store(pending_program, card.token, "p-1", amount_minor=1000, occurred_at=NOW)]
    )
    # An unlinked refund elsewhere takes available points that are not there yet: debt.
    process_transactions(
        [
            store(
                pending_program,
                card.token,
                "r-1",
                kind="refund",
                amount_minor=300,
                merchant_id="m-x",
                occurred_at=NOW,
            )
        ]
    )
    assert balance(card.customer_id) == (-300, 1000)
    release_pending(now=NOW + timedelta(days=8))
    db.session.commit()
    assert balance(card.customer_id) == (700, 0)
    assert entries(card.customer_id)[0].remaining == 700
    assert_reconciled()


def test_spending_consumes_oldest_lots_first_and_expiry_takes_the_rest(program):
    card = enrol(program.id)
    process_transactions(
        [
            store(
                program.id,
                card.token,
                "jan",
                amount_minor=300,
                occurred_at=NOW - timedelta(days=350),
            ),
            store(
                program.id,
                card.token,
                "jun",
                amount_minor=500,
                occurred_at=NOW - timedelta(days=200),
            ),
        ]
    )
    spend(card.customer_id, 200, "spend")
    jan, jun = entries(card.customer_id)[:2]
    assert (jan.remaining, jun.remaining) == (100, 500)
    # The January lot expires after 12 months: only its unspent 100 points go.
    assert expire_lots(now=NOW + timedelta(days=20)) == 1
    db.session.commit()
    assert balance(card.customer_id) == (500, 0)
    expiry = entries(card.customer_id)[-1]
    assert (expiry.kind, expiry.points) == ("expire", -100)
    assert expire_lots(now=NOW + timedelta(days=20)) == 0
    assert_reconciled()


def test_programs_without_expiry_never_expire(db):
    program = ProgramFactory(slug="forever", expiry_months=0)
    db.session.commit()
    card = enrol(program.id)
    process_transactions(
        [
            store(
                program.id,
                card.token,
                "p",
                amount_minor=100,
                occurred_at=NOW - timedelta(days=3000),
            )
        ]
    )
    assert entries(card.customer_id)[0].expires_at is None
    assert expire_lots(now=NOW + timedelta(days=10_000)) == 0


def test_fully_refunded_pending_lot_does_not_hide_debt_from_the_next_lot(pending_program):
    """Released together: a lot and its clawbacks count only their net against debt."""
    card = enrol(pending_program)
    # Debt of 50 first (an unlinked refund at a merchant with no purchase).
    process_transactions(
        [
            store(
                pending_program,
                card.token,
                "r-0",
                kind="refund",
                amount_minor=50,
                merchant_id="m-x",
                occurred_at=NOW,
            )
        ]
    )
    p1 = store(pending_program, card.token, "p-1", amount_minor=100, occurred_at=NOW)
    p2 = store(pending_program, card.token, "p-2", amount_minor=100, occurred_at=NOW)
    process_transactions([p1, p2])
    process_transactions(
        [
            store(
                pending_program,
                card.token,
                "r-1",
                kind="refund",
                amount_minor=100,
                original_external_id="p-1",
                occurred_at=NOW,
            )
        ]
    )
    assert balance(card.customer_id) == (-50, 100)
    release_pending(now=NOW + timedelta(days=8))
    db.session.commit()
    assert balance(card.customer_id) == (50, 0)
    assert_reconciled()
    # Everything left expires: exactly the 50 spendable points go, the balance ends at 0.
    expire_lots(now=NOW + timedelta(days=400))
    db.session.commit()
    assert balance(card.customer_id) == (0, 0)
    assert_reconciled()


def test_refund_of_an_expired_purchase_takes_nothing_twice(db):
    program = ProgramFactory(slug="short", expiry_months=1)
    db.session.commit()
    program = SimpleNamespace(id=program.id)
    card = enrol(program.id)
    old = NOW - timedelta(days=40)
    process_transactions(
        [
            store(program.id, card.token, "p-old", amount_minor=100, occurred_at=old),
            store(program.id, card.token, "p-new", amount_minor=300, occurred_at=NOW),
        ]
    )
    expire_lots(now=NOW)
    db.session.commit()
    assert balance(card.customer_id) == (300, 0)
    process_transactions(
        [
            store(
                program.id,
                card.token,
                "r-1",
                kind="refund",
                amount_minor=100,
                original_external_id="p-old",
                occurred_at=NOW,
            )
        ]
    )
    # The purchase's points already expired: nothing is left to take back.
    assert balance(card.customer_id) == (300, 0)
    assert_reconciled()


def test_refund_after_partial_spend_and_expiry_takes_back_only_what_was_spent(db):
    program = ProgramFactory(slug="short2", expiry_months=1)
    db.session.commit()
    program = SimpleNamespace(id=program.id)
    card = enrol(program.id)
    process_transactions(
        [
            store(
                program.id,
                card.token,
                "p-old",
                amount_minor=100,
                occurred_at=NOW - timedelta(days=40),
            )
        ]
    )
    spend(card.customer_id, 40, "spend")
    expire_lots(now=NOW)  # the other 60 expire
    db.session.commit()
    process_transactions(
        [
            store(
                program.id,
                card.token,
                "r-1",
                kind="refund",
                amount_minor=100,
                original_external_id="p-old",
                occurred_at=NOW,
            )
        ]
    )
    assert balance(card.customer_id) == (-40, 0)  # the 40 spent points become debt
    assert_reconciled()


def _lot(customer_id: int, points: int, key: str, **fields) -> None:
    """One earning lot written through the ledger primitives, committed."""
    from rewards.ledger import Movement, account_of_customer, credit

    account = account_of_customer(customer_id, lock=True)
    move = Movement(
        kind="earn",
        points=points,
        source_type="transaction",
        idempotency_key=key,
        occurred_at=NOW - timedelta(days=400),
        explanation={"summary": key},
        **fields,
    )
    assert credit(account, move) is not None
    db.session.commit()


def test_next_release_is_every_point_due_at_that_moment(client, program, cardholder_headers):
    card = enrol(program.id, external_ref="cust-1")
    due = datetime.now(UTC) + timedelta(days=3)
    _lot(card.customer_id, 70, "base", available_at=due)  # a purchase's base points…
    _lot(card.customer_id, 140, "bonus", available_at=due)  # …and its bonus, due together
    _lot(card.customer_id, 500, "later", available_at=due + timedelta(seconds=1))

    body = client.get("/v1/me/balance", headers=cardholder_headers).json

    assert body["pending"] == 710
    assert body["next_release"]["points"] == 70 + 140
    released = datetime.fromisoformat(body["next_release"]["available_at"].replace("Z", "+00:00"))
    assert abs(released - due) < timedelta(milliseconds=1)


def test_points_past_expiry_are_gone_from_the_balance_before_the_expiry_job(
    client, program, cardholder_headers
):
    card = enrol(program.id, external_ref="cust-1")
    now = datetime.now(UTC)
    _lot(card.customer_id, 100, "lapsed", expires_at=now - timedelta(hours=1))
    _lot(card.customer_id, 40, "lapsed-too", expires_at=now - timedelta(minutes=1))
    _lot(card.customer_id, 50, "soon", expires_at=now + timedelta(days=5))
    _lot(card.customer_id, 30, "later", expires_at=now + timedelta(days=300))
    spend(card.customer_id, 20)  # from the lot expiring first: 80 of "lapsed" are left

    before_job = client.get("/v1/me/balance", headers=cardholder_headers).json

    # By hand: 100 + 40 + 50 + 30 − 20 spent − (80 + 40) past expiry = 50 + 30.
    assert before_job["available"] == 80
    assert balance(card.customer_id) == (200, 0)  # the account itself still holds them
    soon = (now + timedelta(days=5)).astimezone(ZoneInfo(program.timezone)).date()
    assert before_job["expiring"] == [{"date": soon.isoformat(), "points": 50}]

    assert expire_lots() == 2
    db.session.commit()
    after_job = client.get("/v1/me/balance", headers=cardholder_headers).json
    assert balance(card.customer_id) == (80, 0)
    assert after_job == before_job
    assert_reconciled()
