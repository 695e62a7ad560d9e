"""Tier rules: upgrade at once, downgrade only at review, a year after the upgrade.

Expectations are written out by hand, or checked as properties over random earning histories
against the rules as stated (README), not against the code's own formulas."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards.tiers.ladder import (
    Ladder,
    Standing,
    Tier,
    one_year_after,
    outlook,
    reassess,
)

LADDER = Ladder(
    [
        Tier("black", "Black", 20_000, Fraction(3, 2)),
        Tier("green", "Green", 0, Fraction(1)),
        Tier("gold", "Gold", 5_000, Fraction(5, 4)),
    ]
)
GREEN = Standing("green", None)


def test_a_threshold_reached_upgrades_the_same_day_with_a_review_a_year_later():
    day = date(2026, 3, 10)
    assert reassess(LADDER, GREEN, 4_999, day) == GREEN
    assert reassess(LADDER, GREEN, 5_000, day) == Standing("gold", date(2027, 3, 10))
    # several steps at once
    assert reassess(LADDER, GREEN, 25_000, day) == Standing("black", date(2027, 3, 10))


def test_a_second_upgrade_moves_the_review_a_year_from_that_day():
    gold = Standing("gold", date(2027, 3, 10))
    assert reassess(LADDER, gold, 20_000, date(2026, 9, 1)) == Standing("black", date(2027, 9, 1))


def test_no_downgrade_before_the_review_date_however_little_is_earned():
    gold = Standing("gold", date(2027, 3, 10))
    for day in (date(2026, 4, 1), date(2026, 12, 31), date(2027, 3, 9)):
        assert reassess(LADDER, gold, 0, day) == gold


def test_at_review_the_last_twelve_months_decide():
    gold = Standing("gold", date(2027, 3, 10))
    assert reassess(LADDER, gold, 6_000, date(2027, 3, 10)) == Standing("gold", date(2028, 3, 10))
    assert reassess(LADDER, gold, 4_000, date(2027, 3, 10)) == GREEN
    black = Standing("black", date(2027, 3, 10))
    # reviewed a few days late (the job ran late): the next review keeps the yearly rhythm
    assert reassess(LADDER, black, 7_000, date(2027, 3, 12)) == Standing("gold", date(2028, 3, 10))


def test_leap_day_reviews_fall_on_the_28th():
    assert one_year_after(date(2028, 2, 29)) == date(2029, 2, 28)
    assert reassess(LADDER, GREEN, 5_000, date(2028, 2, 29)) == Standing("gold", date(2029, 2, 28))


def test_outlook_says_what_is_needed_for_the_next_tier_and_to_keep_this_one():
    gold = Standing("gold", date(2027, 3, 10))
    seen = outlook(LADDER, gold, rolling_points=8_000, points_toward_review=3_500)
    assert (seen.next_tier, seen.to_next_tier) == ("black", 12_000)
    assert (seen.keep_by, seen.to_keep) == (date(2027, 3, 10), 1_500)
    top = outlook(LADDER, Standing("black", date(2027, 1, 1)), 30_000, 30_000)
    assert (top.next_tier, top.to_next_tier, top.to_keep) == (None, None, 0)
    base = outlook(LADDER, GREEN, 100, 100)
    assert (base.next_tier, base.to_next_tier, base.keep_by, base.to_keep) == (
        "gold",
        4_900,
        None,
        None,
    )


def test_a_ladder_must_start_at_zero_with_distinct_tiers():
    with pytest.raises(ValueError):
        Ladder([Tier("gold", "Gold", 10, Fraction(1))])
    with pytest.raises(ValueError):
        Ladder([Tier("a", "A", 0, Fraction(1)), Tier("b", "B", 0, Fraction(2))])
    with pytest.raises(ValueError):
        Ladder([Tier("a", "A", 0, Fraction(1, 2))])


RANK = {"green": 0, "gold": 1, "black": 2}
THRESHOLD = {"green": 0, "gold": 5_000, "black": 20_000}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 60), st.integers(0, 30_000)),  # (days later, rolling points)
        min_size=1,
        max_size=40,
    )
)
def test_over_any_history_the_rules_hold(steps):
    day = date(2026, 1, 1)
    standing = GREEN
    last_move: date | None = None  # the day of the last upgrade or review
    for gap, points in steps:
        day += timedelta(days=gap)
        before = standing
        standing = reassess(LADDER, standing, points, day)
        earned = max((t for t in THRESHOLD if points >= THRESHOLD[t]), key=RANK.__getitem__)
        if RANK[earned] > RANK[before.tier]:
            assert standing.tier == earned  # upgraded at once, all the way
            last_move = day
        elif before.review_on is not None and day >= before.review_on:
            assert standing.tier == earned  # the review: what the year earned
            last_move = before.review_on
        else:
            assert standing == before  # never mid-year
        if standing.tier == "green":
            assert standing.review_on is None
        else:
            assert last_move is not None
            assert standing.review_on == one_year_after(last_move)
