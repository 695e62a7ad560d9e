"""`flask ledger audit-bonus-rounding`: bonus lots the rounded qualifying share left short are
counted from their explanations, and `--apply` credits each exactly once."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

import pytest
from sqlalchemy import func, select

from campaigns.earning.compiled import Campaign, Purchase
from rewards.models import LedgerEntry
from tests.ledger_helpers import assert_reconciled, balance, enrol, entries, store
from workers.jobs import process_transactions


def rounded_share_points(self: Campaign, p: Purchase, qualifying_minor: int) -> int:
    """What the engine did before the fix (a multiplier through a 28-digit decimal share):
    used only to write the ledgers installations hold today."""
    if qualifying_minor <= 0:
        return 0
    share = Decimal(qualifying_minor) / Decimal(p.amount_minor)
    raw = Decimal(p.base_points) * share * (self.value - 1)
    return max(0, int(raw.to_integral_value(rounding=ROUND_FLOOR)))


@pytest.fixture
def old_ledgers(db, program, launch, monkeypatch):
    """Four customers buy ¥14 under 3× with ¥5 qualifying per week, as the old engine paid
    them: 9 bonus points each instead of 10. Two then get part of their purchase refunded."""
    launch(caps={"qualifying_spend": {"period": "week", "amount_minor": 5}})
    cards = [enrol(program.id) for _ in range(4)]
    with monkeypatch.context() as patch:
        patch.setattr(Campaign, "raw_points", rounded_share_points)
        for n, card in enumerate(cards):
            process_transactions([store(program.id, card.token, f"p-{n}", amount_minor=14)])
    # ¥1 back: the old lot lost floor(9/14) = 0, an exact one floor(10/14) = 0: still owed 1.
    process_transactions(
        [
            store(
                program.id,
                cards[2].token,
                "r-2",
                kind="refund",
                amount_minor=1,
                original_external_id="p-2",
            )
        ]
    )
    # ¥7 back: the old lot lost floor(9·7/14) = 4 and kept 5; an exact one keeps 10 - 5 = 5.
    process_transactions(
        [
            store(
                program.id,
                cards[3].token,
                "r-3",
                kind="refund",
                amount_minor=7,
                original_external_id="p-3",
            )
        ]
    )
    assert [e.points for e in entries(cards[0].customer_id)] == [14, 9]
    return cards


def _count() -> int:
    return select(func.count()).select_from(LedgerEntry)


def test_the_audit_counts_short_lots_and_changes_nothing(app, db, old_ledgers):
    before = db.session.scalar(_count())
    result = app.test_cli_runner().invoke(args=["ledger", "audit-bonus-rounding"])
    assert result.exit_code == 0, result.output
    assert "cut by a qualifying-spend cap: 4" in result.output
    assert "short: 4 lots, 4 customers, 4 points" in result.output
    assert "3 points still owed after refunds" in result.output
    assert "uncertain (a per-customer cap or budget may have left exactly that room): 0" in (
        result.output
    )
    assert db.session.scalar(_count()) == before


def test_apply_credits_each_short_lot_once(app, db, old_ledgers):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["ledger", "audit-bonus-rounding", "--apply"])
    assert first.exit_code == 0, first.output
    assert "corrections written: 3" in first.output
    # By hand: 14 base + 10 bonus, and 14 + 10 less 1 (refund ¥1: 1 base + 0 bonus).
    assert balance(old_ledgers[0].customer_id) == (24, 0)
    assert balance(old_ledgers[1].customer_id) == (24, 0)
    assert balance(old_ledgers[2].customer_id) == (23, 0)
    # ¥7 of ¥14 back: 7 base and 4 of the rounded lot; exact would keep 7 + 5 as well.
    assert balance(old_ledgers[3].customer_id) == (12, 0)
    (fix,) = [e for e in entries(old_ledgers[0].customer_id) if e.kind == "adjust"]
    lot = next(e for e in entries(old_ledgers[0].customer_id) if e.kind == "bonus")
    assert fix.idempotency_key == f"fix:bonus-rounding:lot:{lot.id}"
    assert fix.expires_at == lot.expires_at
    assert_reconciled()

    entries_after = db.session.scalar(_count())
    again = runner.invoke(args=["ledger", "audit-bonus-rounding", "--apply"])
    assert again.exit_code == 0, again.output
    assert "corrections written: 0" in again.output
    assert "3 lots corrected already; 0 points still owed" in again.output
    assert db.session.scalar(_count()) == entries_after
    assert balance(old_ledgers[0].customer_id) == (24, 0)
    assert_reconciled()


def test_a_part_a_per_customer_cap_may_have_cut_is_uncertain(app, db, program, launch, monkeypatch):
    launch(
        caps={
            "qualifying_spend": {"period": "week", "amount_minor": 5},
            "per_customer": [{"period": "week", "points": 9}],
        }
    )
    card = enrol(program.id)
    with monkeypatch.context() as patch:
        patch.setattr(Campaign, "raw_points", rounded_share_points)
        process_transactions([store(program.id, card.token, "p-1", amount_minor=14)])
    result = app.test_cli_runner().invoke(args=["ledger", "audit-bonus-rounding", "--apply"])
    assert "short: 0 lots" in result.output
    assert "budget may have left exactly that room): 1 lots" in result.output
    assert "corrections written: 0" in result.output
    assert balance(card.customer_id) == (23, 0)


def test_lots_the_exact_engine_wrote_are_not_short(app, db, program, launch):
    launch(caps={"qualifying_spend": {"period": "week", "amount_minor": 5}})
    card = enrol(program.id)
    process_transactions([store(program.id, card.token, "p-1", amount_minor=14)])
    result = app.test_cli_runner().invoke(args=["ledger", "audit-bonus-rounding"])
    assert "cut by a qualifying-spend cap: 1" in result.output
    assert "short: 0 lots, 0 customers, 0 points" in result.output
