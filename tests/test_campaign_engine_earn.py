"""The engine's shortcuts give what the plain computation gives: `RuleSet.earn` (simulations)
grants and charges exactly what `evaluate` does, and `matching` keeps exactly the campaigns
whose every condition holds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.earning.compiled import Campaign, Purchase, Shopper
from campaigns.earning.engine import CapState, RuleSet

TOKYO = ZoneInfo("Asia/Tokyo")
START = datetime(2026, 3, 1, tzinfo=UTC)
PLACES = [("5812", "dining", "m-1"), ("5411", "groceries", "m-2"), ("5999", None, None)]


def campaign(cid: int, **definition: Any) -> Campaign:
    return Campaign.compile(
        cid, 1, {"name": f"C{cid}", "starts_at": START.isoformat(), **definition}
    )


CAMPAIGNS = [
    campaign(
        1,
        priority=90,
        stackable=False,
        effect={"type": "multiplier", "value": "3"},
        conditions={"categories": ["dining"]},
        caps={
            "per_customer": [{"period": "week", "points": 1500}],
            "qualifying_spend": {"period": "month", "amount_minor": 5000},
        },
    ),
    campaign(
        2,
        priority=50,
        stackable=False,
        effect={"type": "fixed_bonus", "value": "25"},
        conditions={"weekdays": [6, 7]},
    ),
    campaign(
        3,
        effect={"type": "percent_of_spend", "value": "3"},
        conditions={"mccs": ["5411-5499"]},
        audience={"tiers": ["gold"]},
        caps={"per_transaction": 40, "per_customer": [{"period": "day", "points": 100}]},
    ),
    campaign(
        4,
        effect={"type": "points_per_unit", "value": "0.5"},
        conditions={"time_of_day": {"from": "18:00", "to": "02:00"}},
    ),
    campaign(
        5,
        effect={"type": "multiplier", "value": "1.5"},
        conditions={"amount_min_minor": 500, "channels": ["online"]},
        caps={"qualifying_spend": {"period": "week", "amount_minor": 8000}},
    ),
    campaign(
        6,
        effect={"type": "fixed_bonus", "value": "10"},
        ends_at=(START + timedelta(days=10)).isoformat(),
        audience={"min_age": 18},
    ),
]
SHOPPERS = {
    n: Shopper(customer_id=n, tier="gold" if n % 2 else None, birth_date=date(2007, 3, n + 1))
    for n in range(1, 5)
}

purchases = st.lists(
    st.tuples(
        st.integers(1, 4),  # customer
        st.integers(1, 20_000),  # amount
        st.integers(0, 300),  # base points
        st.sampled_from(PLACES),
        st.sampled_from(["online", "in_store", None]),
        st.integers(0, 20 * 24 * 60),  # minutes after START
    ),
    max_size=60,
)


def fresh_state() -> CapState:
    # Budgets small enough to run out within a few dozen purchases, part-way through a grant.
    return CapState(
        budget_left={1: 1500, 2: 200, 3: 150, 4: None}, participants_left={5: 2, 6: None}
    )


def purchase(n: int, row: tuple[Any, ...]) -> Purchase:
    _, amount, base, (mcc, category, merchant), channel, minutes = row
    at = START + timedelta(minutes=minutes)
    return Purchase(n, amount, "JPY", mcc, category, merchant, None, None, channel, at, base)


@settings(max_examples=200, deadline=None)
@given(rows=purchases, target=st.integers(1, 6))
def test_earn_grants_and_charges_what_evaluate_does(rows, target):
    rules = RuleSet(CAMPAIGNS, TOKYO)
    by_bonus, by_earn = fresh_state(), fresh_state()
    for n, row in enumerate(rows):
        p, s = purchase(n, row), SHOPPERS[row[0]]
        bonuses = rules.evaluate(p, s, by_bonus)
        mine = sum(b.points for b in bonuses if b.campaign_id == target)
        others = sum(b.points for b in bonuses if b.campaign_id != target)
        assert rules.earn(p, s, by_earn, target) == (mine, others)
        assert by_earn == by_bonus
        for b in bonuses:
            # What a refund works out again from the version.
            assert b.charges == b.campaign.charges(
                b.points, b.qualifying_minor, p.occurred_at, TOKYO
            )


@settings(max_examples=200, deadline=None)
@given(rows=purchases)
def test_matching_keeps_the_campaigns_whose_every_condition_holds(rows):
    rules = RuleSet(CAMPAIGNS, TOKYO)
    for n, row in enumerate(rows):
        p, s = purchase(n, row), SHOPPERS[row[0]]
        expected = [c for c in rules.candidates(p) if c.applies(p, s, TOKYO)]
        assert rules.matching(p, s) == expected


def test_every_limit_that_lowers_a_grant_is_listed_in_order():
    c = campaign(
        1,
        effect={"type": "multiplier", "value": "3"},
        caps={
            "qualifying_spend": {"period": "month", "amount_minor": 500},
            "per_transaction": 800,
            "per_customer": [{"period": "week", "points": 600}],
        },
    )
    p = purchase(1, (7, 1000, 1000, PLACES[0], None, 6 * 24 * 60))  # Saturday 7 March
    state = CapState(budget_left={1: 500})
    (bonus,) = RuleSet([c], TOKYO).evaluate(p, Shopper(customer_id=7), state)
    assert (bonus.points, bonus.qualifying_minor) == (500, 500)
    assert bonus.limits == (
        "first 500 JPY per month",
        "capped at 800 pts per purchase",
        "capped at 600 pts/week",
        "budget reached",
    )
    assert bonus.explanation()["limits"] == list(bonus.limits)
    assert bonus.charges == (("w:2026-W10", 500, 0), ("m:2026-03", 0, 500))
    assert state.exhausted == {1} and state.budget_left == {1: 0}
