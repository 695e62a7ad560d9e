"""The campaign engine as pure functions: conditions, effects, caps, stacking, budgets."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from campaigns.earning.compiled import Campaign, Purchase, Shopper, period_key
from campaigns.earning.engine import CapState, RuleSet

TOKYO = ZoneInfo("Asia/Tokyo")
START = datetime(2026, 1, 1, tzinfo=UTC)
# A Saturday, 12:30 in Tokyo.
SATURDAY_NOON = datetime(2026, 3, 7, 3, 30, tzinfo=UTC)


def campaign(cid: int = 1, **changes) -> Campaign:
    definition = {
        "name": changes.pop("name", f"Campaign {cid}"),
        "starts_at": START.isoformat(),
        "effect": changes.pop("effect", {"type": "multiplier", "value": "3"}),
        **changes,
    }
    return Campaign.compile(cid, changes.pop("version", 1), definition)


def purchase(**changes) -> Purchase:
    base = Purchase(
        id=1,
        amount_minor=1000,
        currency="JPY",
        mcc="5812",
        category="dining",
        merchant_id="m-1",
        merchant_name="Noodle Bar",
        partner=None,
        channel="in_store",
        occurred_at=SATURDAY_NOON,
        base_points=1000,
    )
    return replace(base, **changes)


SHOPPER = Shopper(customer_id=7, birth_date=date(2006, 5, 1))


def grant(campaigns, p=None, s=SHOPPER, state=None, zone=TOKYO):
    return RuleSet(campaigns, zone).evaluate(p or purchase(), s, state or CapState())


@pytest.mark.parametrize(
    ("conditions", "p", "expected"),
    [
        ({"categories": ["dining"]}, {}, True),
        ({"categories": ["groceries"]}, {}, False),
        ({"mccs": ["5811-5814"]}, {}, True),
        ({"mccs": ["5411"]}, {}, False),
        ({"merchant_ids": ["m-1"]}, {}, True),
        ({"merchant_ids": ["m-2"]}, {}, False),
        ({"partners": ["noodle"]}, {"partner": "noodle"}, True),
        ({"partners": ["noodle"]}, {}, False),
        ({"amount_min_minor": 1000}, {}, True),
        ({"amount_min_minor": 1001}, {}, False),
        ({"amount_max_minor": 999}, {}, False),
        ({"channels": ["online"]}, {}, False),
        ({"channels": ["in_store"]}, {}, True),
        ({"weekdays": [6, 7]}, {}, True),  # Saturday in Tokyo
        ({"weekdays": [1, 2, 3, 4, 5]}, {}, False),
        ({"time_of_day": {"from": "11:00", "to": "14:00"}}, {}, True),
        ({"time_of_day": {"from": "18:00", "to": "02:00"}}, {}, False),
        ({"time_of_day": {"from": "22:00", "to": "13:00"}}, {}, True),  # wraps midnight
    ],
)
def test_each_condition(conditions, p, expected):
    bonuses = grant([campaign(conditions=conditions)], purchase(**p))
    assert bool(bonuses) is expected


def test_first_purchase_at_merchant():
    c = campaign(conditions={"first_purchase_at_merchant": True})
    assert grant([c])
    assert not grant([c], s=replace(SHOPPER, known_merchants=frozenset({"m-1"})))


@pytest.mark.parametrize(
    ("audience", "shopper", "expected"),
    [
        ({"min_age": 18}, {}, True),  # 19 in March 2026
        ({"min_age": 20}, {}, False),
        ({"max_age": 18}, {}, False),
        ({"tiers": ["gold"]}, {"tier": "gold"}, True),
        ({"tiers": ["gold"]}, {}, False),
        ({"segment_id": 4}, {"segments": frozenset({4})}, True),
        ({"segment_id": 4}, {}, False),
    ],
)
def test_audience(audience, shopper, expected):
    assert bool(grant([campaign(audience=audience)], s=replace(SHOPPER, **shopper))) is expected


def test_window_start_and_end():
    c = campaign(ends_at=(SATURDAY_NOON + timedelta(seconds=1)).isoformat())
    assert grant([c])
    assert not grant([c], purchase(occurred_at=SATURDAY_NOON + timedelta(seconds=1)))
    assert not grant([c], purchase(occurred_at=START - timedelta(seconds=1)))


@pytest.mark.parametrize(
    ("effect", "points"),
    [
        ({"type": "multiplier", "value": "3"}, 2000),  # 3× total = base + 2× bonus
        ({"type": "multiplier", "value": "1.5"}, 500),
        ({"type": "fixed_bonus", "value": "50"}, 50),
        ({"type": "points_per_unit", "value": "2"}, 2000),
        ({"type": "percent_of_spend", "value": "5"}, 50),
    ],
)
def test_each_effect(effect, points):
    (bonus,) = grant([campaign(effect=effect)])
    assert bonus.points == points


def test_per_transaction_cap_and_explanation():
    (bonus,) = grant([campaign(name="Weekend Eats", caps={"per_transaction": 500})])
    assert bonus.points == 500
    assert bonus.explanation()["summary"] == (
        "3× on every purchase — Weekend Eats (capped at 500 pts per purchase)"
    )
    assert (bonus.explanation()["campaign_id"], bonus.explanation()["campaign_version"]) == (1, 1)


def test_per_customer_weekly_cap_spans_purchases():
    c = campaign(caps={"per_customer": [{"period": "week", "points": 3000}]})
    state = CapState()
    first = grant([c], state=state)[0].points
    second = grant([c], state=state)[0].points
    assert (first, second) == (2000, 1000)
    assert grant([c], state=state) == []
    # Next week (Tokyo time) the cap starts over.
    later = purchase(occurred_at=SATURDAY_NOON + timedelta(days=7))
    assert grant([c], later, state=state)[0].points == 2000


def test_daily_cap_resets_at_local_midnight_across_dst():
    berlin = ZoneInfo("Europe/Berlin")
    # 2026-03-29: clocks go forward at 02:00 local. 21:59 UTC on the 29th is 23:59 local,
    # 22:00 UTC is 00:00 local on the 30th.
    before = datetime(2026, 3, 29, 21, 59, tzinfo=UTC)
    after = datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert period_key("day", before, berlin) == "d:2026-03-29"
    assert period_key("day", after, berlin) == "d:2026-03-30"
    c = campaign(caps={"per_customer": [{"period": "day", "points": 2000}]})
    state = CapState()
    assert grant([c], purchase(occurred_at=before), state=state, zone=berlin)[0].points == 2000
    assert grant([c], purchase(occurred_at=after), state=state, zone=berlin)[0].points == 2000


def test_qualifying_spend_cap_then_base_rate():
    """5× on the first ¥1,500 of dining each quarter, base rate after."""
    c = campaign(
        effect={"type": "multiplier", "value": "5"},
        conditions={"categories": ["dining"]},
        caps={"qualifying_spend": {"period": "quarter", "amount_minor": 1500}},
    )
    state = CapState()
    first = grant([c], purchase(amount_minor=1000, base_points=1000), state=state)[0]
    second = grant([c], purchase(amount_minor=1000, base_points=1000), state=state)[0]
    assert first.points == 4000  # all ¥1,000 qualifies
    assert second.points == 2000  # only ¥500 of it: 500 × (5 - 1)
    assert grant([c], purchase(amount_minor=1000, base_points=1000), state=state) == []
    next_quarter = purchase(occurred_at=datetime(2026, 4, 1, 0, 0, tzinfo=UTC))
    assert grant([c], next_quarter, state=state)[0].points == 4000


def test_budget_is_never_exceeded_and_exhaustion_is_reported():
    c = campaign(effect={"type": "fixed_bonus", "value": "300"})
    state = CapState(budget_left={1: 700})
    points = [sum(b.points for b in grant([c], state=state)) for _ in range(4)]
    assert points == [300, 300, 100, 0]
    assert state.exhausted == {1}


def test_max_participants():
    c = campaign(effect={"type": "fixed_bonus", "value": "10"})
    state = CapState(participants_left={1: 1})
    assert grant([c], state=state)
    assert grant([c], state=state)  # the same customer keeps earning
    assert not grant([c], s=replace(SHOPPER, customer_id=8), state=state)


def test_stacking_best_exclusive_plus_every_stackable():
    low = campaign(1, priority=10, stackable=False, effect={"type": "fixed_bonus", "value": "1"})
    high = campaign(2, priority=90, stackable=False, effect={"type": "fixed_bonus", "value": "2"})
    extra = campaign(3, stackable=True, effect={"type": "fixed_bonus", "value": "4"})
    also = campaign(4, stackable=True, effect={"type": "fixed_bonus", "value": "8"})
    bonuses = grant([low, high, extra, also])
    assert sorted(b.campaign_id for b in bonuses) == [2, 3, 4]
    assert sum(b.points for b in bonuses) == 14


def test_activation_only_counts_purchases_after_it():
    c = campaign(requires_activation=True, effect={"type": "fixed_bonus", "value": "5"})
    assert not grant([c])
    activated = replace(SHOPPER, activations={1: SATURDAY_NOON - timedelta(minutes=1)})
    assert grant([c], s=activated)
    too_late = replace(SHOPPER, activations={1: SATURDAY_NOON + timedelta(minutes=1)})
    assert not grant([c], s=too_late)


def test_index_only_offers_campaigns_that_could_apply():
    targeted = [campaign(i, conditions={"mccs": [f"{5000 + i:04d}"]}) for i in range(1, 1001)]
    rules = RuleSet([*targeted, campaign(5000)], TOKYO)
    found = rules.candidates(purchase(mcc="5812"))
    assert sorted(c.id for c in found) == [812, 5000]
