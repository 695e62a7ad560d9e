"""Goal types measured from contributions, and refunds that take back exactly what a purchase
added; expected values are counted by hand or by a plain list-based model."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.challenges.goals import Contribution, Goal, Tally, joined_in_time

TODAY = date(2026, 3, 31)


def buy(tx: int, minor: int, merchant: str | None, category: str | None, day: int = 2):
    return Contribution(tx, minor, date(2026, 3, day), merchant_id=merchant, category=category)


PURCHASES = [
    buy(1, 450, "cafe-1", "dining"),
    buy(2, 380, "cafe-1", "dining"),
    buy(3, 1999, "books-7", "education"),
    buy(4, 5000, None, "shopping"),  # the processor sent no merchant id
    buy(5, 1200, "bus", None),  # no category derived
]


def value(kind: str, tally: Tally) -> int:
    return tally.value(Goal(kind, 1), TODAY)


def test_each_goal_type_counts_what_it_says():
    tally = Tally.of(PURCHASES)
    assert value("count", tally) == 5
    assert value("spend", tally) == 450 + 380 + 1999 + 5000 + 1200
    assert value("distinct_merchants", tally) == 3  # cafe-1, books-7, bus
    assert value("distinct_categories", tally) == 3  # dining, education, shopping


def test_a_merchant_bought_from_twice_still_counts_after_one_refund():
    tally = Tally.of(PURCHASES)
    tally.remove(PURCHASES[0])
    assert value("distinct_merchants", tally) == 3
    assert value("count", tally) == 4
    tally.remove(PURCHASES[1])
    assert value("distinct_merchants", tally) == 2
    assert value("distinct_categories", tally) == 2  # no dining left


def test_a_partial_refund_reduces_spend_and_keeps_the_purchase():
    tally = Tally.of(PURCHASES)
    rest = tally.refund(PURCHASES[2], 999)
    assert rest == buy(3, 1000, "books-7", "education")
    assert value("spend", tally) == 450 + 380 + 1000 + 5000 + 1200
    assert value("count", tally) == 5
    assert tally.refund(rest, 1000) is None  # the rest refunded: no longer a purchase
    assert value("count", tally) == 4
    assert value("distinct_categories", tally) == 2


def test_taking_back_what_was_never_added_is_refused_and_changes_nothing():
    tally = Tally.of(PURCHASES[:2])
    before = Tally.of(PURCHASES[:2])
    with pytest.raises(ValueError):
        tally.remove(PURCHASES[2])
    with pytest.raises(ValueError):
        tally.refund(PURCHASES[0], 451)
    assert tally == before


def test_only_purchases_after_joining_count_for_an_opt_in_challenge():
    joined = datetime(2026, 3, 10, 9, tzinfo=UTC)
    assert joined_in_time("automatic", None, datetime(2026, 3, 1, tzinfo=UTC))
    assert not joined_in_time("opt_in", None, datetime(2026, 3, 11, tzinfo=UTC))
    assert not joined_in_time("opt_in", joined, datetime(2026, 3, 10, 8, 59, tzinfo=UTC))
    assert joined_in_time("opt_in", joined, joined)


CONTRIBUTIONS = st.builds(
    Contribution,
    transaction_id=st.integers(1, 10**6),
    amount_minor=st.integers(1, 10**7),
    local_day=st.dates(date(2026, 3, 1), date(2026, 3, 31)),
    merchant_id=st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"])),
    category=st.one_of(st.none(), st.sampled_from(["dining", "travel", "health"])),
)
KINDS = ["count", "spend", "distinct_merchants", "distinct_categories"]


def plain(contributions: list[Contribution]) -> dict[str, int]:
    """The goal values of a list, computed the obvious way."""
    return {
        "count": len(contributions),
        "spend": sum(c.amount_minor for c in contributions),
        "distinct_merchants": len({c.merchant_id for c in contributions} - {None}),
        "distinct_categories": len({c.category for c in contributions} - {None}),
    }


@settings(max_examples=300, deadline=None)
@given(
    base=st.lists(CONTRIBUTIONS, max_size=20),
    extra=st.lists(CONTRIBUTIONS, min_size=1, max_size=10),
    data=st.data(),
)
def test_adding_then_removing_returns_exactly_to_the_previous_state(base, extra, data):
    tally = Tally.of(base)
    before = Tally.of(base)
    streak = Goal("streak", 1, "days")
    for c in extra:
        tally.add(c)
    assert {k: value(k, tally) for k in KINDS} == plain(base + extra)
    for c in data.draw(st.permutations(extra)):  # taken back in any order
        tally.remove(c)
    assert tally == before
    assert {k: value(k, tally) for k in KINDS} == plain(base)
    assert tally.value(streak, TODAY) == before.value(streak, TODAY)
