"""Campaign awards are exact: the engine's points equal a plain Fraction model of the campaign
definition, worked out here by hand, over random amounts, rates and caps (Hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from math import floor
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from campaigns.earning.compiled import Campaign, Purchase, Shopper
from campaigns.earning.engine import CapState, RuleSet
from tests.ledger_helpers import enrol, entries, store
from workers.jobs import process_transactions

MINOR_DIGITS = {"JPY": 0, "USD": 2, "EUR": 2, "KWD": 3, "BHD": 3, "CLP": 0}
EFFECTS = ("multiplier", "fixed_bonus", "points_per_unit", "percent_of_spend")
TOKYO = ZoneInfo("Asia/Tokyo")
NOON = datetime(2026, 3, 7, 3, 30, tzinfo=UTC)  # all purchases fall on one Tokyo day


@dataclass(frozen=True)
class Case:
    effect: str
    value: str  # as the marketer typed it: at most 4 decimals
    currency: str
    base_rate: str  # program points per major unit
    spend_cap: int | None  # qualifying spend per day, minor units
    per_transaction: int | None
    per_day: int | None  # points per customer per day
    budget: int | None
    amounts: tuple[int, ...]  # one customer's purchases that day, in order


def expected_bonuses(case: Case) -> list[int]:
    """The definition applied by hand, in exact fractions, one floor per purchase at the end."""
    scale = 10 ** MINOR_DIGITS[case.currency]
    value = Fraction(case.value)
    spend_used = points_used = 0
    budget_left = case.budget
    found = []
    for amount in case.amounts:
        base = floor(Fraction(amount, scale) * Fraction(case.base_rate))
        qualifying = amount
        if case.spend_cap is not None:
            qualifying = max(0, min(amount, case.spend_cap - spend_used))
        points = floor(_effect(case, value, base, qualifying, amount))
        if case.per_transaction is not None:
            points = min(points, case.per_transaction)
        if case.per_day is not None:
            points = min(points, case.per_day - points_used)
        if budget_left is not None:
            points = min(points, budget_left)
        points = max(0, points)
        if points:  # nothing granted, nothing charged
            spend_used += qualifying
            points_used += points
            if budget_left is not None:
                budget_left -= points
        found.append(points)
    return found


def _effect(case: Case, value: Fraction, base: int, qualifying: int, amount: int) -> Fraction:
    """The effect on the qualifying part of `amount`, exactly, before caps."""
    scale = 10 ** MINOR_DIGITS[case.currency]
    if qualifying == 0:
        return Fraction(0)
    if case.effect == "multiplier":
        # the bonus on top of the base, for the qualifying share of the amount only
        return base * Fraction(qualifying, amount) * (value - 1)
    if case.effect == "fixed_bonus":
        return value
    if case.effect == "points_per_unit":
        return Fraction(qualifying, scale) * value
    return Fraction(qualifying, scale) * value / 100


def engine_bonuses(case: Case) -> list[int]:
    caps: dict = {}
    if case.spend_cap is not None:
        caps["qualifying_spend"] = {"period": "day", "amount_minor": case.spend_cap}
    if case.per_transaction is not None:
        caps["per_transaction"] = case.per_transaction
    if case.per_day is not None:
        caps["per_customer"] = [{"period": "day", "points": case.per_day}]
    definition = {
        "name": "C",
        "starts_at": "2026-01-01T00:00:00+00:00",
        "effect": {"type": case.effect, "value": case.value},
        "caps": caps,
        "budget_points": case.budget,
    }
    rules = RuleSet([Campaign.compile(1, 1, definition)], TOKYO)
    state = CapState(budget_left={1: case.budget})
    scale = 10 ** MINOR_DIGITS[case.currency]
    found = []
    for n, amount in enumerate(case.amounts):
        base = floor(Fraction(amount, scale) * Fraction(case.base_rate))
        purchase = Purchase(
            id=n + 1,
            amount_minor=amount,
            currency=case.currency,
            mcc="5812",
            category="dining",
            merchant_id="m-1",
            merchant_name="Noodle Bar",
            partner=None,
            channel="in_store",
            occurred_at=NOON + timedelta(minutes=n),
            base_points=base,
        )
        bonuses = rules.evaluate(purchase, Shopper(customer_id=7), state)
        found.append(sum(b.points for b in bonuses))
    return found


def effect_values(effect: str) -> st.SearchStrategy[str]:
    """Values the definition accepts, as a marketer types them: > 0 (> 1 for a multiplier),
    at most 4 decimals ("1.0625", "3", "12.5")."""
    high = {"multiplier": 100, "fixed_bonus": 1000, "points_per_unit": 10_000}.get(effect, 100)
    low = 10_001 if effect == "multiplier" else 1
    typed = st.integers(low, high * 10_000).map(lambda n: f"{Decimal(n).scaleb(-4).normalize():f}")
    # Round values are what marketers type most, and where a rounded share shows (3 × 5/14).
    common = st.sampled_from(["1.5", "2", "3", "5", "10"] if effect == "multiplier" else ["1", "2"])
    return st.one_of(common, typed)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    # Weighted towards what a program most often is (whole yen, 1 point per unit, multipliers)
    # and towards spend caps that cut a purchase: where an inexact share shows.
    effect = draw(st.sampled_from(("multiplier", *EFFECTS)))
    magnitude = draw(st.sampled_from([100, 10_000, 10**7, 10**12]))
    amounts = draw(st.lists(st.integers(1, magnitude), min_size=1, max_size=6))
    optional = st.one_of(st.none(), st.integers(0, magnitude))
    return Case(
        effect=effect,
        value=draw(effect_values(effect)),
        currency=draw(st.sampled_from(["JPY", "JPY", *sorted(MINOR_DIGITS)])),
        base_rate=draw(st.sampled_from(["1", "1", "1", "0.5", "1.25", "2", "0.01", "3"])),
        spend_cap=draw(st.one_of(st.none(), st.integers(0, sum(amounts)))),
        per_transaction=draw(optional),
        per_day=draw(optional),
        budget=draw(optional),
        amounts=tuple(amounts),
    )


@settings(max_examples=1500, deadline=None)
@given(cases())
@example(Case("multiplier", "3", "JPY", "1", 5, None, None, None, (14,)))
def test_engine_awards_equal_an_exact_model_of_the_definition(case: Case) -> None:
    assert engine_bonuses(case) == expected_bonuses(case)


@settings(max_examples=300, deadline=None)
@given(
    amount=st.integers(2, 100_000),
    data=st.data(),
    value=st.sampled_from(["1.5", "2", "3", "4.25", "10"]),
)
def test_a_multiplier_cut_by_a_spend_cap_earns_its_exact_share(amount, data, value) -> None:
    """The defect's shape: 1 point per ¥1, the cap lets part of the amount qualify."""
    qualifying = data.draw(st.integers(1, amount - 1))
    case = Case("multiplier", value, "JPY", "1", qualifying, None, None, None, (amount,))
    assert engine_bonuses(case) == [floor(qualifying * (Fraction(value) - 1))]


def test_yen_14_of_which_5_qualify_at_3x_gives_10_bonus_points() -> None:
    # ¥14 earns 14 base points; ¥5 of it qualifies; 3× doubles that share: 5 × 2 = 10.
    case = Case("multiplier", "3", "JPY", "1", 5, None, None, None, (14,))
    assert engine_bonuses(case) == [10]


def test_the_feed_grants_10_on_yen_14_with_5_qualifying(db, program, launch) -> None:
    launch(caps={"qualifying_spend": {"period": "week", "amount_minor": 5}})
    card = enrol(program.id)
    process_transactions([store(program.id, card.token, "p-1", amount_minor=14)])
    points = {e.kind: e.points for e in entries(card.customer_id)}
    assert points == {"earn": 14, "bonus": 10}
