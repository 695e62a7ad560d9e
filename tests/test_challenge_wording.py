"""Plain-words descriptions of challenges, with money in the currency's own decimals."""

from __future__ import annotations

import pytest

from campaigns.challenges.wording import Wording, describe, money

WEEK = {"type": "recurring", "period": "week", "starts_at": "2026-03-02T00:00:00Z"}
MONTH = {"type": "recurring", "period": "month", "starts_at": "2026-03-01T00:00:00Z"}
FIXED = {"type": "fixed", "starts_at": "2026-03-01T00:00:00Z", "ends_at": None}


def definition(goal: dict, window: dict) -> dict:
    return {"goal": goal, "window": window}


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (5000, "JPY", "¥5,000"),
        (1250, "EUR", "€12.50"),
        (5000, "EUR", "€50"),
        (123456789, "USD", "$1,234,567.89"),
        (990, "CHF", "CHF 9.90"),
        (1500, "KWD", "KWD 1.500"),  # three decimals
        (5, "GBP", "£0.05"),
    ],
)
def test_money_in_major_units(minor, currency, text):
    assert money(minor, currency) == text


def test_descriptions_of_every_goal_type():
    coffee = Wording(noun="coffee", plural="coffees")
    dining = Wording(where="on dining")
    count = {"type": "count", "target": 3}
    assert describe(definition(count, WEEK), currency="EUR", wording=coffee) == (
        "Buy 3 coffees this week"
    )
    assert describe(definition(count, FIXED), currency="EUR") == "Make 3 purchases"
    spend = {"type": "spend", "target": 5000}
    assert describe(definition(spend, MONTH), currency="JPY", wording=dining) == (
        "Spend ¥5,000 on dining this month"
    )
    assert describe(definition(spend, MONTH), currency="EUR", wording=dining) == (
        "Spend €50 on dining this month"
    )
    merchants = {"type": "distinct_merchants", "target": 5}
    assert describe(definition(merchants, MONTH), currency="EUR") == (
        "Shop at 5 different shops this month"
    )
    categories = {"type": "distinct_categories", "target": 3}
    assert describe(definition(categories, MONTH), currency="EUR") == (
        "Shop in 3 different categories this month"
    )
    streak = {"type": "streak", "target": 7, "unit": "days"}
    assert describe(definition(streak, FIXED), currency="EUR") == "Keep a 7-day streak"
    assert describe(definition(streak, MONTH), currency="EUR", wording=coffee) == (
        "Keep a 7-day coffee streak this month"
    )
    weeks = {"type": "streak", "target": 4, "unit": "weeks"}
    assert describe(definition(weeks, FIXED), currency="EUR") == "Keep a 4-week streak"
    one = {"type": "count", "target": 1}
    assert describe(definition(one, WEEK), currency="EUR", wording=coffee) == (
        "Buy 1 coffee this week"
    )
