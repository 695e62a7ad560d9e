"""`rewards ledger reconcile` checks perks too: stock against redemptions, each redemption
against its voucher and ledger entries, pool codes against the vouchers that carry them.
Each test plants one inconsistency by SQL and expects exactly the differences it causes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from rewards import sealing
from rewards.models import LedgerEntry
from rewards.perks.models import Perk, Redemption, VoucherCode
from rewards.perks.reconcile import PerkDifference
from rewards.reconcile import Difference, reconcile
from tests.factories import CustomerFactory, ProgramFactory
from tests.perk_helpers import give_points, make_partner, make_perk


def _redeem(client, headers, perk_id: int, key: str) -> dict:
    response = client.post(
        "/v1/me/redemptions", json={"perk_id": perk_id}, headers={**headers, "Idempotency-Key": key}
    )
    assert response.status_code == 201, response.json
    return response.json


@pytest.fixture
def shop(client, db, program, marketer_headers, cardholder_headers):
    """cust-1 (2,000 points) redeemed coffee twice (cancelling the second) and a pool perk
    once: 2,000 - 300 - 300 + 300 - 100 = 1,600 points left."""
    make_partner(client, marketer_headers)
    CustomerFactory(program=program, external_ref="cust-1")
    db.session.commit()
    give_points(client, marketer_headers, "cust-1", 2000)
    coffee = make_perk(client, marketer_headers, stock=10)
    pool = make_perk(
        client, marketer_headers, title="Tea", cost_points=100, voucher={"codes": "uploaded"}
    )
    partner_id = db.session.get(Perk, pool).partner_id
    for code in ("TEA-0001", "TEA-0002"):
        db.session.add(
            VoucherCode(
                perk_id=pool,
                partner_id=partner_id,
                code_hash=sealing.lookup_hash(code),
                code_sealed=sealing.seal(code),
            )
        )
    db.session.commit()
    kept = _redeem(client, cardholder_headers, coffee, "a")
    dropped = _redeem(client, cardholder_headers, coffee, "b")
    cancelled = client.post(
        f"/v1/me/vouchers/{dropped['voucher']['id']}/cancel", headers=cardholder_headers
    )
    assert cancelled.status_code == 200, cancelled.json
    tea = _redeem(client, cardholder_headers, pool, "c")
    return {
        "coffee": coffee,
        "pool": pool,
        "kept": kept["id"],
        "dropped": dropped["id"],
        "tea": tea["id"],
        "tea_code": db.session.scalar(select(VoucherCode.id).where(VoucherCode.status == "issued")),
    }


def _plant(db, sql: str, **params) -> None:
    db.session.execute(text(sql), params)
    db.session.commit()


def test_the_redemptions_as_made_reconcile(shop):
    assert reconcile() == []


def test_a_stock_counter_bumped_by_sql_is_caught_in_its_program_only(app, db, shop):
    _plant(db, "UPDATE perks SET stock_used = stock_used + 1 WHERE id = :id", id=shop["coffee"])
    other = ProgramFactory(slug="other")
    db.session.commit()

    expected = PerkDifference(
        "perk", shop["coffee"], "stock_used", 2, 1, "redemptions not cancelled"
    )
    assert reconcile() == [expected]
    assert reconcile(other.id) == []
    result = app.test_cli_runner().invoke(args=["ledger", "reconcile"])
    assert result.exit_code == 1
    assert f"perk {shop['coffee']}: stock_used stored 2 but redemptions not cancelled say 1" in (
        result.output
    )


def test_a_cancelled_redemption_marked_completed_again_is_caught_four_ways(db, shop):
    _plant(
        db,
        "UPDATE redemptions SET status = 'completed', cancelled_at = NULL WHERE id = :id",
        id=shop["dropped"],
    )

    dropped = shop["dropped"]
    assert reconcile() == [
        PerkDifference("perk", shop["coffee"], "stock_used", 1, 2, "redemptions not cancelled"),
        PerkDifference("redemption", dropped, "refund_entries", 0, 1, "entries"),
        PerkDifference("redemption", dropped, "refund_points", 0, 300, "entries"),
        PerkDifference("redemption", dropped, "cancelled_vouchers", 0, 1, "vouchers"),
    ]


def test_a_redemption_without_its_voucher_is_caught(db, shop):
    _plant(db, "DELETE FROM vouchers WHERE redemption_id = :id", id=shop["kept"])

    assert reconcile() == [PerkDifference("redemption", shop["kept"], "vouchers", 1, 0, "vouchers")]


def test_a_second_debit_for_one_redemption_is_caught_with_the_balance_it_broke(db, shop):
    first = db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.idempotency_key == f"redemption:{shop['kept']}")
    ).one()
    db.session.add(
        LedgerEntry(
            program_id=first.program_id,
            account_id=first.account_id,
            kind="redeem",
            points=-300,
            state="available",
            available_at=datetime.now(UTC),
            source_type="redemption",
            source_id=shop["kept"],
            idempotency_key="planted-second-debit",
            occurred_at=datetime.now(UTC),
        )
    )
    db.session.commit()
    customer_id = db.session.get(Redemption, shop["kept"]).customer_id

    assert reconcile() == [
        Difference(first.account_id, customer_id, "available", 1600, 1300),
        PerkDifference("redemption", shop["kept"], "redeem_entries", 1, 2, "entries"),
        PerkDifference("redemption", shop["kept"], "redeem_points", -300, -600, "entries"),
    ]


def test_a_pool_code_handed_out_again_is_caught(app, db, shop):
    _plant(db, "UPDATE voucher_codes SET status = 'available' WHERE id = :id", id=shop["tea_code"])

    assert reconcile() == [
        PerkDifference("voucher_code", shop["tea_code"], "vouchers", 0, 1, "vouchers")
    ]
    output = app.test_cli_runner().invoke(args=["ledger", "reconcile"]).output
    assert f"voucher_code {shop['tea_code']}: vouchers stored 0 but vouchers say 1" in output


def test_the_command_says_so_when_everything_reconciles(app, shop):
    result = app.test_cli_runner().invoke(args=["ledger", "reconcile"])

    assert result.exit_code == 0, result.output
    assert "ledger reconciled" in result.output
