"""Tiers through the feed: purchases processed by `process_chunk` move customers up at once,
base points carry the tier multiplier (checked by hand), nothing goes down before the review,
and the review job downgrades at the review date in the program's timezone (Asia/Tokyo)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from rewards.models import Customer, Event, Program, Transaction
from rewards.processing import process_chunk
from rewards.tiers.config import all_ladders, replace_ladder
from rewards.tiers.standing import review_due
from tests.factories import ProgramFactory
from tests.ledger_helpers import assert_reconciled, balance, enrol, entries, store
from workers.tier_review import review_tiers

# 12:00 in Tokyo on 10 March 2026.
NOW = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
LADDER = {
    "tiers": [
        {"code": "green", "name": "Green", "threshold": 0, "earn_multiplier": "1"},
        {"code": "gold", "name": "Gold", "threshold": 1000, "earn_multiplier": "1.25"},
        {"code": "black", "name": "Black", "threshold": 5000, "earn_multiplier": "1.5"},
    ]
}


def set_ladder(db, program_id: int, ladder: dict = LADDER) -> None:
    replace_ladder(program_id=program_id, body=ladder, actor="user:mkt", actor_role="marketer")
    db.session.commit()


@pytest.fixture
def tiered(db, program):
    set_ladder(db, program.id)
    return program


@pytest.fixture
def card(db, tiered):
    return enrol(tiered.id, external_ref="cust-1")


_ids = iter(range(1, 10_000))


def buy(db, card, amount: int, at: datetime, now: datetime | None = None, **fields) -> int:
    """Store one purchase and process it as a feed chunk at `now` (default: when it happened)."""
    tx = store(
        card.program_id,
        card.token,
        f"t-{next(_ids)}",
        amount_minor=amount,
        occurred_at=at,
        **fields,
    )
    process_chunk([tx], now=now or at)
    db.session.commit()
    return tx


def _external_id(db, tx_id: int) -> str:
    return db.session.get(Transaction, tx_id).external_id


def standing(db, customer_id: int) -> tuple[str | None, date | None, datetime | None]:
    db.session.expire_all()
    c = db.session.get(Customer, customer_id)
    return c.tier, c.tier_review_on, c.tier_since


def tier_events(db, customer_id: int) -> list[dict]:
    db.session.expire_all()
    rows = db.session.scalars(
        select(Event).where(Event.customer_id == customer_id).order_by(Event.id)
    )
    return [e.payload for e in rows if e.type == "customer.tier_changed"]


def test_reaching_the_threshold_upgrades_at_once_and_later_purchases_earn_more(db, card):
    buy(db, card, 999, NOW)
    assert standing(db, card.customer_id) == ("green", None, None)
    assert tier_events(db, card.customer_id) == []  # the base tier is no change

    buy(db, card, 1, NOW + timedelta(minutes=1))  # 1,000 qualifying points: Gold
    assert standing(db, card.customer_id) == (
        "gold",
        date(2027, 3, 10),
        NOW + timedelta(minutes=1),
    )
    (event,) = tier_events(db, card.customer_id)
    assert (event["direction"], event["from"]["code"], event["to"]["code"]) == (
        "upgrade",
        "green",
        "gold",
    )
    assert (event["qualifying_points"], event["review_on"]) == (1000, "2027-03-10")

    # ¥1,234 at 1 pt per ¥1 × 1.25 = 1,542.5 → 1,542.
    buy(db, card, 1234, NOW + timedelta(hours=1))
    lot = entries(card.customer_id)[-1]
    assert lot.points == 1542
    assert lot.explanation["summary"] == "1 pt per ¥1 × 1.25 (Gold) at Noodle Bar (dining)"
    assert lot.explanation["tier"] == {"code": "gold", "name": "Gold", "earn_multiplier": "1.25"}
    assert balance(card.customer_id) == (999 + 1 + 1542, 0)
    assert_reconciled()


def test_the_multiplier_rounds_down_once_on_the_exact_product(db, tiered):
    # 1.3 pts per ¥1 × 1.25 on ¥3 = 4.875 → 4; flooring the base first (3.9 → 3, × 1.25 =
    # 3.75 → 3) would lose a point.
    db.session.get(Program, tiered.id).earn_rate = "1.3"
    db.session.commit()
    card = enrol(tiered.id)
    buy(db, card, 800, NOW)  # 1,040 qualifying points: Gold
    buy(db, card, 3, NOW + timedelta(minutes=1))
    assert entries(card.customer_id)[-1].points == 4


def test_one_purchase_can_climb_several_tiers(db, card):
    buy(db, card, 6000, NOW)
    assert standing(db, card.customer_id)[:2] == ("black", date(2027, 3, 10))
    (event,) = tier_events(db, card.customer_id)
    assert (event["from"]["code"], event["to"]["code"]) == ("green", "black")
    buy(db, card, 1000, NOW + timedelta(minutes=1))
    assert entries(card.customer_id)[-1].points == 1500


def test_no_downgrade_mid_year_even_when_everything_is_refunded(db, card):
    first = buy(db, card, 1500, NOW)
    assert standing(db, card.customer_id)[0] == "gold"
    later = NOW + timedelta(days=100)
    refund = store(
        card.program_id,
        card.token,
        "r-1",
        kind="refund",
        amount_minor=1500,
        occurred_at=later,
        original_external_id=_external_id(db, first),
    )
    process_chunk([refund], now=later)
    db.session.commit()
    assert balance(card.customer_id) == (0, 0)
    assert standing(db, card.customer_id)[:2] == ("gold", date(2027, 3, 10))
    assert_reconciled()


def test_a_refund_after_the_upgrade_takes_back_what_the_gold_purchase_earned(db, card):
    buy(db, card, 1000, NOW)  # Gold
    tx = buy(db, card, 1234, NOW + timedelta(hours=1), merchant_id="m-9")  # 1,542 points
    refund = store(
        card.program_id,
        card.token,
        "r-2",
        kind="refund",
        amount_minor=617,
        occurred_at=NOW + timedelta(days=2),
        original_external_id=_external_id(db, tx),
    )
    process_chunk([refund], now=NOW + timedelta(days=2))
    db.session.commit()
    claw = entries(card.customer_id)[-1]
    # Half the amount back: 1,542 × 617 / 1,234 = 771 exactly.
    assert (claw.kind, claw.points) == ("clawback", -771)
    assert balance(card.customer_id) == (1000 + 1542 - 771, 0)
    assert standing(db, card.customer_id)[0] == "gold"
    assert_reconciled()


def test_the_review_job_downgrades_on_the_review_date_in_the_program_timezone(db, card):
    buy(db, card, 1000, NOW)  # Gold until the review on 10 March 2027 (Tokyo)
    ladders = all_ladders()
    eve = datetime(2027, 3, 9, 14, 59, tzinfo=UTC)  # 23:59 on 9 March in Tokyo
    assert review_due(ladders, now=eve, limit=10) == 0
    db.session.commit()
    assert standing(db, card.customer_id)[0] == "gold"

    midnight = datetime(2027, 3, 9, 15, 0, tzinfo=UTC)  # 00:00 on 10 March in Tokyo
    assert review_tiers(now=midnight) == 1
    assert standing(db, card.customer_id) == ("green", None, None)
    events = tier_events(db, card.customer_id)
    assert [(e["direction"], e["to"]["code"]) for e in events] == [
        ("upgrade", "gold"),
        ("downgrade", "green"),
    ]
    assert review_tiers(now=midnight + timedelta(hours=1)) == 0  # idempotent
    assert len(tier_events(db, card.customer_id)) == 2


def test_earning_the_threshold_again_within_the_year_keeps_the_tier(db, card):
    buy(db, card, 1000, NOW)  # Gold; the upgrade day itself is outside the review's 12 months
    buy(db, card, 600, datetime(2026, 3, 10, 15, 0, tzinfo=UTC))  # 11 March in Tokyo
    buy(db, card, 400, datetime(2027, 3, 9, 14, 0, tzinfo=UTC))  # 9 March 2027 in Tokyo
    review_tiers(now=datetime(2027, 3, 9, 15, 0, tzinfo=UTC))
    assert standing(db, card.customer_id)[:2] == ("gold", date(2028, 3, 10))


def test_a_purchase_after_the_review_date_applies_the_review_before_the_job(db, card):
    buy(db, card, 1000, NOW)
    after = datetime(2027, 3, 11, 3, 0, tzinfo=UTC)
    buy(db, card, 10, after)  # earns at Gold (tier at processing), then the review applies
    assert entries(card.customer_id)[-1].points == 12
    assert standing(db, card.customer_id) == ("green", None, None)


def test_rerunning_a_chunk_changes_no_tier_and_announces_nothing_twice(db, card):
    tx = buy(db, card, 1200, NOW)
    process_chunk([tx], now=NOW + timedelta(minutes=5))
    db.session.commit()
    assert len(tier_events(db, card.customer_id)) == 1
    assert standing(db, card.customer_id)[2] == NOW


def test_a_removed_tier_code_earns_as_the_base_tier_until_reassessed(db, tiered, card):
    buy(db, card, 1000, NOW)
    set_ladder(
        db,
        tiered.id,
        {
            "tiers": [
                {"code": "green", "name": "Green", "threshold": 0, "earn_multiplier": "1"},
                {"code": "silver", "name": "Silver", "threshold": 3000, "earn_multiplier": "1.1"},
            ]
        },
    )
    buy(db, card, 100, NOW + timedelta(hours=1))
    assert entries(card.customer_id)[-1].points == 100
    assert standing(db, card.customer_id) == ("green", None, None)


def test_programs_without_tiers_earn_as_before_and_other_programs_ladders_do_not_leak(
    db, tiered, card
):
    other = ProgramFactory(slug="plain")
    db.session.commit()
    plain = enrol(other.id)
    buy(db, card, 2000, NOW)
    buy(db, plain, 2000, NOW)
    buy(db, plain, 1000, NOW + timedelta(minutes=1))
    assert standing(db, plain.customer_id) == (None, None, None)
    lot = entries(plain.customer_id)[-1]
    assert lot.points == 1000 and "tier" not in lot.explanation
    assert lot.explanation["summary"] == "1 pt per ¥1 at Noodle Bar (dining)"
    assert tier_events(db, plain.customer_id) == []
    assert standing(db, card.customer_id)[0] == "gold"
    assert_reconciled()


def test_a_tier_gated_campaign_reaches_customers_once_they_hold_the_tier(db, tiered, card, launch):
    from workers.jobs import process_transactions

    launch(audience={"tiers": ["gold"]})  # 3× at every merchant, for Gold only
    green = enrol(tiered.id)
    now = datetime.now(UTC)
    first = store(tiered.id, card.token, "g-1", amount_minor=1000, occurred_at=now)
    process_transactions([first])  # reaches Gold with this purchase: earned as Green
    gold_buy = store(tiered.id, card.token, "g-2", amount_minor=1000, occurred_at=now)
    green_buy = store(tiered.id, green.token, "n-1", amount_minor=1000, occurred_at=now)
    process_transactions([gold_buy, green_buy])
    gold_lots = [(e.kind, e.points) for e in entries(card.customer_id)]
    # Base ¥1,000 × 1.25 = 1,250; the 3× campaign adds 2 × that base = 2,500.
    assert gold_lots == [("earn", 1000), ("earn", 1250), ("bonus", 2500)]
    assert [(e.kind, e.points) for e in entries(green.customer_id)] == [("earn", 1000)]
    assert_reconciled()
